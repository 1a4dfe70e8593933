"""Quiet vs down, the metrics, the alert rules (promtool) and a real Prometheus firing "stream down"."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from dagster import DagsterInstance, build_sensor_context, materialize
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gwtm_assets.assets import LIGO_ASSETS
from gwtm_assets.devtools.tansu import TansuBroker, free_port
from gwtm_assets.jobs import LIGO_RECORD_ASSETS
from gwtm_assets.monitoring.exporter import ListenerCollector, WatchedTopic
from gwtm_assets.monitoring.streams import TopicState, stream_status
from gwtm_assets.notices.ligo import parse_ligo_notice
from gwtm_assets.resources.builders import build_resources
from gwtm_assets.sensors.health import build_stream_health
from gwtm_assets.sensors.kafka import KafkaConsumerResource

from .conftest import sample

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "deploy" / "prometheus"
NOW = 1_800_000_000.0


def test_quiet_is_not_down_and_down_is_said_why():
    notices = TopicState("igwn.gwalert", True, True, newest_message_s=NOW - 30)
    fresh = TopicState("gcn.heartbeat", True, True, newest_message_s=NOW - 1)
    assert stream_status(notices, fresh, NOW, 120)[0] == "up"
    quiet = TopicState("igwn.gwalert", True, True, newest_message_s=NOW - 7200)
    assert stream_status(quiet, fresh, NOW, 120) == ("quiet", "no notice for over an hour")
    assert stream_status(TopicState("igwn.gwalert", True, False), fresh, NOW, 120)[0] == "quiet"
    stale = TopicState("gcn.heartbeat", True, True, newest_message_s=NOW - 121)
    assert stream_status(notices, stale, NOW, 120) == (
        "down",
        "last heartbeat on gcn.heartbeat 121 s ago (> 120 s)",
    )
    assert stream_status(notices, TopicState("gcn.heartbeat", True, False), NOW, 120)[0] == "down"
    gone = TopicState("igwn.gwalert", False, error="Local: Broker transport failure")
    assert stream_status(gone, None, NOW, 120) == ("down", "broker unreachable: Local: Broker transport failure")
    # Without a heartbeat topic (a plain broker), reachable is enough.
    assert stream_status(notices, None, NOW, 120)[0] == "up"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian's prometheus) not installed")
def test_alert_rules_pass_their_promtool_tests():
    checked = subprocess.run(["promtool", "check", "rules", "gwtm-rules.yaml"], cwd=RULES, capture_output=True,
                             text=True, check=False)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(["promtool", "test", "rules", "gwtm-rules.test.yaml"], cwd=RULES, capture_output=True,
                            text=True, check=False)  # fmt: skip
    assert tested.returncode == 0, tested.stdout + tested.stderr


def _metrics(collector: ListenerCollector) -> dict[str, float]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    values = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            values[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return values


class Heartbeat:
    """GCN's heartbeat, stood in for: a message on ``gcn.heartbeat`` every second."""

    def __init__(self, broker: TansuBroker, topic: str = "gcn.heartbeat") -> None:
        from confluent_kafka import Producer

        self._producer = Producer({"bootstrap.servers": broker.bootstrap, "message.timeout.ms": 2000})
        self._topic = topic
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.is_set():
            self._producer.produce(self._topic, json.dumps({"alert_datetime": time.time()}).encode())
            self._producer.poll(0)
            self._producer.flush(1)
            self._stop.wait(1)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@pytest.mark.servers
