"""Kafka-polling sensors: land each notice's bytes, add its partition, request its run.

The cursor holds the next Kafka offset of every topic partition. A notice's raw
bytes are stored before the cursor moves past it; partitions are added and
runs requested (``run_key`` = partition key) in the same sensor result, so a
re-delivered notice maps to the same partition and run key and is not run
twice. Offsets are also committed to the consumer group for lag visibility.

A second source of the same notices (Hopskotch's Avro beside GCN's JSON, the
``hopskotch`` resource) is read by the same sensor, its partitions under
``hop:<n>`` in the same cursor, so the argument holds for both at once: a LIGO
partition key is derived from the alert's content, not its bytes
(``notices/ligo.py``), so the two copies of one alert map to one key; the copy
that comes second finds the first landed (``landed_as``) and is not landed
again, and its run request carries a ``run_key`` this sensor has used, which
Dagster does not run twice. ``gwtm-cron catch-up`` and ``ingest`` land through
the same ``landed_as``, and the record's ledger keeps a post to one per
partition whoever asks. A broker that cannot be reached is logged and skipped
while the other is read; its offsets stay in the cursor, so it resumes where it
stopped and nothing it held is missed.
"""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition
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
from ..notices.avro import json_notice
from ..notices.history import land, landed_as
from ..notices.icecube import parse_icecube_notice
from ..notices.ligo import parse_ligo_notice
from ..notices.validation import NoticeValidationError
from ..partitions import gw_alert_partitions, icecube_notice_partitions
from ..resources.storage import ProductStorage
from ..storage_keys import quarantine_key, quarantine_reason_key
from .hopskotch import HopskotchConsumerResource
from .kafka import NOTICE_MAX_BYTES, KafkaConsumerResource

LIGO_TOPIC = "igwn.gwalert"
ICECUBE_TOPIC = "gcn.notices.icecube.lvk_nu_track_search"
#: A burst (many events at once, or a backlog after an outage) is taken in one tick, not one tick per 5 s.
MAX_NOTICES_PER_TICK = 100
#: A tick waits up to this long for the first message and returns as soon as one
#: arrives, so a notice is picked up within ~0.1 s. ``gwtm-cron daemon`` starts
#: the next tick at its next pass (``SENSOR_LOOP_S``, 0.5 s) once the 1 s minimum
#: interval has passed; ``dagster-daemon run`` passes every 5 s, and 4.3 s (plus
#: 0.1-0.3 s of set-up) keeps a tick from missing its pass there.
LONG_POLL_S = 4.3
#: How long a tick waits for a broker's metadata: with one source, as long as a slow first connection takes; with
#: several, briefly, since an unreachable one delays the others' notices by this much each tick while it is down.
SINGLE_SOURCE_METADATA_S = 10.0
MULTI_SOURCE_METADATA_S = 3.0
#: The cursor prefix of Hopskotch's partitions in the LIGO sensor's cursor.
HOP_CURSOR_PREFIX = "hop:"


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


@dataclass(frozen=True)
class NoticeSource:
    """A topic a sensor reads.

    ``cursor_prefix`` prefixes its partitions in the cursor: empty for the
    first source, so a cursor written before a second source existed stays
    valid. ``decode`` turns a message into the notice's JSON bytes (Hopskotch's
    Avro); ``setting`` is the variable an error line names.
    """

    kafka: KafkaConsumerResource
    topic: str
    name: str = "kafka"
    setting: str = "KAFKA_BOOTSTRAP_SERVERS/KAFKA_CLIENT_ID"
    cursor_prefix: str = ""
    decode: Callable[[bytes], bytes] | None = None

    def purpose(self, landed_asset: str) -> str:
        """What its kept consumer is kept for: one per sensor (each lands its own asset) and source."""
        return f"{landed_asset}:{self.cursor_prefix}{self.topic}"

    def offsets(self, cursor: dict[str, int]) -> dict[int, int]:
        """This source's next offsets in ``cursor``, by partition."""
        prefix = self.cursor_prefix
        return {int(k.removeprefix(prefix)): v for k, v in cursor.items() if k.startswith(prefix) and
                k.removeprefix(prefix).isdigit()}  # fmt: skip

    def cursor_key(self, partition: int) -> str:
        return f"{self.cursor_prefix}{partition}"


