"""Kafka-polling sensors: land each notice's bytes, add its partition, request its run.

The cursor holds the next Kafka offset of every topic partition. A notice's raw
bytes are stored before the cursor moves past it; partitions are added and
runs requested (``run_key`` = partition key) in the same sensor result, so a
re-delivered notice maps to the same partition and run key and is not run
twice. Offsets are also committed to the consumer group for lag visibility.
"""

import json
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, TopicPartition
from dagster import (
    AssetMaterialization,
    DefaultSensorStatus,
    DynamicPartitionsDefinition,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from ..io.object_store import ObjectStore
from ..jobs import event_tags, icecube_notice_job, ligo_record_job
from ..notices.history import land
from ..notices.icecube import parse_icecube_notice
from ..notices.ligo import parse_ligo_notice
from ..notices.validation import NoticeValidationError
from ..partitions import gw_alert_partitions, icecube_notice_partitions
from ..resources.storage import ProductStorage
from ..storage_keys import quarantine_key, quarantine_reason_key
from .kafka import NOTICE_MAX_BYTES, KafkaConsumerResource

LIGO_TOPIC = "igwn.gwalert"
ICECUBE_TOPIC = "gcn.notices.icecube.lvk_nu_track_search"
#: A burst (many events at once, or a backlog after an outage) is taken in one tick, not one tick per 5 s.
MAX_NOTICES_PER_TICK = 100
#: The sensor daemon starts ticks on its 5 s loop; a tick waits up to this long
#: for the first message and returns as soon as one arrives, so a notice is
#: picked up within ~0.1 s instead of up to 5 s later. A tick spends 0.1-0.3 s
#: more on set-up, and one still running at the next loop pass waits 5 s for the
#: one after: 4.3 s leaves that margin and ~0.5 s of each 5 s unpolled.
LONG_POLL_S = 4.3


def quarantine(store: ObjectStore, raw: bytes, where: str, reason: str, keep_message: bool = True) -> str:
    """Keep a message that is no notice (unless ``keep_message`` is false: too large) and why; returns the reason's key.

    Kept messages: ``quarantine_key(raw)`` and ``.reason.txt`` beside it; the
    others leave ``fit/quarantine/oversized-<digest>.reason.txt`` only.
    """
    key = quarantine_key(raw, kept=keep_message)
    if keep_message:
        store.put(key, raw)
    reason_key = quarantine_reason_key(key)
    store.put(reason_key, f"{where}: {reason}".encode())
    return reason_key


def poll_notices(
    context: SensorEvaluationContext,
    kafka: KafkaConsumerResource,
    storage: ProductStorage,
    topic: str,
    parse: Callable[[bytes], Any],
    partitions_def: DynamicPartitionsDefinition,
    landed_asset: str,
) -> SensorResult:
    """One sensor tick: consume, land or quarantine, and request runs; see the module docstring."""
    cursor: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
    purpose = f"{landed_asset}:{topic}"  # one per sensor: each lands its own asset
    consumer = kafka.kept_consumer(purpose)
    quarantined: list[str] = []
    landed: dict[str, AssetMaterialization] = {}  # partition key -> its landing (a re-delivery lands the same)
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        if topic not in metadata.topics or metadata.topics[topic].error is not None:
            context.log.warning("topic %s is not available yet", topic)
            return SensorResult(skip_reason=f"topic {topic} not available")
        partitions = sorted(metadata.topics[topic].partitions)
        cursor |= starting_offsets(consumer, topic, [p for p in partitions if str(p) not in cursor], kafka.offset_reset)
        consumer.assign([TopicPartition(topic, p, cursor[str(p)]) for p in partitions])
        first = consumer.poll(LONG_POLL_S)
        messages = [first, *consumer.consume(MAX_NOTICES_PER_TICK - 1, timeout=0)] if first is not None else []
        # Built only when something arrived: a Swift store authenticates and checks its container, which an idle
        # tick (every 5 s per sensor) need not pay.
        store = storage.object_store() if messages else None
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    context.log.error("Kafka error on %s: %s", topic, error)
                continue
            assert store is not None  # built above, since a message arrived
            raw = message.value() or b""
            where = f"{topic}[{message.partition()}]@{message.offset()}"
            notice, reason = None, None
            oversized = len(raw) > NOTICE_MAX_BYTES
            if oversized:
                reason = f"{len(raw):,} bytes, over the {NOTICE_MAX_BYTES:,}-byte limit of a notice; not kept"
            else:
                try:
                    notice = parse(raw)
                except NoticeValidationError as exc:
                    reason = str(exc)
                except Exception as exc:  # noqa: BLE001 -- whatever a message holds, it must not stop the topic
                    reason = f"unparseable message ({type(exc).__name__}: {str(exc)[:200]})"
            if notice is None:
                key = quarantine(store, raw, where, reason or "not a notice", keep_message=not oversized)
                context.log.error("quarantined %s (%s): %s", where, key, reason)
                quarantined.append(where)
            else:
                land(store, notice)
                landed.setdefault(
                    notice.partition_key,
                    AssetMaterialization(
                        asset_key=landed_asset,
                        partition=notice.partition_key,
                        description=f"landed from {where}",
                        metadata={"bytes": len(raw), "kafka": where},
                    ),
                )
                context.log.info("landed %s as partition %s", where, notice.partition_key)
            cursor[str(message.partition())] = (message.offset() or 0) + 1
        if cursor:
            consumer.commit(offsets=[TopicPartition(topic, int(p), o) for p, o in cursor.items()], asynchronous=False)
    except BaseException:
        kafka.discard_consumer(purpose)
        raise
    unique = list(landed)
    return SensorResult(
        run_requests=[RunRequest(partition_key=k, run_key=k, tags=event_tags(k)) for k in unique],
        dynamic_partitions_requests=[partitions_def.build_add_request(unique)] if unique else [],
        cursor=json.dumps(cursor, sort_keys=True),
        # The landed bytes are the source asset's partition: recorded, the UI shows incoming_*_notice filled.
        asset_events=list(landed.values()),
        skip_reason=f"quarantined {', '.join(quarantined)} (see fit/quarantine/)"
        if quarantined and not unique
        else None,
    )


def starting_offsets(consumer: Any, topic: str, partitions: list[int], offset_reset: str) -> dict[str, int]:
    """Offsets to start ``partitions`` from when the cursor has none: the group's commit, else the topic's end
    (``latest``) or beginning (``earliest``) as it is now.

    Fixed once and kept in the cursor (and committed), so a notice published
    after the sensor started is read even when no tick saw a message before it;
    a consumer left to ``auto.offset.reset`` would start at the end again every tick.
    """
    if not partitions:
        return {}
    offsets = {}
    for committed in consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10):
        if committed.offset >= 0:
            offsets[str(committed.partition)] = committed.offset
        else:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, committed.partition), timeout=10)
            offsets[str(committed.partition)] = high if offset_reset == "latest" else low
    return offsets