def test_stream_check_and_metrics_follow_the_broker_and_the_records(settings, api_server):
    broker = TansuBroker()
    heartbeat = None
    try:
        for topic in ("igwn.gwalert", "gcn.heartbeat"):
            broker.create_topic(topic)
        raw = sample("MS181101ab-preliminary").read_bytes()
        broker.produce("igwn.gwalert", [raw])
        heartbeat = Heartbeat(broker)
        time.sleep(1.5)
        kafka = KafkaConsumerResource(bootstrap_servers=broker.bootstrap, group_id="g-mon")
        resources = build_resources(settings) | {"kafka": kafka}
        _, health_sensor = build_stream_health(True, "igwn.gwalert", "icecube.none", "gcn.heartbeat", 120, {"ligo"})
        instance = DagsterInstance.ephemeral()

        with build_sensor_context(instance=instance, resources=resources) as context:
            [evaluation] = health_sensor(context).asset_events
        assert evaluation.passed and evaluation.asset_key.to_user_string() == "incoming_gw_notice"
        assert evaluation.metadata["state"].value == "up"
        assert evaluation.metadata["kafka_last_heartbeat"].value.endswith("UTC")

        collector = ListenerCollector(
            instance, [WatchedTopic(kafka, "igwn.gwalert", "kafka", "gcn.heartbeat")],
            heartbeat_max_age_s=120, recovery_max_attempts=12,
        )  # fmt: skip
        before = _metrics(collector)
        labels = "{source=kafka,topic=igwn.gwalert}"
        assert before[f"gwtm_stream_up{labels}"] == 1 and before[f"gwtm_stream_down{labels}"] == 0
        assert before["gwtm_heartbeat_age_seconds{source=kafka,topic=gcn.heartbeat}"] < 5
        assert before["gwtm_produce_to_record_seconds_count"] == 0

        # A notice through its record run: landed, posted, and its latency observed once.
        key = parse_ligo_notice(raw).partition_key
        store = resources["product_storage"].object_store()
        from gwtm_assets.notices.history import land

        land(store, parse_ligo_notice(raw))
        instance.add_dynamic_partitions("gw_alerts", [key])
        assert materialize(
            LIGO_ASSETS, selection=LIGO_RECORD_ASSETS, partition_key=key, instance=instance, resources=resources
        ).success
        after = _metrics(collector)
        assert after["gwtm_records_posted_total{endpoint=post_alert}"] == 1
        assert after["gwtm_produce_to_record_seconds_count"] == 1
        # The sample was made in 2018: its produce-to-record time lies beyond the last bucket.
        assert after["gwtm_produce_to_record_seconds_bucket{le=600.0}"] == 0
        assert after["gwtm_last_record_timestamp_seconds"] > time.time() - 120

        heartbeat.stop()
        broker.stop()
        down = _metrics(collector)
        assert down[f"gwtm_stream_up{labels}"] == 0 and down[f"gwtm_stream_down{labels}"] == 1
        with build_sensor_context(instance=instance, resources=resources) as context:
            [evaluation] = health_sensor(context).asset_events
        assert not evaluation.passed and evaluation.metadata["state"].value == "down"
        assert "broker unreachable" in evaluation.metadata["kafka_state"].value
        collector.close()
    finally:
        if heartbeat is not None:
            heartbeat.stop()
        broker.stop()


