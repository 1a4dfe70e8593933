"""Quiet or down, in the UI: the ``stream_alive`` check of each incoming-notice asset, evaluated every 30 s.

``stream_health_sensor`` reads each notice topic and its heartbeat
(``monitoring/streams.py``) and records the check's result with the last
heartbeat, the last notice and the sensors' lag as metadata; the same check
runs on demand from the asset's page. A down stream fails the check (severity
ERROR); a quiet one passes, saying so. It reads with consumers of its own, so
it never sits between a notice and its record.
"""

import json
import time
from datetime import UTC, datetime

from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    DefaultSensorStatus,
    MetadataValue,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    multi_asset_check,
    sensor,
)

from ..monitoring.streams import read_stream, stream_status
from ..resources.notify import NotifierResource
from .hopskotch import HopskotchConsumerResource
from .kafka import KafkaConsumerResource

STREAM_CHECK = "stream_alive"
LANDED_ASSETS = {"ligo": "incoming_gw_notice", "icecube": "incoming_icecube_notice"}
BROKER_TIMEOUT_S = 3.0


def _when(seconds: float | None) -> MetadataValue:
    text = "never" if seconds is None else datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return MetadataValue.text(text)


def stream_results(
    topics: dict[str, list[tuple[str, KafkaConsumerResource, str]]],
    heartbeat_topic: str,
    heartbeat_max_age_s: float,
) -> list[AssetCheckResult]:
    """One ``stream_alive`` result per listener: down if any of its brokers is down (the metadata says which).

    ``topics`` maps a listener to its ``(source, consumer resource, topic)`` list.
    """
    now = time.time()
    results = []
    for listener, watched in topics.items():
        statuses: list[str] = []
        metadata: dict[str, MetadataValue] = {}
        for source, kafka, topic in watched:
            consumer = kafka.kept_consumer(f"{STREAM_CHECK}:{source}")
            state, heartbeat = read_stream(
                consumer, topic, heartbeat_topic if source == "kafka" else "", BROKER_TIMEOUT_S
            )
            if not state.reachable:
                kafka.discard_consumer(f"{STREAM_CHECK}:{source}")
            status, why = stream_status(state, heartbeat, now, heartbeat_max_age_s)
            statuses.append(status)
            metadata |= {
                f"{source}_state": MetadataValue.text(f"{status}: {why}"),
                f"{source}_last_notice": _when(state.newest_message_s),
                f"{source}_lag": MetadataValue.int(state.lag) if state.lag is not None else MetadataValue.text("?"),
            }
            if heartbeat is not None:
                metadata[f"{source}_last_heartbeat"] = _when(heartbeat.newest_message_s)
        # Two brokers carry the same alerts: the stream is down only when all are; one down is a warning.
        down = bool(statuses) and all(s == "down" for s in statuses)
        results.append(
            AssetCheckResult(
                asset_key=AssetKey(LANDED_ASSETS[listener]),
                check_name=STREAM_CHECK,
                passed=not down,
                severity=AssetCheckSeverity.ERROR if down else AssetCheckSeverity.WARN,
                metadata={"state": MetadataValue.text(_overall(statuses)), **metadata},
            )
        )
    return results


def _overall(statuses: list[str]) -> str:
    if not statuses:
        return "no broker configured"
    for state in ("up", "quiet"):
        if state in statuses:
            return state if all(s != "down" for s in statuses) else f"{state} (a broker is down)"
    return "down"


def _notify(notifier: NotifierResource, change: str, asset: str, evaluation: AssetCheckEvaluation) -> None:
    """One message per outage: when a stream goes down (the cursor remembers it) and when it is back."""
    if not notifier.configured:
        return
    listener = next(name for name, landed in LANDED_ASSETS.items() if landed == asset)
    details = "\n".join(f"{k}: {getattr(v, 'value', v)}" for k, v in evaluation.metadata.items())
    subject = f"{listener} notice stream {'DOWN' if change == 'down' else 'back'}"
    link = notifier.link(f"assets/{asset}?view=checks")
    notifier.send(subject, f"{details}\nCheck: {link}")


