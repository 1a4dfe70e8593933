"""SCiMMA Hopskotch, the second broker LVK publishes its alerts on (Avro), as a consumer the LIGO sensor reads.

``HOP_URL`` is a hop-client URL, ``kafka://broker[:port]/topic``; with
``HOP_USERNAME``/``HOP_PASSWORD`` the connection is SASL_SSL with SCRAM-SHA-512
(hop-client's ``Auth``, as ``hop subscribe`` makes it), without them plain (a
test broker). The consumer is a plain librdkafka one, not hop-client's
``Stream``: the sensor assigns partitions at its cursor's offsets and commits
only what it has landed, which a ``Stream`` does not let it do.
"""

from __future__ import annotations

import hashlib
from typing import Any

import confluent_kafka
from adc.kafka import parse_kafka_url
from pydantic import Field

from .kafka import KafkaConsumerResource


class HopUrlError(ValueError):
    """HOP_URL is not ``kafka://broker[:port]/topic``."""


def parse_hop_url(url: str) -> tuple[str, str]:
    """``(bootstrap servers, topic)`` of a hop-client URL with one topic."""
    try:
        _, brokers, topics = parse_kafka_url(url)
    except ValueError as exc:
        raise HopUrlError(f"HOP_URL {url!r}: {exc}") from exc
    if not brokers or not brokers[0] or not topics or len(topics) != 1 or not topics[0]:
        raise HopUrlError(f"HOP_URL {url!r} must name one broker and one topic: kafka://kafka.scimma.org/igwn.gwalert")
    return ",".join(brokers), topics[0]


class HopskotchConsumerResource(KafkaConsumerResource):
    """How to reach Hopskotch (``HOP_URL``, ``HOP_USERNAME``, ``HOP_PASSWORD``); not configured when the URL is empty.

    The consumer group is ``<HOP_USERNAME>-<KAFKA_GROUP_ID>``: Hopskotch lets a
    credential use only groups named after it (hop-client names its groups so).
    """

    url: str = ""
    username: str = ""
    password: str = Field(default="", repr=False)

    @property
    def configured(self) -> bool:
        return bool(self.url)

    @property
    def topic(self) -> str:
        return parse_hop_url(self.url)[1]

    @property
    def hop_group_id(self) -> str:
        return f"{self.username}-{self.group_id}" if self.username else self.group_id

    def consumer_config(self) -> dict[str, Any]:
        config = {**super().consumer_config(), "group.id": self.hop_group_id}
        config["bootstrap.servers"] = parse_hop_url(self.url)[0]
        if self.username:
            from hop.auth import Auth

            config |= Auth(self.username, self.password)()
        return config

    def consumer_key(self, purpose: str) -> tuple[object, ...]:
        secret = hashlib.sha256(self.password.encode()).hexdigest()
        return (purpose, "hopskotch", self.url, self.username, secret, self.group_id, self.offset_reset,
                self.extra_options_json)  # fmt: skip

    def consumer(self) -> confluent_kafka.Consumer:
        return confluent_kafka.Consumer(self.consumer_config())
