"""The Kafka-polling sensors against a real Kafka-protocol broker (Tansu)."""

import json

import pytest
from dagster import DagsterInstance, build_sensor_context, materialize

from gwtm_assets.assets import ligo
from gwtm_assets.definitions import LIGO_ASSETS, build_resources
from gwtm_assets.io.object_store import LocalObjectStore
from gwtm_assets.notices.ligo import parse_ligo_notice
from gwtm_assets.testing.tansu import TansuBroker
from gwtm_sensors.kafka import KafkaConsumerResource
from gwtm_sensors.sensors import build_sensors

from .conftest import ICECUBE_SAMPLES, sample


@pytest.fixture(scope="module")
def broker():
    broker = TansuBroker()
    yield broker
    broker.stop()


def _tick(sensor, instance, resources, cursor=None):
    with build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
        return sensor(context)


def test_ligo_sensor_lands_partitions_and_quarantines_garbage(broker, settings, api_server):
    topic = "igwn.gwalert.test1"
    broker.create_topic(topic)
    good = [sample("MS181101ab-preliminary").read_bytes(), sample("MS181101ab-ext-update").read_bytes()]
    broker.produce(topic, [good[0], b"not a notice", good[1]])
    resources = build_resources(settings) | {
        "kafka": KafkaConsumerResource(bootstrap_servers=broker.bootstrap, group_id="g1", offset_reset="earliest")
    }
    ligo_sensor, _ = build_sensors(True, ligo_topic=topic)
    instance = DagsterInstance.ephemeral()
    result = _tick(ligo_sensor, instance, resources)
    keys = [parse_ligo_notice(raw).partition_key for raw in good]
    assert [r.partition_key for r in result.run_requests] == keys
    assert [r.run_key for r in result.run_requests] == keys
    assert result.dynamic_partitions_requests[0].partition_keys == keys
    assert json.loads(result.cursor) == {"0": 3}
    store = LocalObjectStore(settings.local_storage_dir)
    assert store.get(f"test/incoming/{keys[1]}.json") == good[1]
    quarantined = [o.key for o in store.list("fit/quarantine/")]
    assert len(quarantined) == 2 and any(k.endswith(".reason.txt") for k in quarantined)

    # The next tick from the cursor sees nothing new.
    assert _tick(ligo_sensor, instance, resources, result.cursor).run_requests == []
    # A lost cursor resumes from the group's committed offset: nothing delivered twice.
    assert _tick(ligo_sensor, instance, resources, None).run_requests == []

    # The requested run materializes the landed notice.
    instance.add_dynamic_partitions("gw_alerts", keys[:1])
    run = materialize(
        [ligo.incoming_gw_notice, *LIGO_ASSETS],
        partition_key=keys[0],
        instance=instance,
        resources=build_resources(settings),
    )
    assert run.success
    assert len(api_server.state.posted("post_alert")) == 1


def test_icecube_sensor(broker, settings):
    topic = "icecube.test1"
    broker.create_topic(topic)
    broker.produce(topic, [p.read_bytes() for p in ICECUBE_SAMPLES])
    resources = build_resources(settings) | {
        "kafka": KafkaConsumerResource(bootstrap_servers=broker.bootstrap, group_id="g2", offset_reset="earliest")
    }
    _, icecube_sensor = build_sensors(True, icecube_topic=topic)
    result = _tick(icecube_sensor, DagsterInstance.ephemeral(), resources)
    assert sorted(r.partition_key.split("-")[0] for r in result.run_requests) == ["MS230427r", "S230914ak"]