def _watched(
    kafka: KafkaConsumerResource,
    hopskotch: HopskotchConsumerResource,
    ligo_topic: str,
    icecube_topic: str,
    listeners: set[str] | frozenset[str],
) -> dict[str, list[tuple[str, KafkaConsumerResource, str]]]:
    topics: dict[str, list[tuple[str, KafkaConsumerResource, str]]] = {}
    if "ligo" in listeners:
        topics["ligo"] = [("kafka", kafka, ligo_topic)] if kafka.configured else []
        if hopskotch.configured:
            topics["ligo"].append(("hopskotch", hopskotch, hopskotch.topic))
    if "icecube" in listeners and kafka.configured:
        topics["icecube"] = [("kafka", kafka, icecube_topic)]
    return {listener: watched for listener, watched in topics.items() if watched}


def build_stream_health(
    configured: bool,
    ligo_topic: str,
    icecube_topic: str,
    heartbeat_topic: str,
    heartbeat_max_age_s: float,
    listeners: set[str] | frozenset[str] = frozenset({"ligo", "icecube"}),
) -> tuple[AssetChecksDefinition, SensorDefinition]:
    """The ``stream_alive`` checks and the sensor that evaluates them every 30 s (running when a broker is set)."""
    specs = [
        AssetCheckSpec(STREAM_CHECK, asset=asset, description="The notice stream is up or quiet, not down.")
        for asset in LANDED_ASSETS.values()
    ]

    @multi_asset_check(specs=specs, name="stream_alive_checks")
    def stream_alive_checks(
        context: AssetCheckExecutionContext, kafka: KafkaConsumerResource, hopskotch: HopskotchConsumerResource
    ):
        """Whether each notice stream is up, quiet or down, now (what stream_health_sensor records every 30 s)."""
        watched = _watched(kafka, hopskotch, ligo_topic, icecube_topic, listeners)
        yield from stream_results(watched, heartbeat_topic, heartbeat_max_age_s)

    @sensor(
        name="stream_health_sensor",
        minimum_interval_seconds=30,
        default_status=DefaultSensorStatus.RUNNING if configured else DefaultSensorStatus.STOPPED,
    )
    def stream_health_sensor(
        context: SensorEvaluationContext,
        kafka: KafkaConsumerResource,
        hopskotch: HopskotchConsumerResource,
        notifier: NotifierResource,
    ):
        """Records whether each notice stream is up, quiet or down (the stream_alive checks), with the last
        heartbeat and notice; notifies once when a stream goes down and once when it is back."""
        watched = _watched(kafka, hopskotch, ligo_topic, icecube_topic, listeners)
        evaluations = [
            AssetCheckEvaluation(
                asset_key=result.asset_key,
                check_name=STREAM_CHECK,
                passed=result.passed,
                severity=result.severity,
                metadata=result.metadata,
            )
            for result in stream_results(watched, heartbeat_topic, heartbeat_max_age_s)
            if result.asset_key is not None
        ]
        was_down = set(json.loads(context.cursor)["down"]) if context.cursor else set()
        down = {e.asset_key.to_user_string() for e in evaluations if not e.passed}
        if down:
            context.log.error("stream down: %s", ", ".join(sorted(down)))
        by_asset = {e.asset_key.to_user_string(): e for e in evaluations}
        for asset in sorted(down - was_down):
            _notify(notifier, "down", asset, by_asset[asset])
        for asset in sorted(was_down - down):
            if asset in by_asset:
                _notify(notifier, "back", asset, by_asset[asset])
        return SensorResult(asset_events=evaluations, cursor=json.dumps({"down": sorted(down)}))

    return stream_alive_checks, stream_health_sensor
