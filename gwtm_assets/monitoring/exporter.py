"""``gwtm-cron metrics``: the listeners' Prometheus metrics, read at each scrape from outside the alert path.

An exporter process next to the daemon. Each scrape reads the brokers
(reachability, heartbeat and newest-notice ages, the sensors' group lag), the
Dagster instance's event log from where the last scrape stopped (landings,
records posted and failed, produce-to-record latency), the failed partitions
the recovery sensor will retry, and the run-worker pool. Nothing here runs in a
sensor, a run or the pool: a slow broker or instance slows a scrape, never a
notice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from dagster import AssetKey, DagsterEventType, DagsterInstance
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from ..sensors.kafka import KafkaConsumerResource
from ..settings import GWTMSettings
from .streams import TopicState, read_stream, stream_status

logger = logging.getLogger(__name__)

#: Produce -> record latency buckets (s): sub-second is the goal, a minute is an alert.
LATENCY_BUCKETS_S = (0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)
LANDED_ASSETS = {"incoming_gw_notice": "ligo", "incoming_icecube_notice": "icecube"}
RECORD_ASSETS = {"api_record": "post_alert", "icecube_record": "post_icecube_notice"}
#: What the exporter's kept consumers are kept for (``KEPT_CONSUMERS``: one per broker, closed at exit).
METRICS_CONSUMER = "metrics"
#: How often the exporter reads the brokers (in a thread: a scrape answers from the last reading).
BROKER_REFRESH_S = 5.0
#: Events read from the instance per scrape and kind (the rest at the next scrape).
EVENTS_PER_SCRAPE = 5000


@dataclass(frozen=True)
class WatchedTopic:
    """A topic the exporter reports on, through which broker, and the heartbeat topic beside it ("" for none)."""

    kafka: KafkaConsumerResource
    topic: str
    source: str
    heartbeat_topic: str = ""


@dataclass
class EventTotals:
    """What the instance's event log said so far, and where to go on from."""

    landed: dict[str, int] = field(default_factory=dict)
    posted: dict[str, int] = field(default_factory=dict)
    failed: dict[tuple[str, str], int] = field(default_factory=dict)
    latency_counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS_S) + 1))
    latency_sum_s: float = 0.0
    last_landed_s: float = 0.0
    last_record_s: float = 0.0
    cursors: dict[str, Any] = field(default_factory=dict)

    def observe_latency(self, seconds: float) -> None:
        for i, bound in enumerate(LATENCY_BUCKETS_S):
            if seconds <= bound:
                self.latency_counts[i] += 1
                break
        else:
            self.latency_counts[-1] += 1
        self.latency_sum_s += seconds