def build_sensors(
    kafka_configured: bool,
    ligo_topic: str = LIGO_TOPIC,
    icecube_topic: str = ICECUBE_TOPIC,
    listeners: set[str] | frozenset[str] = frozenset({"ligo", "icecube"}),
) -> list:
    """The two notice sensors, running by default when Kafka settings are present and the listener is enabled (``LISTENERS``)."""

    def status(listener: str) -> DefaultSensorStatus:
        return (
            DefaultSensorStatus.RUNNING if kafka_configured and listener in listeners else DefaultSensorStatus.STOPPED
        )

    @sensor(name="ligo_alert_sensor", job=ligo_record_job, minimum_interval_seconds=1, default_status=status("ligo"))
    def ligo_alert_sensor(
        context: SensorEvaluationContext, kafka: KafkaConsumerResource, product_storage: ProductStorage
    ):
        """Polls igwn.gwalert: one gw_alerts partition and record run per notice (its products follow: ligo_products_sensor)."""
        return poll_notices(
            context, kafka, product_storage, ligo_topic, parse_ligo_notice, gw_alert_partitions, "incoming_gw_notice"
        )

    @sensor(
        name="icecube_notice_sensor",
        job=icecube_notice_job,
        minimum_interval_seconds=1,
        default_status=status("icecube"),
    )
    def icecube_notice_sensor(
        context: SensorEvaluationContext, kafka: KafkaConsumerResource, product_storage: ProductStorage
    ):
        """Polls the IceCube LVK Nu Track Search topic: one icecube_notices partition and run per notice."""
        return poll_notices(
            context, kafka, product_storage, icecube_topic, parse_icecube_notice, icecube_notice_partitions,
            "incoming_icecube_notice",
        )  # fmt: skip

    return [ligo_alert_sensor, icecube_notice_sensor]
