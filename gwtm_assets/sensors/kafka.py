"""Kafka consumers for the notice streams: GCN (OIDC) or a plain broker, sized for 1-2 MB notices."""

import hashlib
import json
from typing import Any

import confluent_kafka
from dagster import ConfigurableResource
from pydantic import Field

from ..process_cache import ProcessCache

#: The largest notice accepted: GW notices with two embedded sky maps reach ~3 MB; leave room.
NOTICE_MAX_BYTES = 8_000_000
#: The largest message the consumer can receive at all (a broker returns a message larger than the fetch limits
#: alone in its response). Larger ones are quarantined as a reason only; beyond this one librdkafka cannot read
#: the response, so the limit is generous: the memory is held only while the tick reads the message.
RECEIVE_MAX_BYTES = 128_000_000

#: Options the sensor's exactly-once landing depends on: offsets move only after a notice is stored.
FIXED_OPTIONS = ("enable.auto.commit", "enable.auto.offset.store", "group.id")
#: GCN's IPv6 path fails with "Network is unreachable" on some clusters (the earlier listener's catch-up tool,
#: selective_ingest.py, sets the same); KAFKA_CONSUMER_OPTIONS can set ``{"broker.address.family": "any"}``.
DEFAULT_OPTIONS: dict[str, Any] = {"broker.address.family": "v4"}


class KafkaOptionsError(ValueError):
    """KAFKA_CONSUMER_OPTIONS is not a JSON object of librdkafka options, or sets one we must own."""


def parse_consumer_options(text: str) -> dict[str, Any]:
    """``KAFKA_CONSUMER_OPTIONS`` (a JSON object of librdkafka consumer options) over the defaults."""
    if not text.strip():
        return dict(DEFAULT_OPTIONS)
    try:
        options = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KafkaOptionsError(f"KAFKA_CONSUMER_OPTIONS is not JSON ({exc.msg} at {exc.pos})") from exc
    if not isinstance(options, dict) or not all(isinstance(v, str | int | float | bool) for v in options.values()):
        raise KafkaOptionsError(
            'KAFKA_CONSUMER_OPTIONS must be a JSON object of options, e.g. {"socket.timeout.ms": 30000}'
        )
    refused = sorted(set(options) & set(FIXED_OPTIONS))
    if refused:
        raise KafkaOptionsError(
            f"KAFKA_CONSUMER_OPTIONS may not set {', '.join(refused)}: the sensors commit offsets only after a notice "
            "is landed (exactly once); use KAFKA_GROUP_ID for the group"
        )
    return {**DEFAULT_OPTIONS, **options}


def check_consumer_options(text: str) -> None:
    """``parse_consumer_options``, and librdkafka's own check of names and values (a client that never connects)."""
    options = parse_consumer_options(text)
    try:
        confluent_kafka.Consumer({"group.id": "gwtm-options-check", **options, "logger": _quiet}).close()
    except confluent_kafka.KafkaException as exc:
        raise KafkaOptionsError(f"KAFKA_CONSUMER_OPTIONS: librdkafka refuses it: {exc.args[0].str()}") from exc


def _quiet(*_: object) -> None:
    """librdkafka's log lines of the throw-away client that checks the options (no bootstrap servers)."""


class KafkaConsumerResource(ConfigurableResource):
    """How to reach the notice streams.

    With ``client_id``/``client_secret`` (``KAFKA_CLIENT_ID``/``KAFKA_CLIENT_SECRET``)
    it connects to NASA GCN Kafka through ``gcn-kafka``; otherwise to
    ``bootstrap_servers`` (``KAFKA_BOOTSTRAP_SERVERS``). Offsets are never
    auto-committed: the sensor commits what it has landed.
    """

    client_id: str = ""
    client_secret: str = Field(default="", repr=False)
    bootstrap_servers: str = ""
    group_id: str = "gwtm-listeners"
    offset_reset: str = "latest"
    extra_options_json: str = Field(
        default="", description="KAFKA_CONSUMER_OPTIONS: a JSON object of librdkafka options"
    )

    @property
    def configured(self) -> bool:
        return bool(self.client_id or self.bootstrap_servers)

    def consumer_config(self) -> dict[str, Any]:
        return {
            **parse_consumer_options(self.extra_options_json),
            "group.id": self.group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": self.offset_reset,
            "max.partition.fetch.bytes": NOTICE_MAX_BYTES,
            "fetch.max.bytes": 2 * NOTICE_MAX_BYTES,
            "receive.message.max.bytes": RECEIVE_MAX_BYTES,
            # A fetch the broker holds open returns within 100 ms of a new notice (librdkafka's default: 500 ms).
            "fetch.wait.max.ms": 100,
        }

    def consumer_key(self, purpose: str) -> tuple[object, ...]:
        """What identifies a kept consumer: its purpose (sensor and topic) and every setting, the secret hashed."""
        secret = hashlib.sha256(self.client_secret.encode()).hexdigest()
        return (purpose, self.client_id, secret, self.bootstrap_servers, self.group_id, self.offset_reset,
                self.extra_options_json)  # fmt: skip

    def kept_consumer(self, purpose: str) -> confluent_kafka.Consumer:
        """The process's consumer for ``purpose``, made on first use (``KEPT_CONSUMERS``)."""
        return KEPT_CONSUMERS.get(self.consumer_key(purpose), self.consumer)

    def discard_consumer(self, purpose: str) -> None:
        """Close the kept consumer after an error; the next tick connects anew."""
        KEPT_CONSUMERS.discard(self.consumer_key(purpose))

    def consumer(self) -> confluent_kafka.Consumer:
        if self.client_id:
            import gcn_kafka

            return gcn_kafka.Consumer(
                self.consumer_config(), client_id=self.client_id, client_secret=self.client_secret
            )
        if not self.bootstrap_servers:
            raise ValueError("set KAFKA_CLIENT_ID/KAFKA_CLIENT_SECRET (GCN) or KAFKA_BOOTSTRAP_SERVERS")
        return confluent_kafka.Consumer({"bootstrap.servers": self.bootstrap_servers, **self.consumer_config()})


def _close_quietly(consumer: confluent_kafka.Consumer) -> None:
    try:
        consumer.close()
    except (RuntimeError, confluent_kafka.KafkaException):
        pass  # already closed, or the broker is gone: nothing left to release


#: The code server's consumers (the sensors run there, tick after tick), one per sensor and configuration.
#: A consumer per tick cost a token request (GCN's OIDC), a TLS handshake and a metadata request every ~5 s per
#: sensor; the earlier listener kept one for its lifetime, as this does. The sensor's cursor stays the source of
#: truth: each tick assigns the partitions at the cursor's offsets. A consumer that failed is discarded and made
#: anew on the next tick; all are closed at exit.
KEPT_CONSUMERS: ProcessCache[confluent_kafka.Consumer] = ProcessCache(close=_close_quietly)