class ListenerCollector(Collector):
    """The metrics of README "Monitoring"; see the module docstring."""

    def __init__(
        self,
        instance: DagsterInstance,
        topics: Iterable[WatchedTopic],
        *,
        heartbeat_max_age_s: float,
        recovery_max_attempts: int,
        pool_address: str = "",
        pool_token: str = "",
        quarantine_count: Any = None,
        broker_timeout_s: float = 3.0,
    ) -> None:
        self.instance = instance
        self.topics = list(topics)
        self.heartbeat_max_age_s = heartbeat_max_age_s
        self.recovery_max_attempts = recovery_max_attempts
        self.pool_address = pool_address
        self.pool_token = pool_token
        self.quarantine_count = quarantine_count
        self.broker_timeout_s = broker_timeout_s
        self.totals = EventTotals()
        self._snapshot: list[tuple[WatchedTopic, TopicState, TopicState | None]] = []
        self._refresher: threading.Thread | None = None
        self._stopping = threading.Event()
        self._down: set[tuple[str, str]] = set()
        self._closers: list[Callable[[], object]] = []

    def collect(self) -> Iterator[Metric]:
        """Every part that can be read; a part that fails (the instance's database, the store) is logged and left
        out of this scrape, so the others, the stream's state first, still reach Prometheus."""
        for part in (self._stream_metrics, self._event_metrics, self._partition_metrics, self._pool_metrics):
            try:
                metrics = list(part())
            except Exception:  # noqa: BLE001 -- one unreadable source must not blank the whole scrape
                logger.exception("metrics: %s failed; left out of this scrape", part.__name__.strip("_"))
                continue
            yield from metrics

    def on_close(self, action: Callable[[], object]) -> None:
        """Something to do when the collector closes (the store it reads)."""
        self._closers.append(action)

    # Brokers
    def read_brokers(self) -> list[tuple[WatchedTopic, TopicState, TopicState | None]]:
        """Every watched topic's state and its heartbeat's, from the brokers (up to ``broker_timeout_s`` each), through
        one reading consumer per broker kept for the process's life (GCN's token and TLS once; never committing)."""
        states = []
        for watched in self.topics:
            consumer = watched.kafka.kept_consumer(METRICS_CONSUMER)
            states.append(
                (watched, *read_stream(consumer, watched.topic, watched.heartbeat_topic, self.broker_timeout_s))
            )
        return states

    def refresh_in_background(self, interval_s: float) -> None:
        """Read the brokers every ``interval_s`` in a thread, so a scrape answers at once whatever the brokers do
        (an unreachable broker costs seconds, a scrape must answer within Prometheus's scrape timeout)."""
        self._snapshot = self.read_brokers()

        def refresh() -> None:
            while not self._stopping.wait(interval_s):
                try:
                    self._snapshot = self.read_brokers()
                except Exception:  # noqa: BLE001 -- the thread must outlive a bad read; the next one tries again
                    logger.exception("reading the brokers failed")

        self._refresher = threading.Thread(target=refresh, name="gwtm-metrics-brokers", daemon=True)
        self._refresher.start()

    def _broker_states(self) -> list[tuple[WatchedTopic, TopicState, TopicState | None]]:
        return self._snapshot if self._refresher is not None else self.read_brokers()

    def _log_transition(self, watched: WatchedTopic, status: str, why: str) -> None:
        """One line when a stream goes down and one when it is back, not one per scrape."""
        key = (watched.topic, watched.source)
        if status == "down" and key not in self._down:
            self._down.add(key)
            logger.error("stream %s (%s) is down: %s", watched.topic, watched.source, why)
        elif status != "down" and key in self._down:
            self._down.discard(key)
            logger.warning("stream %s (%s) is back: %s", watched.topic, watched.source, why)

    def _stream_metrics(self) -> Iterator[Metric]:
        now = time.time()
        up = GaugeMetricFamily("gwtm_stream_up", "1 when the topic's broker answers.", labels=["topic", "source"])
        down = GaugeMetricFamily(
            "gwtm_stream_down",
            "1 when the stream is down: its broker does not answer or no heartbeat came for HEARTBEAT_MAX_AGE_S.",
            labels=["topic", "source"],
        )
        quiet = GaugeMetricFamily(
            "gwtm_stream_quiet", "1 when heartbeats come and notices do not (over an hour).", labels=["topic", "source"]
        )
        heartbeat_age = GaugeMetricFamily(
            "gwtm_heartbeat_age_seconds", "Seconds since the newest heartbeat message.", labels=["topic", "source"]
        )
        notice_age = GaugeMetricFamily(
            "gwtm_last_notice_age_seconds", "Seconds since the newest message of the topic.", labels=["topic", "source"]
        )
        lag = GaugeMetricFamily(
            "gwtm_consumer_lag_messages",
            "High watermark minus the sensors' committed offset, summed over the topic's partitions.",
            labels=["topic", "source"],
        )
        for watched, state, heartbeat in self._broker_states():
            labels = [watched.topic, watched.source]
            if heartbeat is not None and (age := heartbeat.age_s(now)) is not None:
                heartbeat_age.add_metric([watched.heartbeat_topic, watched.source], age)
            status, why = stream_status(state, heartbeat, now, self.heartbeat_max_age_s)
            self._log_transition(watched, status, why)
            up.add_metric(labels, 1.0 if state.reachable else 0.0)
            down.add_metric(labels, 1.0 if status == "down" else 0.0)
            quiet.add_metric(labels, 1.0 if status == "quiet" else 0.0)
            if (age := state.age_s(now)) is not None:
                notice_age.add_metric(labels, age)
            if state.lag is not None:
                lag.add_metric(labels, state.lag)
        yield from (up, down, quiet, heartbeat_age, notice_age, lag)

    # The instance's event log
    def _materializations(self, asset: str) -> list[Any]:
        cursor = self.totals.cursors.get(asset)
        result = self.instance.fetch_materializations(
            AssetKey(asset), limit=EVENTS_PER_SCRAPE, cursor=cursor, ascending=True
        )
        self.totals.cursors[asset] = result.cursor
        return list(result.records)

    def _refresh_events(self) -> None:
        totals = self.totals
        for asset, listener in LANDED_ASSETS.items():
            for record in self._materializations(asset):
                totals.landed[listener] = totals.landed.get(listener, 0) + 1
                totals.last_landed_s = max(totals.last_landed_s, record.timestamp)
        for asset, endpoint in RECORD_ASSETS.items():
            for record in self._materializations(asset):
                materialization = record.asset_materialization
                # A record run names how many records it posted (one with an external coincidence is two; a re-run
                # that found them posted, none); a run that does not say posted one.
                count = materialization.metadata.get("records_posted") if materialization else None
                posted_now = int(count.value) if count is not None and isinstance(count.value, int) else 1
                totals.posted[endpoint] = totals.posted.get(endpoint, 0) + posted_now
                totals.last_record_s = max(totals.last_record_s, record.timestamp)
                latency = materialization.metadata.get("produce_to_record_s") if materialization else None
                if latency is not None and isinstance(latency.value, int | float):
                    totals.observe_latency(float(latency.value))
        failed_runs = self.instance.fetch_run_status_changes(
            DagsterEventType.RUN_FAILURE,
            limit=EVENTS_PER_SCRAPE,
            cursor=totals.cursors.get("run_failures"),
            ascending=True,
        )
        totals.cursors["run_failures"] = failed_runs.cursor
        for run in failed_runs.records:
            for record in self.instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_FAILURE):
                event = record.dagster_event
                failure = event.step_failure_data.user_failure_data if event is not None else None
                metadata = failure.metadata if failure is not None else {}
                called = metadata.get("endpoint")
                if called is None:
                    continue
                status = metadata.get("http_status")
                label = (str(called.value), str(status.value) if status is not None and status.value != -1 else "none")
                totals.failed[label] = totals.failed.get(label, 0) + 1

    def _event_metrics(self) -> Iterator[Metric]:
        self._refresh_events()
        totals = self.totals
        landed = CounterMetricFamily("gwtm_notices_landed", "Notices landed, by listener.", labels=["listener"])
        for listener in LANDED_ASSETS.values():
            landed.add_metric([listener], totals.landed.get(listener, 0))
        yield landed
        if self.quarantine_count is not None:
            quarantined = CounterMetricFamily("gwtm_notices_quarantined", "Messages quarantined (fit/quarantine/).")
            quarantined.add_metric([], self.quarantine_count())
            yield quarantined
        posted = CounterMetricFamily(
            "gwtm_records_posted", "Records posted to the GWTM API, by endpoint.", labels=["endpoint"]
        )
        for endpoint in RECORD_ASSETS.values():
            posted.add_metric([endpoint], totals.posted.get(endpoint, 0))
        yield posted
        failed = CounterMetricFamily(
            "gwtm_records_failed", "GWTM API requests that failed a step, by endpoint and HTTP status.",
            labels=["endpoint", "status"],
        )  # fmt: skip
        for (endpoint, status), count in sorted(totals.failed.items()):
            failed.add_metric([endpoint, status], count)
        yield failed
        latency = HistogramMetricFamily(
            "gwtm_produce_to_record_seconds", "From a notice's time_created to its record posted."
        )
        cumulative, buckets = 0, []
        for bound, count in zip((*LATENCY_BUCKETS_S, float("inf")), totals.latency_counts, strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        latency.add_metric([], buckets, totals.latency_sum_s)
        yield latency
        for name, value, help_text in (
            ("gwtm_last_landed_timestamp_seconds", totals.last_landed_s, "When the newest notice was landed."),
            ("gwtm_last_record_timestamp_seconds", totals.last_record_s, "When the newest record run materialized."),
        ):
            gauge = GaugeMetricFamily(name, help_text)
            gauge.add_metric([], value)
            yield gauge

    # Failed partitions
    def _partition_metrics(self) -> Iterator[Metric]:
        from ..sensors.recovery import JOBS, failed_partitions

        failed = GaugeMetricFamily(
            "gwtm_partitions_failed", "Partitions whose latest run failed (retryable or not).", labels=["job"]
        )
        waiting = GaugeMetricFamily(
            "gwtm_partitions_awaiting_recovery", "Failed partitions the recovery sensor will try again.", labels=["job"]
        )
        oldest = GaugeMetricFamily(
            "gwtm_oldest_failed_partition_age_seconds", "Age of the oldest partition whose latest run failed."
        )
        now, oldest_s = time.time(), 0.0
        for job in JOBS:
            found = failed_partitions(self.instance, job.name, retryable_only=False)
            failed.add_metric([job.name], len(found))
            waiting.add_metric(
                [job.name], sum(1 for f in found if f.retryable and f.failures < self.recovery_max_attempts)
            )
            for partition in found:
                oldest_s = max(oldest_s, now - partition.last_failed)
        oldest.add_metric([], oldest_s)
        yield from (failed, waiting, oldest)

    # The run-worker pool
    def _pool_metrics(self) -> Iterator[Metric]:
        if not self.pool_address:
            return
        from ..runtime.run_workers import PoolUnavailable, RunWorkerPoolClient

        up = GaugeMetricFamily("gwtm_run_workers_up", "1 when the run-worker pool answers.")
        busy = GaugeMetricFamily("gwtm_run_workers_busy", "Runs the pool's workers are executing now.")
        try:
            answer = RunWorkerPoolClient(self.pool_address, timeout_s=2.0, token=self.pool_token).ping()
        except PoolUnavailable:
            up.add_metric([], 0.0)
        else:
            up.add_metric([], 1.0)
            busy.add_metric([], float(answer.get("workers", 0)))
        yield from (up, busy)

    def close(self) -> None:
        self._stopping.set()
        if self._refresher is not None:
            self._refresher.join(timeout=10)
        for action in self._closers:
            action()


def build_collector(settings: GWTMSettings, instance: DagsterInstance, pool_address: str = "") -> ListenerCollector:
    """The collector for the deployment ``settings`` describe: the enabled listeners' topics on every configured
    broker, the heartbeat beside GCN's, the quarantine of the configured storage."""
    from ..resources.builders import build_storage, hopskotch_resource, kafka_resource
    from ..resources.storage import opened_store

    # Their secrets resolved from the environment, as Dagster does when it initialises them for a sensor or run.
    kafka = kafka_resource(settings).process_config_and_initialize()
    hop = hopskotch_resource(settings).process_config_and_initialize()
    topics = []
    if kafka.configured:
        for listener, topic in (("ligo", settings.kafka_ligo_topic), ("icecube", settings.kafka_icecube_topic)):
            if listener in settings.enabled_listeners:
                topics.append(WatchedTopic(kafka, topic, "kafka", settings.heartbeat_topic))
    if hop.configured and "ligo" in settings.enabled_listeners:
        topics.append(WatchedTopic(hop, hop.topic, "hopskotch"))
    # The store opened once for the exporter's life, its secrets resolved from the environment (no Dagster run
    # resolves the EnvVars here); a Swift store authenticates once, not at every scrape.
    exits = ExitStack()
    store = exits.enter_context(opened_store(build_storage(settings)))

    def quarantined() -> int:
        return sum(1 for o in store.list("fit/quarantine/") if o.key.endswith(".reason.txt"))

    collector = ListenerCollector(
        instance,
        topics,
        heartbeat_max_age_s=settings.heartbeat_max_age_s,
        recovery_max_attempts=settings.recovery_max_attempts,
        pool_address=pool_address,
        pool_token=settings.run_workers_token,
        quarantine_count=quarantined,
    )
    collector.on_close(exits.close)
    return collector


def parse_listen(listen: str) -> tuple[str, int]:
    """``HOST:PORT`` (``:PORT`` for every interface)."""
    host, _, port = listen.rpartition(":")
    if not port.isdigit():
        raise ValueError("not HOST:PORT")
    return host or "0.0.0.0", int(port)


def serve(listen: str, collector: ListenerCollector) -> None:
    """Serve ``/metrics`` on ``listen`` until SIGTERM or SIGINT."""
    import signal
    import threading

    from prometheus_client import CollectorRegistry, start_http_server

    collector.refresh_in_background(BROKER_REFRESH_S)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    host, port = parse_listen(listen)
    server, thread = start_http_server(port, addr=host, registry=registry)
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    logger.info("metrics at http://%s:%d/metrics", host, port)
    try:
        stopped.wait()
    finally:
        server.shutdown()
        thread.join(timeout=5)
        collector.close()
