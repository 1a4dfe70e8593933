"""TCP connections a sensor opens to the broker while the stream is idle: a consumer per tick vs one kept.

Ticks the LIGO sensor back to back (each idle tick long-polls 4.3 s, as the
daemon's 5 s loop does) for ``--seconds`` against a real Kafka-protocol broker
(Tansu) on loopback, once making and closing a consumer every tick (what every
tick did before) and once with the kept consumer, and prints the connections
seen (sampled every 20 ms) and the ticks made.

    python benchmarks/bench_broker_connections.py [--seconds 60]
"""

import argparse
import tempfile
import time

from dagster import DagsterInstance, build_sensor_context

from gwtm_assets.devtools.tansu import TansuBroker
from gwtm_assets.resources.builders import build_resources
from gwtm_assets.sensors.kafka import KafkaConsumerResource
from gwtm_assets.sensors.landing import build_sensors
from gwtm_assets.settings import GWTMSettings


def idle_run(broker: TansuBroker, topic: str, seconds: float, reconnect_each_tick: bool) -> tuple[int, int]:
    """(connections, ticks) during ``seconds`` of idle ticks."""
    kafka = KafkaConsumerResource(bootstrap_servers=broker.bootstrap, group_id=f"bench-{reconnect_each_tick}")
    with tempfile.TemporaryDirectory() as storage:
        resources = build_resources(GWTMSettings(local_storage_dir=storage)) | {"kafka": kafka}
        sensor, _ = build_sensors(True, ligo_topic=topic)
        instance = DagsterInstance.ephemeral()
        ticks = 0

        def tick_until_deadline() -> None:
            nonlocal ticks
            cursor, deadline = None, time.monotonic() + seconds
            while time.monotonic() < deadline:
                with build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
                    cursor = sensor(context).cursor
                ticks += 1
                if reconnect_each_tick:
                    kafka.discard_consumer(f"incoming_gw_notice:{topic}")

        connections = broker.connections_during(tick_until_deadline)
        kafka.discard_consumer(f"incoming_gw_notice:{topic}")
    return connections, ticks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    broker = TansuBroker()
    try:
        topic = "igwn.gwalert.idle"
        broker.create_topic(topic)
        before, before_ticks = idle_run(broker, topic, args.seconds, reconnect_each_tick=True)
        after, after_ticks = idle_run(broker, topic, args.seconds, reconnect_each_tick=False)
    finally:
        broker.stop()
    print("| sensor (one) | idle s | ticks | broker connections | per tick |\n|---|---|---|---|---|")
    print(
        f"| consumer per tick (before) | {args.seconds:.0f} | {before_ticks} | {before} | {before / before_ticks:.1f} |"
    )
    print(f"| kept consumer (after) | {args.seconds:.0f} | {after_ticks} | {after} | {after / after_ticks:.2f} |")
    print(f"ratio before/after: {before / max(after, 1):.1f}x")


if __name__ == "__main__":
    main()