def _prometheus(workdir: Path, target: str, port: int) -> subprocess.Popen:
    shutil.copy(RULES / "gwtm-rules.yaml", workdir / "gwtm-rules.yaml")
    (workdir / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "rule_files: [gwtm-rules.yaml]\n"
        f"scrape_configs:\n  - job_name: gwtm\n    static_configs:\n      - targets: ['{target}']\n"
    )
    return subprocess.Popen(
        ["prometheus", f"--config.file={workdir / 'prometheus.yml'}", f"--storage.tsdb.path={workdir / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=open(workdir / "prometheus.log", "wb"),
    )  # fmt: skip


def _firing(port: int) -> set[str]:
    alerts = requests.get(f"http://127.0.0.1:{port}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    return {a["labels"]["alertname"] for a in alerts if a["state"] == "firing"}


def _wait(condition, timeout_s: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        try:
            if condition():
                return time.monotonic() - started
        except (requests.RequestException, IndexError, KeyError):
            pass  # not answering yet, or no target loaded yet
        time.sleep(1)
    raise AssertionError(f"{what}: not within {timeout_s:.0f} s")


@pytest.mark.servers
@pytest.mark.skipif(shutil.which("prometheus") is None, reason="Debian's prometheus not installed")
def test_prometheus_fires_stream_down_when_the_broker_stops_and_clears_when_it_is_back(tmp_path, api_server):
    """The listeners on one host (daemon, warm pool, exporter), a broker with a heartbeat, Debian's Prometheus with
    the shipped rules: a notice is recorded and counted; the broker stops: GWTMStreamDown fires; back: it clears."""
    from gwtm_assets.devtools.daemon import DagsterDaemon, wait_for

    from .conftest import ADMIN_TOKEN

    broker = TansuBroker()
    for topic in ("igwn.gwalert", "gcn.heartbeat"):
        broker.create_topic(topic)
    heartbeat = Heartbeat(broker)
    env = {"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "KAFKA_OFFSET_RESET": "earliest", "KAFKA_GROUP_ID": "g-prom",
           "KAFKA_HEARTBEAT_TOPIC": "gcn.heartbeat", "LISTENERS": "ligo", "API_BASE": api_server.base,
           "API_TOKEN": ADMIN_TOKEN, "STORAGE_BUCKET_SOURCE": "local", "LOCAL_STORAGE_DIR": str(tmp_path / "data")}  # fmt: skip
    daemon = DagsterDaemon(tmp_path / "home", env).start()
    exporter_port, prometheus_port = free_port(), free_port()
    exporter = subprocess.Popen(
        [str(Path(sys.executable).parent / "gwtm-cron"), "metrics", "--listen", f"127.0.0.1:{exporter_port}"],
        env=daemon.env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "exporter.log", "wb"),
    )  # fmt: skip
    prometheus = _prometheus(tmp_path, f"127.0.0.1:{exporter_port}", prometheus_port)
    try:
        broker.produce("igwn.gwalert", [sample("S230518h-preliminary").read_bytes()])
        wait_for(lambda: api_server.state.posted("post_alert"), 180, "the daemon's record of the notice")
        _wait(lambda: requests.get(f"http://127.0.0.1:{prometheus_port}/api/v1/targets", timeout=5).json()["data"]
              ["activeTargets"][0]["health"] == "up", 60, "Prometheus scraping the exporter")  # fmt: skip

        def scraped() -> str:
            return requests.get(f"http://127.0.0.1:{exporter_port}/metrics", timeout=10).text

        _wait(lambda: 'gwtm_records_posted_total{endpoint="post_alert"} 1.0' in scraped(), 30, "the record counted")
        assert 'gwtm_notices_landed_total{listener="ligo"} 1.0' in scraped()
        assert "GWTMStreamDown" not in _firing(prometheus_port)
        heartbeat.stop()
        broker.stop()
        fired_after = _wait(lambda: "GWTMStreamDown" in _firing(prometheus_port), 90, "GWTMStreamDown firing")
        print(f"GWTMStreamDown fired {fired_after:.0f} s after the broker stopped (rule: for 30s)")
        broker.start()
        for topic in ("igwn.gwalert", "gcn.heartbeat"):
            broker.create_topic(topic)  # an in-memory broker comes back empty
        heartbeat = Heartbeat(broker)
        cleared_after = _wait(lambda: "GWTMStreamDown" not in _firing(prometheus_port), 60, "GWTMStreamDown clearing")
        print(f"GWTMStreamDown cleared {cleared_after:.0f} s after the broker was back")
        metrics = scraped()
        assert 'gwtm_stream_down{source="kafka",topic="igwn.gwalert"} 0.0' in metrics
        assert "gwtm_run_workers_up" not in metrics  # RUN_WORKERS_ADDRESS unset: the pool is not reported on
    finally:
        heartbeat.stop()
        for process in (prometheus, exporter):
            process.terminate()
            process.wait(timeout=15)
        daemon.stop_all()
        broker.stop()


@pytest.mark.servers
def test_the_exporter_reads_a_store_whose_secrets_are_in_the_environment(monkeypatch, tmp_path):
    """As deployed: AWS_SECRET_ACCESS_KEY in the environment (an EnvVar for Dagster, which no run resolves here)."""
    import boto3

    from gwtm_assets.monitoring.exporter import build_collector
    from gwtm_assets.settings import GWTMSettings

    from .storage_servers import MotoS3Server

    s3 = MotoS3Server()
    try:
        env = {"STORAGE_BUCKET_SOURCE": "s3", "AWS_ENDPOINT_URL": s3.endpoint_url, "AWS_BUCKET": "gwtm-metrics",
               "AWS_ACCESS_KEY_ID": "metrics-key", "AWS_SECRET_ACCESS_KEY": "metrics-secret",
               "AWS_DEFAULT_REGION": "us-east-1", "LOCAL_STORAGE_DIR": str(tmp_path)}  # fmt: skip
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        client = boto3.client("s3", endpoint_url=s3.endpoint_url, region_name="us-east-1",
                              aws_access_key_id="metrics-key", aws_secret_access_key="metrics-secret")  # fmt: skip
        client.create_bucket(Bucket="gwtm-metrics")
        client.put_object(Bucket="gwtm-metrics", Key="fit/quarantine/abc.reason.txt", Body=b"why")
        collector = build_collector(GWTMSettings(), DagsterInstance.ephemeral())
        try:
            assert _metrics(collector)["gwtm_notices_quarantined_total"] == 1
        finally:
            collector.close()
    finally:
        s3.stop()
