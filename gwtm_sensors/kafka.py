"""Kafka consumers for the notice streams: GCN (OIDC) or a plain broker, sized for 1-2 MB notices."""

from typing import Any

import confluent_kafka
from dagster import ConfigurableResource
from pydantic import Field

#: The largest notice accepted: GW notices with two embedded sky maps reach ~3 MB; leave room.
NOTICE_MAX_BYTES = 8_000_000
#: The largest message the consumer can receive at all (a broker returns a message larger than the fetch limits
#: alone in its response). Larger ones are quarantined as a reason only; beyond this one librdkafka cannot read
#: the response, so the limit is generous: the memory is held only while the tick reads the message.
RECEIVE_MAX_BYTES = 128_000_000


class KafkaConsumerResource(ConfigurableResource):
    """How to reach the notice streams.

    With ``client_id``/``client_secret`` (``KAFKA_CLIENT_ID``/``KAFKA_CLIENT_SECRET``)
    it connects to NASA GCN Kafka through ``gcn-kafka``; otherwise to
    ``bootstrap_servers`` (``KAFKA_BOOTSTRAP_SERVERS``). Offsets are never
    auto-committed: the sensor commits what it has landed.
    """

    client_id: str = ""
    client_secret: str = Field("", repr=False)
    bootstrap_servers: str = ""
    group_id: str = "gwtm-listeners"
    offset_reset: str = "latest"

    @property
    def configured(self) -> bool:
        return bool(self.client_id or self.bootstrap_servers)

    def consumer_config(self) -> dict[str, Any]:
        return {
            "group.id": self.group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": self.offset_reset,
            "max.partition.fetch.bytes": NOTICE_MAX_BYTES,
            "fetch.max.bytes": 2 * NOTICE_MAX_BYTES,
            "receive.message.max.bytes": RECEIVE_MAX_BYTES,
            # A fetch the broker holds open returns within 100 ms of a new notice (librdkafka's default: 500 ms).
            "fetch.wait.max.ms": 100,
        }

    def consumer(self) -> confluent_kafka.Consumer:
        if self.client_id:
            import gcn_kafka

            return gcn_kafka.Consumer(
                self.consumer_config(), client_id=self.client_id, client_secret=self.client_secret
            )
        if not self.bootstrap_servers:
            raise ValueError("set KAFKA_CLIENT_ID/KAFKA_CLIENT_SECRET (GCN) or KAFKA_BOOTSTRAP_SERVERS")
        return confluent_kafka.Consumer({"bootstrap.servers": self.bootstrap_servers, **self.consumer_config()})
