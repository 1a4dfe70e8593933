"""What a notice topic holds, browsed and taken selectively, without moving the sensors' offsets.

GCN keeps a topic's messages for about three days. ``gwtm-cron kafka list``
shows them (partition and offset, event, type, ``time_created``, whether the
notice is already landed); ``gwtm-cron kafka ingest --filter`` lands the
matching ones and runs them in this process, as ``gwtm-cron ingest`` does.
Both read with the sensors' consumer settings (GCN or a plain broker,
``KAFKA_*``), but assign the partitions themselves, from the beginning, under a
group of their own (``<KAFKA_GROUP_ID>-browse``) and never commit: the sensors'
group offsets and cursors are untouched, so the sensors' exactly-once landing
is unaffected. A notice taken here lands under the partition key the sensor
would give it, so one the sensor lands later maps to the same partition and its
record is not posted twice (the ledger).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import confluent_kafka
from confluent_kafka import TopicPartition

from .io.object_store import ObjectStore
from .notices.history import landed_as, notice_order, parse_notice
from .notices.validation import NoticeValidationError
from .sensors.kafka import KafkaConsumerResource, parse_consumer_options
from .storage_keys import incoming_notice_key

#: Seconds to wait for a broker's answer (metadata, watermarks, a fetch) before giving up on a topic.
BROKER_TIMEOUT_S = 10.0


class TopicUnavailable(RuntimeError):
    """The topic does not exist on the broker, or the broker does not answer."""


@dataclass(frozen=True)
class BufferedMessage:
    """One message of a topic, and what it is as a notice."""

    topic: str
    partition: int
    offset: int
    raw: bytes
    event: str = ""
    alert_type: str = ""
    time_created: str = ""
    partition_key: str = ""
    problem: str = ""

    @property
    def where(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"

    @property
    def is_notice(self) -> bool:
        return not self.problem

    @property
    def is_mock(self) -> bool:
        return self.event.startswith("M")


def describe(topic: str, partition: int, offset: int, raw: bytes) -> BufferedMessage:
    """The message as a notice (its event, type, creation time and partition key), or why it is none."""
    try:
        kind, notice = parse_notice(raw)
    except NoticeValidationError as exc:
        return BufferedMessage(topic, partition, offset, raw, problem=str(exc))
    content = notice.content
    alert_type = str(content.get("alert_type") or "") if kind == "ligo" else "IceCube"
    created = str(content.get("time_created") or content.get("alert_datetime") or "")
    return BufferedMessage(
        topic, partition, offset, raw, notice.graceid, alert_type, created, partition_key=notice.partition_key
    )


def read_topic(kafka: KafkaConsumerResource, topic: str, max_messages: int | None = None) -> Iterator[BufferedMessage]:
    """Every message the topic holds now (each partition from its first offset to its end), at most ``max_messages``.

    Assigned, not subscribed, under ``<group>-browse``, and never committed.
    """
    # A partition's end is reported (EOF), so a topic whose last offsets hold no message still ends the read.
    options = {**parse_consumer_options(kafka.extra_options_json), "enable.partition.eof": True}
    browsing = kafka.model_copy(
        update={"group_id": f"{kafka.group_id}-browse", "extra_options_json": json.dumps(options)}
    )
    consumer = browsing.consumer()
    try:
        metadata = consumer.list_topics(topic, timeout=BROKER_TIMEOUT_S)
        found = metadata.topics.get(topic)
        if found is None or found.error is not None:
            raise TopicUnavailable(f"topic {topic} is not on the broker ({found.error if found else 'unknown'})")
        ends: dict[int, int] = {}
        starts = []
        for partition in sorted(found.partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=BROKER_TIMEOUT_S)
            if high > low:
                ends[partition] = high
                starts.append(TopicPartition(topic, partition, low))
        consumer.assign(starts)
        taken = 0
        while ends and (max_messages is None or taken < max_messages):
            message = consumer.poll(BROKER_TIMEOUT_S)
            if message is None:
                raise TopicUnavailable(f"topic {topic}: no answer from the broker in {BROKER_TIMEOUT_S:.0f} s")
            error = message.error()
            partition, offset = message.partition() or 0, message.offset() or 0
            if error is not None:
                if error.code() == confluent_kafka.KafkaError._PARTITION_EOF:
                    ends.pop(partition, None)
                    continue
                raise TopicUnavailable(f"topic {topic}: {error.str()}")
            if partition not in ends:
                continue
            if offset + 1 >= ends[partition]:
                del ends[partition]
            taken += 1
            yield describe(topic, partition, offset, message.value() or b"")
    except confluent_kafka.KafkaException as exc:
        raise TopicUnavailable(f"topic {topic}: {exc.args[0].str()}") from exc
    finally:
        consumer.close()


def selected(
    messages: list[BufferedMessage], event_filter: str = "", exclude_mock: bool = False
) -> list[BufferedMessage]:
    """The notices whose event id contains ``event_filter`` (mock events left out if asked), oldest first."""
    chosen = [m for m in messages if m.is_notice and event_filter in m.event and not (exclude_mock and m.is_mock)]
    return sorted(chosen, key=lambda m: (notice_order(m.raw), m.where))


def is_landed(store: ObjectStore, message: BufferedMessage) -> bool:
    """Landed under its key, or as the same notice in other bytes (``notices.history.landed_as``)."""
    if not message.is_notice:
        return False
    if store.exists(incoming_notice_key(message.partition_key)):
        return True
    return landed_as(store, parse_notice(message.raw)[1]) is not None


def listing_line(message: BufferedMessage, landed: bool) -> str:
    if not message.is_notice:
        return f"{message.where:<44} not a notice: {message.problem[:120]}"
    return (
        f"{message.where:<44} {message.event:<14} {message.alert_type:<14} {message.time_created:<22} "
        f"{'landed' if landed else 'not landed'}"
    )
