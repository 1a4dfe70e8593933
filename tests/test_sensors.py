"""The Kafka-polling sensors against a real Kafka-protocol broker (Tansu)."""

import json

import pytest
from dagster import DagsterInstance, build_sensor_context, materialize

from gwtm_assets.assets import LIGO_ASSETS
from gwtm_assets.devtools.tansu import TansuBroker
from gwtm_assets.io.object_store import LocalObjectStore
from gwtm_assets.notices.ligo import parse_ligo_notice
from gwtm_assets.resources.builders import build_resources
from gwtm_assets.sensors.kafka import KafkaConsumerResource
from gwtm_assets.sensors.landing import build_sensors

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
    # The landing is recorded on the source asset, so the UI shows incoming_gw_notice filled.
    assert [(e.asset_key.to_user_string(), e.partition) for e in result.asset_events] == [
        ("incoming_gw_notice", k) for k in keys
    ]
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
        LIGO_ASSETS,
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


def _tick_until(sensor, resources, offset: int, ticks: int = 10) -> tuple[list[str], dict[str, int]]:
    """Tick (a tick takes what the consumer has fetched) until the cursor reaches ``offset``; no tick may fail."""
    instance, cursor, requested = DagsterInstance.ephemeral(), None, []
    for _ in range(ticks):
        result = _tick(sensor, instance, resources, cursor)
        cursor = result.cursor
        requested += [r.partition_key for r in result.run_requests]
        if json.loads(cursor).get("0", 0) >= offset:
            break
    return requested, json.loads(cursor)


def _hostile_ligo_messages() -> list[bytes]:
    notice = json.loads(sample("MS181101ab-preliminary").read_bytes())
    bad_ids = ["S" + "1" * 10_000, "MS181101ab\x00", "../../../../x", "../etc/x", "/abs", "S230518h/../../x"]
    return [
        b"[" * 100_000 + b"]" * 100_000,  # deeper than json can parse: RecursionError
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        *[json.dumps(dict(notice, superevent_id=bad)).encode() for bad in bad_ids],
        b"\xff\xfe not utf-8",
        b"",
    ]


def test_no_message_whatever_it_holds_stops_the_topic(broker, settings):
    topic = "igwn.gwalert.hostile"
    broker.create_topic(topic)
    hostile = _hostile_ligo_messages()
    good = sample("S230518h-preliminary").read_bytes()
    broker.produce(topic, [*hostile, good])
    resources = build_resources(settings) | {
        "kafka": KafkaConsumerResource(
            bootstrap_servers=broker.bootstrap, group_id="g-hostile", offset_reset="earliest"
        )
    }
    ligo_sensor, _ = build_sensors(True, ligo_topic=topic)
    requested, cursor = _tick_until(ligo_sensor, resources, len(hostile) + 1)
    assert requested == [parse_ligo_notice(good).partition_key]
    assert cursor == {"0": len(hostile) + 1}
    store = LocalObjectStore(settings.local_storage_dir)
    reasons = [store.get(o.key).decode() for o in store.list("fit/quarantine/") if o.key.endswith(".reason.txt")]
    assert len(reasons) == len(set(hostile)), reasons
    assert sum("is not a GraceDB superevent id" in r for r in reasons) == 6
    assert any("RecursionError" in r for r in reasons)
    keys = [o.key for o in store.list("")]
    assert all(".." not in k and "\x00" not in k for k in keys)
    assert not any(k.startswith(("fit/incoming/S1111", "test/incoming/MS181101ab")) for k in keys)


def test_icecube_reference_ids_that_are_not_superevent_ids_are_quarantined(broker, settings):
    topic = "icecube.hostile"
    broker.create_topic(topic)
    valid = json.loads(ICECUBE_SAMPLES[0].read_bytes())
    bad = [json.dumps(dict(valid, ref_ID=ref)).encode() for ref in ("../../x", "x/y", "S230518h\x00")]
    broker.produce(topic, [*bad, ICECUBE_SAMPLES[0].read_bytes()])
    resources = build_resources(settings) | {
        "kafka": KafkaConsumerResource(
            bootstrap_servers=broker.bootstrap, group_id="g-ic-hostile", offset_reset="earliest"
        )
    }
    _, icecube_sensor = build_sensors(True, icecube_topic=topic)
    requested, cursor = _tick_until(icecube_sensor, resources, 4)
    assert len(requested) == 1 and cursor == {"0": 4}
    store = LocalObjectStore(settings.local_storage_dir)
    assert len([o for o in store.list("fit/quarantine/") if o.key.endswith(".reason.txt")]) == 3
    assert all(".." not in o.key for o in store.list(""))


