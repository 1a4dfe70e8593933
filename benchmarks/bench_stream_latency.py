"""Stream latency: produce a notice to Kafka -> its API record / all its products materialized.

The listeners as deployed: a Kafka-protocol broker (Tansu), ``dagster-daemon``
with this repository's dagster.yaml, the GWTM API test server, local storage.
Notices are produced one at a time (as alerts arrive), each waiting for the
previous run to finish; rounds re-use the samples under new mock event ids so
every notice is new to the system. Prints p50/p95 latencies and the peak RSS
of the daemon, the code server and the run workers.

    python benchmarks/bench_stream_latency.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import psutil

from gwtm_assets.notices.ligo import parse_ligo_notice
from gwtm_assets.testing.daemon import DagsterDaemon, wait_for
from gwtm_assets.testing.gwtm_api_server import GWTMApiTestServer
from gwtm_assets.testing.tansu import TansuBroker

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "ligo"
TIME_ORDER = ["MS181101ab-earlywarning", "MS181101ab-preliminary", "MS181101ab-initial", "MS181101ab-update",
              "MS181101ab-ext-update", "MS181101ab-retraction", "S230518h-preliminary"]  # fmt: skip
LAST_ASSETS = ("alert_files", "contours", "moc")
#: One record per sky map: the ext-update notice carries two.
RECORDS_PER_ROUND = len(TIME_ORDER) + 1
TOKEN = "bench-admin-token"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class RssSampler(threading.Thread):
    """Peak RSS (MB) of the daemon, its code server and the run workers, sampled every 0.2 s."""

    def __init__(self, root_pid: int) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(root_pid)
        self.peak = {"daemon": 0.0, "code server": 0.0, "run worker": 0.0}
        self.stopped = threading.Event()

    @staticmethod
    def role(process: psutil.Process) -> str:
        cmdline = " ".join(process.cmdline())
        if "multiprocessing" in cmdline or "spawn_main" in cmdline:
            return "run worker"
        if "grpc" in cmdline or "code-server" in cmdline:
            return "code server"
        return "daemon"

    def run(self) -> None:
        while not self.stopped.wait(0.2):
            try:
                processes = [self.root, *self.root.children(recursive=True)]
                for process in processes:
                    role = self.role(process)
                    self.peak[role] = max(self.peak[role], process.memory_info().rss / 1e6)
            except psutil.Error:
                continue


def materialized_at(daemon: DagsterDaemon, asset: str, partition_key: str) -> float | None:
    """Unix time ``asset`` was first materialized for ``partition_key``, if it has been."""
    times = [t for key, t in daemon.materializations(asset) if key == partition_key]
    return min(times) if times else None


def renamed(raw: bytes, round_index: int) -> bytes:
    """The sample as a new event: round 0 is the sample itself, later rounds get new superevent ids."""
    if round_index == 0:
        return raw
    suffix = "cdefghijklmnopqrstuvwxyz"[round_index - 1]
    return raw.replace(b'"MS181101ab"', f'"MS181101a{suffix}"'.encode()).replace(
        b'"S230518h"', f'"S230518{suffix}"'.encode()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, GWTMApiTestServer(admin_token=TOKEN) as api:
        broker = TansuBroker()
        topic = "igwn.gwalert"
        broker.create_topic(topic)
        broker.create_topic("gcn.notices.icecube.lvk_nu_track_search")
        daemon = DagsterDaemon(
            Path(tmp) / "dagster_home",
            {"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "KAFKA_OFFSET_RESET": "earliest", "API_BASE": api.base,
             "API_TOKEN": TOKEN, "STORAGE_BUCKET_SOURCE": "local", "LOCAL_STORAGE_DIR": str(Path(tmp) / "storage"),
             "LOG_LEVEL": "WARNING", "FERMI_TLE_SOURCE": str(SAMPLES.parent / "fermi")},
        )  # fmt: skip
        try:
            daemon.start()
            sampler = RssSampler(daemon.process.pid)
            sampler.start()
            to_record: list[float] = []
            to_all: list[float] = []
            for round_index in range(args.rounds):
                for name in TIME_ORDER:
                    raw = renamed((SAMPLES / f"{name}.json").read_bytes(), round_index)
                    key = parse_ligo_notice(raw).partition_key
                    produced = time.time()
                    broker.produce(topic, [raw])
                    record_at = wait_for(
                        lambda k=key: materialized_at(daemon, "api_record", k), 300, f"api_record {key}"
                    )
                    done = [
                        wait_for(lambda a=a, k=key: materialized_at(daemon, a, k), 300, f"{a} {key}")
                        for a in LAST_ASSETS
                    ]
                    wait_for(daemon.idle, 120, "the run to finish")
                    to_record.append(record_at - produced)
                    to_all.append(max(done) - produced)
                    print(f"  {key:48s} record {to_record[-1]:5.2f} s   all products {to_all[-1]:5.2f} s", flush=True)
            sampler.stopped.set()
            posted = len(api.state.posted("post_alert"))
            if posted != RECORDS_PER_ROUND * args.rounds:
                raise SystemExit(f"{posted} records posted, expected {RECORDS_PER_ROUND * args.rounds}")
        finally:
            daemon.terminate()
            broker.stop()

    print(
        f"\nproduce -> api_record materialized ({len(to_record)} notices): "
        f"p50 {statistics.median(to_record):.2f} s, p95 {percentile(to_record, 0.95):.2f} s, max {max(to_record):.2f} s"
    )
    print(
        f"produce -> all products:                  "
        f"p50 {statistics.median(to_all):.2f} s, p95 {percentile(to_all, 0.95):.2f} s, max {max(to_all):.2f} s"
    )
    print("peak RSS: " + ", ".join(f"{role} {mb:.0f} MB" for role, mb in sampler.peak.items()))


if __name__ == "__main__":
    main()