def _assigned(
    context: SensorEvaluationContext,
    source: NoticeSource,
    cursor: dict[str, int],
    metadata_timeout_s: float,
    landed_asset: str,
) -> Any:
    """The source's kept consumer assigned at the cursor's offsets (new partitions from the group's commit or the
    reset policy, added to ``cursor``), or None when its topic does not exist yet."""
    consumer = source.kafka.kept_consumer(source.purpose(landed_asset))
    metadata = consumer.list_topics(source.topic, timeout=metadata_timeout_s)
    topic = metadata.topics.get(source.topic)
    if topic is None or topic.error is not None:
        context.log.warning("topic %s is not available yet (%s)", source.topic, source.name)
        return None
    partitions = sorted(topic.partitions)
    known = source.offsets(cursor)
    fresh = starting_offsets(
        consumer, source.topic, [p for p in partitions if p not in known], source.kafka.offset_reset
    )
    cursor |= {source.cursor_key(int(p)): o for p, o in fresh.items()}
    known = source.offsets(cursor)
    consumer.assign([TopicPartition(source.topic, p, known[p]) for p in partitions])
    return consumer


def _first_messages(ready: list[tuple[NoticeSource, Any]]) -> list[tuple[NoticeSource, Any]]:
    """Wait up to ``LONG_POLL_S`` for a message from any source, then take what every source holds (at most
    ``MAX_NOTICES_PER_TICK``). Several sources are polled in turn, 50 ms each: a fetch returns within 100 ms of a
    new message anyway (``fetch.wait.max.ms``), so the turn adds at most that."""
    deadline = time.monotonic() + LONG_POLL_S
    first = None
    while first is None and time.monotonic() < deadline:
        for source, consumer in ready:
            message = consumer.poll(LONG_POLL_S if len(ready) == 1 else 0.05)
            if message is not None:
                first = (source, message)
                break
        if len(ready) == 1:
            break
    if first is None:
        return []
    taken = [first]
    for source, consumer in ready:
        room = MAX_NOTICES_PER_TICK - len(taken)
        if room > 0:
            taken += [(source, m) for m in consumer.consume(room, timeout=0)]
    return taken