def test_latest_offset_reset_reads_a_notice_published_between_idle_ticks(broker, settings):
    topic = "igwn.gwalert.latest"
    broker.create_topic(topic)
    broker.produce(topic, [sample("MS181101ab-preliminary").read_bytes()])  # before the sensor: not read
    kafka = KafkaConsumerResource(bootstrap_servers=broker.bootstrap, group_id="g-latest", offset_reset="latest")
    resources = build_resources(settings) | {"kafka": kafka}
    ligo_sensor, _ = build_sensors(True, ligo_topic=topic)
    instance = DagsterInstance.ephemeral()
    idle = _tick(ligo_sensor, instance, resources)
    assert idle.run_requests == [] and json.loads(idle.cursor) == {"0": 1}
    late = sample("S230518h-preliminary").read_bytes()
    broker.produce(topic, [late])
    # Even with the cursor lost, the start fixed by the first tick was committed for the group.
    result = _tick(ligo_sensor, instance, resources, None)
    assert [r.partition_key for r in result.run_requests] == [parse_ligo_notice(late).partition_key]


def test_an_oversized_message_is_quarantined_as_a_reason_and_the_topic_goes_on(broker, settings):
    from confluent_kafka import Producer

    topic = "igwn.gwalert.oversized"
    broker.create_topic(topic)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "message.max.bytes": 30_000_000})
    producer.produce(topic, b"x" * 21_000_000)
    producer.produce(topic, sample("S230518h-preliminary").read_bytes())
    assert producer.flush(60) == 0
    kafka = KafkaConsumerResource(bootstrap_servers=broker.bootstrap, group_id="g-big", offset_reset="earliest")
    resources = build_resources(settings) | {"kafka": kafka}
    ligo_sensor, _ = build_sensors(True, ligo_topic=topic)
    requested, cursor = _tick_until(ligo_sensor, resources, 2)
    assert len(requested) == 1 and cursor == {"0": 2}
    store = LocalObjectStore(settings.local_storage_dir)
    [reason] = [store.get(o.key).decode() for o in store.list("fit/quarantine/oversized-")]
    assert f"{topic}[0]@0: 21,000,000 bytes, over the 8,000,000-byte limit" in reason


def test_idle_ticks_keep_one_consumer_instead_of_connecting_every_tick(broker, settings):
    topic = "igwn.gwalert.idle"
    broker.create_topic(topic)
    kafka = KafkaConsumerResource(bootstrap_servers=broker.bootstrap, group_id="g-idle", offset_reset="latest")
    resources = build_resources(settings) | {"kafka": kafka}
    ligo_sensor, _ = build_sensors(True, ligo_topic=topic)
    instance = DagsterInstance.ephemeral()
    purpose = f"incoming_gw_notice:{topic}"
    ticks = 3
    cursor = None

    def idle_ticks(count: int, reconnect_each_tick: bool) -> None:
        nonlocal cursor
        for _ in range(count):
            result = _tick(ligo_sensor, instance, resources, cursor)
            assert result.run_requests == []
            cursor = result.cursor
            if reconnect_each_tick:  # what every tick did before: a consumer of its own, closed at the end
                kafka.discard_consumer(purpose)

    per_tick = broker.connections_during(lambda: idle_ticks(ticks, True))
    # A new consumer opens its connections (bootstrap, partition leader, group coordinator) while it joins the group,
    # over its first ticks; kept, it opens none after: how many it opens at first is librdkafka's business.
    first = broker.connection_ports_during(lambda: idle_ticks(2, False))
    later = broker.connection_ports_during(lambda: idle_ticks(ticks, False))
    print(
        f"broker connections during {ticks} idle ticks: {per_tick} with a consumer per tick; kept: {len(first)} "
        f"in its first 2 ticks, {len(later - first)} new in {ticks} more"
    )
    assert per_tick >= 2 * ticks
    assert first and later - first == set()
    # The kept consumer still reads what arrives, from the cursor.
    broker.produce(topic, [sample("MS181101ab-preliminary").read_bytes()])
    cursor = None
    for _ in range(2):
        result = _tick(ligo_sensor, instance, resources, cursor)
        cursor = result.cursor
        if result.run_requests:
            break
    assert len(result.run_requests) == 1
    kafka.discard_consumer(purpose)


def test_a_tick_that_fails_drops_its_consumer_and_the_next_tick_lands_the_notice(broker, settings, tmp_path):
    from gwtm_assets.sensors.kafka import KEPT_CONSUMERS

    topic = "igwn.gwalert.failing"
    broker.create_topic(topic)
    kafka = KafkaConsumerResource(bootstrap_servers=broker.bootstrap, group_id="g-fail", offset_reset="earliest")
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the storage directory should be")
    broken = settings.model_copy(update={"local_storage_dir": str(blocked / "storage")})
    ligo_sensor, _ = build_sensors(True, ligo_topic=topic)
    instance = DagsterInstance.ephemeral()
    broker.produce(topic, [sample("MS181101ab-preliminary").read_bytes()])
    key = kafka.consumer_key(f"incoming_gw_notice:{topic}")
    with pytest.raises(Exception, match="cannot write test/incoming/MS181101ab-Preliminary"):
        _tick(ligo_sensor, instance, build_resources(broken) | {"kafka": kafka})
    assert key not in KEPT_CONSUMERS.keys()  # dropped, not kept broken
    result = _tick(ligo_sensor, instance, build_resources(settings) | {"kafka": kafka})
    assert len(result.run_requests) == 1  # nothing was committed by the failed tick: the notice is read again
