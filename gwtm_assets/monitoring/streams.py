"""Is the stream up, quiet or down: the brokers' state as seen from outside the sensors.

GCN publishes ``gcn.heartbeat`` every second. A stream is **down** when its
broker does not answer or no heartbeat came for ``HEARTBEAT_MAX_AGE_S``; it is
**quiet** when heartbeats come and notices do not (between observing runs LVK
sends only hourly mock alerts); **up** otherwise. Everything here reads: the
sensors' group offsets are fetched (for the lag), never committed, and no
consumer group is joined (partitions are assigned).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

#: No notice for this long (and heartbeats coming): the stream is quiet. LVK's mock alerts come hourly.
QUIET_AFTER_S = 3600.0


@dataclass(frozen=True)
class TopicState:
    """One topic as the broker reports it now."""

    topic: str
    reachable: bool
    exists: bool = False
    newest_message_s: float | None = None  # Kafka timestamp of the newest message, Unix seconds
    end_offset: int = 0  # the high watermarks, summed over partitions
    committed_offset: int | None = None  # the sensors' group's commits, summed; None before the first
    error: str = ""

    def age_s(self, now_s: float) -> float | None:
        return None if self.newest_message_s is None else max(0.0, now_s - self.newest_message_s)

    @property
    def lag(self) -> int | None:
        """Messages the sensors' group has not committed: the high watermark minus the committed offset."""
        return None if self.committed_offset is None else max(0, self.end_offset - self.committed_offset)


def stream_status(
    broker: TopicState, heartbeat: TopicState | None, now_s: float, heartbeat_max_age_s: float
) -> tuple[str, str]:
    """``("up" | "quiet" | "down", why)`` of a notice topic, given its heartbeat topic (None: no heartbeat)."""
    if not broker.reachable:
        return "down", f"broker unreachable: {broker.error}"
    if heartbeat is not None:
        age = heartbeat.age_s(now_s) if heartbeat.reachable else None
        if age is None:
            return "down", f"no heartbeat on {heartbeat.topic}" + (f": {heartbeat.error}" if heartbeat.error else "")
        if age > heartbeat_max_age_s:
            return "down", f"last heartbeat on {heartbeat.topic} {age:.0f} s ago (> {heartbeat_max_age_s:.0f} s)"
    if not broker.exists:
        return "quiet", f"topic {broker.topic} not on the broker yet"
    notice_age = broker.age_s(now_s)
    if notice_age is None or notice_age > QUIET_AFTER_S:
        return "quiet", "no notice for over an hour" if notice_age else "no notice on the topic"
    return "up", f"last notice {notice_age:.0f} s ago"


def read_topic_state(consumer: Any, topic: str, timeout_s: float = 5.0) -> TopicState:
    """The state of ``topic`` through ``consumer`` (assigned to read the newest message, never committing)."""
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s)
        found = metadata.topics.get(topic)
        if found is None or found.error is not None:
            code = found.error.code() if found is not None and found.error is not None else None
            if code not in (None, KafkaError.UNKNOWN_TOPIC_OR_PART):
                return TopicState(topic, reachable=False, error=str(found.error))
            return TopicState(topic, reachable=True, exists=False)
        partitions = [TopicPartition(topic, p) for p in sorted(found.partitions)]
        committed = consumer.committed(partitions, timeout=timeout_s)
        commits = [c.offset for c in committed if c.offset >= 0]
        end, newest, last = 0, None, []
        for partition in partitions:
            low, high = consumer.get_watermark_offsets(partition, timeout=timeout_s)
            end += high
            if high > low:
                last.append(TopicPartition(topic, partition.partition, high - 1))
        if last:
            newest = _newest_timestamp(consumer, last, timeout_s)
        return TopicState(topic, True, True, newest, end, sum(commits) if commits else None)
    except KafkaException as exc:
        return TopicState(topic, reachable=False, error=exc.args[0].str())


def read_stream(
    consumer: Any, topic: str, heartbeat_topic: str, timeout_s: float = 5.0
) -> tuple[TopicState, TopicState | None]:
    """A notice topic's state and its heartbeat's (None without a heartbeat topic, or when the broker did not
    answer for the notice topic: it is the same broker, one timeout is enough)."""
    state = read_topic_state(consumer, topic, timeout_s)
    heartbeat = read_topic_state(consumer, heartbeat_topic, timeout_s) if heartbeat_topic and state.reachable else None
    return state, heartbeat


def _newest_timestamp(consumer: Any, last: list[TopicPartition], timeout_s: float) -> float | None:
    consumer.assign(last)
    wanted = {tp.partition for tp in last}
    newest: float | None = None
    deadline = time.monotonic() + timeout_s
    try:
        while wanted and time.monotonic() < deadline:
            message = consumer.poll(min(0.5, max(0.0, deadline - time.monotonic())))
            if message is None or message.error() is not None:
                continue
            wanted.discard(message.partition())
            kind, stamp_ms = message.timestamp()
            if stamp_ms and stamp_ms > 0:
                newest = max(newest or 0.0, stamp_ms / 1000)
    finally:
        consumer.unassign()
    return newest
