"""The same alerts from GCN Kafka (JSON) and SCiMMA Hopskotch (Avro): one partition and one record per alert.

Two real Kafka-protocol brokers (Tansu) on loopback, each keeping its topics in a bucket of a moto S3 server so that
it can be stopped (its process ended) and started again holding what it held, as a real broker does; the
Hopskotch one carries the Avro hop-client packs, as GWCelery sends it.
"""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest
from dagster import DagsterInstance, build_sensor_context, materialize

from gwtm_assets.assets import LIGO_ASSETS
from gwtm_assets.devtools.tansu import TansuBroker
from gwtm_assets.io.object_store import LocalObjectStore
from gwtm_assets.jobs import LIGO_RECORD_ASSETS
from gwtm_assets.notices.ligo import parse_ligo_notice
from gwtm_assets.resources.builders import build_resources
from gwtm_assets.sensors.hopskotch import HopskotchConsumerResource
from gwtm_assets.sensors.kafka import KafkaConsumerResource
from gwtm_assets.sensors.landing import build_sensors

from .conftest import TIME_ORDER, sample
from .lvk_copies import alert_of, avro_blob, json_copy

pytestmark = pytest.mark.servers


@pytest.fixture
def brokers():
    import boto3

    from .storage_servers import MotoS3Server

    s3 = MotoS3Server()
    aws = {"AWS_ACCESS_KEY_ID": "tansu", "AWS_SECRET_ACCESS_KEY": "tansu", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT": s3.endpoint_url, "AWS_ALLOW_HTTP": "true"}  # fmt: skip
    client = boto3.client("s3", endpoint_url=s3.endpoint_url, region_name="us-east-1",
                          aws_access_key_id="tansu", aws_secret_access_key="tansu")  # fmt: skip
    started = []
    try:
        for bucket in ("gcn", "hop"):
            client.create_bucket(Bucket=bucket)
            started.append(TansuBroker(storage_engine=f"s3://{bucket}/", env=aws))
        yield tuple(started)
    finally:
        for broker in started:
            broker.stop()
        s3.stop()


@contextmanager
def stopped(broker: TansuBroker):
    """The broker's process ended, and a new one started on the same port and storage afterwards."""
    broker.stop()
    try:
        yield
    finally:
        broker.start()


def publish_with_hop_client(broker: TansuBroker, topic: str, alerts: list[dict]) -> None:
    """Each alert as hop-client packs it (AvroBlob bytes and hop's headers). Its own producer asks the broker for the
    topic's ``max.message.bytes``, which Tansu does not report, so a plain producer sends what it packed."""
    from confluent_kafka import Producer
    from hop.io import Producer as HopProducer

    producer = Producer({"bootstrap.servers": broker.bootstrap, "message.max.bytes": 8_000_000})
    for alert in alerts:
        value, headers = HopProducer.pack(avro_blob(alert))
        producer.produce(topic, value, headers=headers)
    assert producer.flush(30) == 0


def test_one_alert_from_both_brokers_is_one_partition_and_one_record(brokers, settings, api_server):
    gcn, hop = brokers
    topic = "igwn.gwalert"
    gcn.create_topic(topic)
    hop.create_topic(topic)
    alerts = [alert_of(sample(name)) for name in TIME_ORDER]
    keys = [parse_ligo_notice(json_copy(a)).partition_key for a in alerts]
    assert len(set(keys)) == len(alerts)

    resources = build_resources(settings) | {
        "kafka": KafkaConsumerResource(bootstrap_servers=gcn.bootstrap, group_id="g-two", offset_reset="earliest"),
        "hopskotch": HopskotchConsumerResource(
            url=f"kafka://{hop.bootstrap}/{topic}", group_id="g-two", offset_reset="earliest"
        ),
    }
    ligo_sensor, _ = build_sensors(True, ligo_topic=topic, hop_configured=True)
    instance = DagsterInstance.ephemeral()
    cursor: str | None = None
    requested: list[str] = []
    landings: list[str] = []

    def drain() -> None:
        """Tick until a tick brings nothing more, as the daemon would."""
        nonlocal cursor
        for _ in range(10):
            with build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
                result = ligo_sensor(context)
            cursor = result.cursor or cursor
            requested.extend(r.run_key for r in result.run_requests)
            landings.extend(e.partition for e in result.asset_events)
            if not result.run_requests:
                return

    def publish(indices: list[int], to_gcn: bool = True, to_hop: bool = True) -> None:
        if to_gcn:
            gcn.produce(topic, [json_copy(alerts[i]) for i in indices])
        if to_hop:
            publish_with_hop_client(hop, topic, [alerts[i] for i in indices])

    # Both up: every alert arrives twice.
    publish([0, 1])
    drain()
    # Hopskotch down for a while: GCN's copies are landed; Hopskotch's arrive when it is back and change nothing.
    with stopped(hop):
        publish([2, 3], to_hop=False)
        drain()
    publish([2, 3], to_gcn=False)
    drain()
    # GCN down for a while: Hopskotch's copies are landed; GCN's late ones change nothing.
    with stopped(gcn):
        publish([4, 5], to_gcn=False)
        drain()
    publish([4, 5], to_hop=False)
    publish([6])
    drain()

    assert sorted(set(requested)) == sorted(keys)
    assert sorted(landings) == sorted(keys), "each alert landed once, whichever copy came first"
    offsets = json.loads(cursor or "{}")
    assert offsets == {"0": len(alerts), "hop:0": len(alerts)}, "every message of both brokers read"
    store = LocalObjectStore(settings.local_storage_dir)
    landed = [info.key for d in ("test", "fit") for info in store.list(f"{d}/incoming/")]
    assert len(landed) == len(alerts)

    for key in dict.fromkeys(requested):  # each requested run once, as Dagster's run_key makes it
        instance.add_dynamic_partitions("gw_alerts", [key])
        result = materialize(
            LIGO_ASSETS, selection=LIGO_RECORD_ASSETS, partition_key=key, instance=instance, resources=resources
        )
        assert result.success
    posted = [(r.body["graceid"], r.body["alert_type"]) for r in api_server.state.posted("post_alert")]
    # One record per alert (two for the one with an external coincidence): a second partition would post again.
    assert len(posted) == sum(2 if a.get("external_coinc") else 1 for a in alerts), posted