def poll_notices(
    context: SensorEvaluationContext,
    sources: list[NoticeSource],
    storage: ProductStorage,
    parse: Callable[[bytes], Any],
    partitions_def: DynamicPartitionsDefinition,
    landed_asset: str,
) -> SensorResult:
    """One sensor tick: consume, land or quarantine, and request runs; see the module docstring.

    With one source, an unreachable broker fails the tick (the UI shows it). With several, it is logged in one
    line naming the source's variable and the others are read: the same alert from the reachable one is enough.
    """
    cursor: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
    metadata_timeout_s = SINGLE_SOURCE_METADATA_S if len(sources) == 1 else MULTI_SOURCE_METADATA_S
    ready: list[tuple[NoticeSource, Any]] = []
    unreachable: list[str] = []
    for source in sources:
        try:
            consumer = _assigned(context, source, cursor, metadata_timeout_s, landed_asset)
        except KafkaException as exc:
            if len(sources) == 1:
                source.kafka.discard_consumer(source.purpose(landed_asset))
                raise
            if exc.args[0].code() != KafkaError._TIMED_OUT:
                source.kafka.discard_consumer(
                    source.purpose(landed_asset)
                )  # a timed-out one keeps reconnecting by itself
            context.log.error("%s (%s) unreachable: %s; reading the other sources", source.name, source.setting,
                              exc.args[0].str())  # fmt: skip
            unreachable.append(source.name)
            continue
        except BaseException:
            source.kafka.discard_consumer(source.purpose(landed_asset))
            raise
        if consumer is not None:
            ready.append((source, consumer))
    if not ready:
        idle = f"no source available ({', '.join(unreachable)} unreachable)" if unreachable else "topic not available"
        return SensorResult(skip_reason=idle, cursor=json.dumps(cursor, sort_keys=True) if cursor else None)
    quarantined: list[str] = []
    landed: dict[str, AssetMaterialization] = {}  # partition key -> its landing (a re-delivery lands the same)
    requested: list[str] = []
    try:
        messages = _first_messages(ready)
        # Built only when something arrived: a Swift store authenticates and checks its container, which an idle
        # tick (every 5 s per sensor) need not pay.
        store = storage.object_store() if messages else None
        for source, message in messages:
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    context.log.error("Kafka error on %s (%s): %s", source.topic, source.name, error)
                continue
            assert store is not None  # built above, since a message arrived
            raw = message.value() or b""
            where = f"{source.cursor_prefix}{source.topic}[{message.partition()}]@{message.offset()}"
            notice, reason = None, None
            oversized = len(raw) > NOTICE_MAX_BYTES
            if oversized:
                reason = f"{len(raw):,} bytes, over the {NOTICE_MAX_BYTES:,}-byte limit of a notice; not kept"
            else:
                try:
                    notice = parse(source.decode(raw) if source.decode else raw)
                except NoticeValidationError as exc:
                    reason = str(exc)
                except Exception as exc:  # noqa: BLE001 -- whatever a message holds, it must not stop the topic
                    reason = f"unparseable message ({type(exc).__name__}: {str(exc)[:200]})"
            if notice is None:
                reason_key = quarantine(store, raw, where, reason or "not a notice", keep_message=not oversized)
                context.log.error("quarantined %s (%s): %s", where, reason_key, reason)
                quarantined.append(where)
            else:
                existing = notice.partition_key if notice.partition_key in landed else landed_as(store, notice)
                key = existing or notice.partition_key
                if existing is None:
                    land(store, notice)
                    landed[key] = AssetMaterialization(
                        asset_key=landed_asset,
                        partition=key,
                        description=f"landed from {where}",
                        metadata={"bytes": len(notice.raw), "kafka": where, "source": source.name},
                    )
                    context.log.info("landed %s as partition %s", where, key)
                else:
                    context.log.info("%s is partition %s, landed already", where, key)
                if key not in requested:
                    requested.append(key)
            cursor[source.cursor_key(message.partition())] = (message.offset() or 0) + 1
        for source, consumer in ready:
            offsets = source.offsets(cursor)
            if offsets:
                consumer.commit(
                    offsets=[TopicPartition(source.topic, p, o) for p, o in offsets.items()], asynchronous=False
                )
    except BaseException:
        for source, _ in ready:
            source.kafka.discard_consumer(source.purpose(landed_asset))
        raise
    return SensorResult(
        run_requests=[RunRequest(partition_key=k, run_key=k, tags=event_tags(k)) for k in requested],
        dynamic_partitions_requests=[partitions_def.build_add_request(requested)] if requested else [],
        cursor=json.dumps(cursor, sort_keys=True),
        # The landed bytes are the source asset's partition: recorded, the UI shows incoming_*_notice filled.
        asset_events=list(landed.values()),
        skip_reason=f"quarantined {', '.join(quarantined)} (see fit/quarantine/)"
        if quarantined and not requested
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


def ligo_sources(kafka: KafkaConsumerResource, hopskotch: HopskotchConsumerResource, topic: str) -> list[NoticeSource]:
    """GCN Kafka (or a plain broker) and Hopskotch, each where it is configured."""
    sources = [NoticeSource(kafka, topic)] if kafka.configured else []
    if hopskotch.configured:
        sources.append(
            NoticeSource(
                hopskotch,
                hopskotch.topic,
                name="hopskotch",
                setting="HOP_URL",
                cursor_prefix=HOP_CURSOR_PREFIX,
                decode=json_notice,
            )
        )
    return sources


def build_sensors(
    kafka_configured: bool,
    ligo_topic: str = LIGO_TOPIC,
    icecube_topic: str = ICECUBE_TOPIC,
    listeners: set[str] | frozenset[str] = frozenset({"ligo", "icecube"}),
    hop_configured: bool = False,
) -> list:
    """The two notice sensors, running by default when Kafka settings are present (for LIGO alerts, Kafka's or
    Hopskotch's) and the listener is enabled (``LISTENERS``)."""

    def status(listener: str, configured: bool) -> DefaultSensorStatus:
        return DefaultSensorStatus.RUNNING if configured and listener in listeners else DefaultSensorStatus.STOPPED

    @sensor(
        name="ligo_alert_sensor",
        job=ligo_record_job,
        minimum_interval_seconds=1,
        default_status=status("ligo", kafka_configured or hop_configured),
    )
    def ligo_alert_sensor(
        context: SensorEvaluationContext,
        kafka: KafkaConsumerResource,
        hopskotch: HopskotchConsumerResource,
        product_storage: ProductStorage,
    ):
        """Polls igwn.gwalert (GCN Kafka, and Hopskotch when HOP_URL is set): one gw_alerts partition and record run
        per alert (its products follow: ligo_products_sensor)."""
        return poll_notices(
            context, ligo_sources(kafka, hopskotch, ligo_topic), product_storage, parse_ligo_notice,
            gw_alert_partitions, "incoming_gw_notice",
        )  # fmt: skip

    @sensor(
        name="icecube_notice_sensor",
        job=icecube_notice_job,
        minimum_interval_seconds=1,
        default_status=status("icecube", kafka_configured),
    )
    def icecube_notice_sensor(
        context: SensorEvaluationContext, kafka: KafkaConsumerResource, product_storage: ProductStorage
    ):
        """Polls the IceCube LVK Nu Track Search topic: one icecube_notices partition and run per notice."""
        return poll_notices(
            context, [NoticeSource(kafka, icecube_topic)], product_storage, parse_icecube_notice,
            icecube_notice_partitions, "incoming_icecube_notice",
        )  # fmt: skip

    return [ligo_alert_sensor, icecube_notice_sensor]
