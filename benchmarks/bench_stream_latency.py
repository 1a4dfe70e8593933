"""Stream latency: produce a notice to Kafka -> its API record / all its products materialized.

The listeners as deployed: a Kafka-protocol broker (Tansu), ``gwtm-cron daemon`` (``dagster-daemon run``)
with this repository's dagster.yaml (queued runs, one run per event at a
time), the GWTM API test server, local storage. Measured twice in one run:
``cold`` (the previous design: ``LocalRunLauncher``, a new process per run)
and ``warm`` (as shipped: ``WarmRunLauncher`` and ``gwtm-cron run-workers``).

Per design: notices produced one at a time (as alerts arrive), each a random
0.5-5.5 s after the previous one's runs finished (alerts come at times
unrelated to the sensor daemon's loop; a fixed seed) or, with ``--cadence 2``,
2 s after the previous record while its products run (``--cadence 60``: after
a minute with nothing to do, as most alerts come); rounds re-use the
samples under new mock event ids so every notice is new to the system. The
first notice waits for the stack to be up (the pool answers, the sensors
have ticked): one produced during start-up would measure the start-up. Then
a burst: 5 notices of each of 10 new events produced at once; every record
must be posted once and each event's in order. Prints p50/p95 latencies, the median time of each step to the
record (from the event log), and peak RSS per process role.

    python benchmarks/bench_stream_latency.py [--rounds 3] [--burst-events 10] [--launchers cold,warm] [--baseline REV]
        [--cadence random,2] [--sensor-loops dagster,0.5]

``--storage postgres`` runs the instance as deployed: ``deploy/dagster.production.yaml`` on a PostgreSQL server
of its own (``gwtm_assets/devtools/postgres.py``); ``sqlite`` (the default) is the single host's dagster.yaml.
With ``--baseline REV`` the same measurement runs first on that commit (a temporary git worktree with this
benchmark and ``gwtm_assets/devtools`` copied in: the harness of now around the product of then), so before and
after come from one run.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import psutil

from gwtm_assets.devtools.daemon import DagsterDaemon, wait_for
from gwtm_assets.devtools.gwtm_api_server import GWTMApiTestServer
from gwtm_assets.devtools.tansu import TansuBroker
from gwtm_assets.notices.ligo import parse_ligo_notice

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples" / "ligo"
TIME_ORDER = ["MS181101ab-earlywarning", "MS181101ab-preliminary", "MS181101ab-initial", "MS181101ab-update",
              "MS181101ab-ext-update", "MS181101ab-retraction", "S230518h-preliminary"]  # fmt: skip
LAST_ASSETS = ("alert_files", "contours", "moc")
TOPIC = "igwn.gwalert"
#: The burst: 5 notices of each event (the ext-update posts two records), under ids after the sequential rounds'.
BURST_ORDER = TIME_ORDER[:5]
BURST_FIRST_ID = 10
#: One record per sky map: the ext-update notice carries two.
RECORDS_PER_ROUND = len(TIME_ORDER) + 1
TOKEN = "bench-admin-token"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class RssSampler(threading.Thread):
    """Peak RSS (MB) of the daemon, its code server, the run-worker pool and the run workers, sampled every 0.2 s."""

    def __init__(self, *root_pids: int) -> None:
        super().__init__(daemon=True)
        self.roots = [psutil.Process(pid) for pid in root_pids]
        self.peak = {"daemon": 0.0, "code server": 0.0, "run-worker pool": 0.0, "run worker": 0.0}
        self.stopped = threading.Event()

    @staticmethod
    def role(process: psutil.Process) -> str:
        cmdline = " ".join(process.cmdline())
        if "run-workers" in cmdline:  # the pool, or a worker forked from it (same command line)
            parent = process.parent()
            return "run worker" if parent and "run-workers" in " ".join(parent.cmdline()) else "run-worker pool"
        if "multiprocessing" in cmdline or "spawn_main" in cmdline:
            return "run worker"
        if "grpc" in cmdline or "code-server" in cmdline:
            return "code server"
        return "daemon"

    def run(self) -> None:
        while not self.stopped.wait(0.2):
            try:
                processes = [p for root in self.roots for p in (root, *root.children(recursive=True))]
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
    suffix = "cdefghijklmnopqrstuvwxyz"[round_index - 1]  # superevent ids: MS181101a[c-z]
    return raw.replace(b'"MS181101ab"', f'"MS181101a{suffix}"'.encode()).replace(
        b'"S230518h"', f'"S230518{suffix}"'.encode()
    )


def breakdown(daemon: DagsterDaemon, partition_key: str, produced: float) -> dict[str, float]:
    """Seconds of each step from produce to the record, from the instance's own timestamps (event log, run record)."""
    from dagster import DagsterEventType

    # The run that posted the record: the first run of the partition that is not its products run.
    records = [r for r in daemon.instance.get_runs() if r.tags.get("dagster/partition") == partition_key]
    [run] = [r for r in records if r.job_name != "ligo_products_job"][-1:]
    created = daemon.instance.get_run_record_by_id(run.run_id).create_timestamp.timestamp()
    times: dict[str, float] = {}
    for record in daemon.instance.get_records_for_run(run.run_id).records:
        entry = record.event_log_entry
        event = entry.dagster_event
        if event is None:
            continue
        name = event.event_type_value
        if event.event_type == DagsterEventType.ENGINE_EVENT and "Started process for run" in (event.message or ""):
            name = "WORKER_STARTED"
        if event.event_type in (DagsterEventType.STEP_START, DagsterEventType.ASSET_MATERIALIZATION):
            name = f"{name}:{event.step_key}"
        times.setdefault(name, entry.timestamp)
    marks = [
        ("sensor: poll, land, run created", created),
        ("queue: run dequeued, launched", times.get("PIPELINE_STARTING")),
        ("launcher: worker running", times.get("WORKER_STARTED")),
        ("worker: code loaded, run started", times.get("PIPELINE_START") or times.get("RUN_START")),
        ("raw_alert + skymap", times.get("STEP_START:api_record")),
        ("api_record (post)", times.get("ASSET_MATERIALIZATION:api_record")),
    ]
    steps, previous = {}, produced
    for label, at in marks:
        if at is not None:
            steps[label] = at - previous
            previous = at
    return steps


class DaemonCpu:
    """CPU seconds used so far by the daemon and its code servers (where the sensors tick), not the run workers.

    Every process is remembered by pid and start time with its last reading, so a code server that restarts
    between two readings keeps what it used (a difference could come out negative otherwise)."""

    def __init__(self, daemon: DagsterDaemon) -> None:
        self.daemon = daemon
        self.used: dict[tuple[int, float], float] = {}

    def __call__(self) -> float:
        root = psutil.Process(self.daemon.started.pid)
        for process in [root, *root.children(recursive=True)]:
            try:  # a child that just ended (a run process of the cold design) is no code server
                if process is root or RssSampler.role(process) == "code server":
                    self.used[(process.pid, process.create_time())] = sum(process.cpu_times()[:2])
            except psutil.Error:
                continue
        return sum(self.used.values())


def sequential(daemon: DagsterDaemon, broker: TansuBroker, rounds: int, first_round: int, cadence: str) -> dict:
    """Notices one at a time: latencies and their breakdowns.

    ``cadence`` ``random``: each notice a random 0.5-5.5 s after the previous one's runs all finished (alerts come
    at times unrelated to the sensor daemon's loop; a fixed seed). A number of seconds: each that long after the
    previous notice's record, its products still running (an event's notices minutes or seconds apart).
    """
    to_record: list[float] = []
    steps: list[dict[str, float]] = []
    phase = random.Random(2026)
    produced_at: dict[str, float] = {}
    daemon_cpu = DaemonCpu(daemon)
    cpu_before, started = daemon_cpu(), time.time()
    for round_index in range(first_round, first_round + rounds):
        for name in TIME_ORDER:
            raw = renamed((SAMPLES / f"{name}.json").read_bytes(), round_index)
            key = parse_ligo_notice(raw).partition_key
            time.sleep(phase.uniform(0.5, 5.5) if cadence == "random" else float(cadence))
            produced = produced_at[key] = time.time()
            broker.produce(TOPIC, [raw])
            record_at = wait_for(lambda k=key: materialized_at(daemon, "api_record", k), 300, f"api_record {key}")
            to_record.append(record_at - produced)
            if cadence == "random":
                wait_for(daemon.idle, 300, "the runs to finish")
            print(f"  {key:48s} record {to_record[-1]:5.2f} s", flush=True)
    wait_for(daemon.idle, 300, "the runs to finish")
    cpu_per_min = 60 * (daemon_cpu() - cpu_before) / (time.time() - started)
    to_all = []
    for key, produced in produced_at.items():
        done = [wait_for(lambda a=a, k=key: materialized_at(daemon, a, k), 300, f"{a} {key}") for a in LAST_ASSETS]
        to_all.append(max(done) - produced)
        steps.append(breakdown(daemon, key, produced))
    return {"record": to_record, "all": to_all, "steps": steps, "daemon_cpu_per_min": cpu_per_min}


def burst(daemon: DagsterDaemon, broker: TansuBroker, api: GWTMApiTestServer, events: int) -> list[float]:
    """``events`` mock events x 5 notices produced at once; every record once, each event's in order."""
    notices = []
    for event_index in range(events):
        for name in BURST_ORDER:
            notices.append(renamed((SAMPLES / f"{name}.json").read_bytes(), BURST_FIRST_ID + event_index))
    keys = [parse_ligo_notice(raw).partition_key for raw in notices]
    already = len(api.state.posted("post_alert"))
    produced = time.time()
    broker.produce(TOPIC, notices)
    record_times = [
        wait_for(lambda k=k: materialized_at(daemon, "api_record", k), 900, f"api_record {k}") - produced for k in keys
    ]
    wait_for(daemon.idle, 600, "the burst's runs to finish")
    runs = [r for r in daemon.instance.get_run_records() if r.dagster_run.tags.get("dagster/partition") in set(keys)]
    busy = sum(r.end_time - r.start_time for r in runs if r.start_time and r.end_time)
    to_all = [max(materialized_at(daemon, a, k) or math.inf for a in LAST_ASSETS) - produced for k in keys]
    print(f"  burst: last run done {time.time() - produced:.0f} s after the produce; its {len(runs)} runs were busy "
          f"{busy:.0f} s in all; produce -> all products p50 {statistics.median(to_all):.1f} s, "
          f"p95 {percentile(to_all, 0.95):.1f} s")  # fmt: skip
    records = [r for r in runs if r.dagster_run.job_name != "ligo_products_job" and r.start_time and r.end_time]
    created = [r.create_timestamp.timestamp() - produced for r in records]
    queued = [r.start_time - r.create_timestamp.timestamp() for r in records]
    took = [r.end_time - r.start_time for r in records]
    print(f"  burst, the {len(records)} runs that posted records: created {min(created):.1f}-{max(created):.1f} s "
          f"after the produce; queued p50 {statistics.median(queued):.1f} s, max {max(queued):.1f} s; "
          f"run p50 {statistics.median(took):.2f} s, max {max(took):.2f} s")  # fmt: skip
    posted = [p.body for p in api.state.posted("post_alert")[already:]]
    expected = ["EarlyWarning", "Preliminary", "Initial", "Update", "Update", "Update-ExtCoinc"]
    by_event: dict[str, list[str]] = {}
    for body in posted:
        by_event.setdefault(body["graceid"], []).append(body["alert_type"])
    wrong = {event: types for event, types in by_event.items() if types != expected}
    if len(by_event) != events or wrong:
        raise SystemExit(f"burst: {len(by_event)} events posted, out of order or repeated: {wrong}")
    print(
        f"  burst of {len(keys)} notices from {events} events: {len(posted)} records, each once, per-event order kept"
    )
    return record_times


def measure(launcher: str, storage: str, sensor_loop_s: str, args: argparse.Namespace) -> dict[str, object]:
    """One instance with ``launcher`` (``warm``: the pool, or ``cold``: a process per run) and ``storage``:
    ``sqlite`` (dagster.yaml, the single host) or ``postgres`` (deploy/dagster.production.yaml, as deployed),
    its daemon ``gwtm-cron daemon`` passing over the sensors every ``sensor_loop_s``, or with ``dagster``
    ``dagster-daemon run`` itself (every 5 s)."""
    print(f"\n== {launcher} run workers, {storage}, sensor loop {sensor_loop_s} s", flush=True)
    with ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        api = stack.enter_context(GWTMApiTestServer(admin_token=TOKEN))
        env = {"KAFKA_OFFSET_RESET": "earliest", "API_BASE": api.base, "API_TOKEN": TOKEN,
               "STORAGE_BUCKET_SOURCE": "local", "LOCAL_STORAGE_DIR": str(Path(tmp) / "storage"),
               "LOG_LEVEL": "WARNING", "FERMI_TLE_SOURCE": str(SAMPLES.parent / "fermi"),
               **({} if sensor_loop_s == "dagster" else {"SENSOR_LOOP_S": sensor_loop_s})}  # fmt: skip
        instance_config = None
        if storage == "postgres":
            from gwtm_assets.devtools.postgres import PostgresServer

            postgres = stack.enter_context(PostgresServer())
            # The production instance as deployed; only the server's port differs (compose's is 5432).
            production = (REPO / "deploy" / "dagster.production.yaml").read_text()
            instance_config = production.replace("port: 5432", f"port: {postgres.port}")
            env |= postgres.env | {"RUN_WORKERS_ADDRESS": f"unix:@gwtm-bench-{os.getpid()}"}
        broker = TansuBroker()
        stack.callback(broker.stop)
        broker.create_topic(TOPIC)
        broker.create_topic("gcn.notices.icecube.lvk_nu_track_search")
        env["KAFKA_BOOTSTRAP_SERVERS"] = broker.bootstrap
        daemon = DagsterDaemon(Path(tmp) / "dagster_home", env, instance_config)
        if launcher == "cold":  # the previous design: LocalRunLauncher, a new process per run
            config = daemon.home / "dagster.yaml"
            config.write_text(config.read_text().replace("class: WarmRunLauncher", "class: LocalRunLauncher"))
        try:
            command = ("dagster-daemon", "run") if sensor_loop_s == "dagster" else ("gwtm-cron", "daemon")
            daemon.start(command, run_workers=launcher == "warm")
            sampler = RssSampler(daemon.process.pid, *([daemon.pool.pid] if daemon.pool else []))
            sampler.start()
            # the first notice after the stack is up: one produced during start-up would measure the start-up
            spawned = time.time()
            wait_for(daemon.ready, 180, "the pool to answer and the sensors to tick")
            print(f"  stack up {time.time() - spawned:.1f} s after the daemon was spawned", flush=True)
            result: dict[str, object] = {}
            if args.idle_s:  # what the daemon's loop costs with nothing to do, after its start-up
                time.sleep(15)
                daemon_cpu = DaemonCpu(daemon)
                before = daemon_cpu()
                time.sleep(args.idle_s)
                result["idle_cpu_per_min"] = 60 * (daemon_cpu() - before) / args.idle_s
            for index, cadence in enumerate(args.cadence.split(",")):
                result[cadence] = sequential(daemon, broker, args.rounds, index * args.rounds, cadence)
            posted = len(api.state.posted("post_alert"))
            expected = RECORDS_PER_ROUND * args.rounds * len(args.cadence.split(","))
            if posted != expected:
                raise SystemExit(f"{posted} records posted, expected {expected}")
            result["burst"] = burst(daemon, broker, api, args.burst_events) if args.burst_events else []
            sampler.stopped.set()
            result["rss"] = sampler.peak
        finally:
            daemon.terminate()
    return result


def summary(label: str, result: dict) -> None:
    for cadence, sequence in result.items():
        if cadence in ("burst", "rss", "idle_cpu_per_min"):
            continue
        record, to_all = sequence["record"], sequence["all"]
        if not record:  # --rounds 0: the burst only
            continue
        spacing = "random 0.5-5.5 s after the runs" if cadence == "random" else f"{cadence} s after the record"
        print(f"\n{label}, notices {spacing}: produce -> api_record ({len(record)} notices): "
              f"p50 {statistics.median(record):.2f} s, p95 {percentile(record, 0.95):.2f} s, max {max(record):.2f} s")  # fmt: skip
        print(f"    produce -> all products: p50 {statistics.median(to_all):.2f} s, "
              f"p95 {percentile(to_all, 0.95):.2f} s, max {max(to_all):.2f} s; "
              f"daemon + code server CPU {sequence['daemon_cpu_per_min']:.1f} s per minute")  # fmt: skip
        labels = list(dict.fromkeys(step for steps in sequence["steps"] for step in steps))
        medians = {step: statistics.median(s[step] for s in sequence["steps"] if step in s) for step in labels}
        print("    where the time to the record goes (median per step, event-log timestamps):")
        for step, seconds in medians.items():
            print(f"      {step:36s} {1000 * seconds:7.0f} ms")
    if result["burst"]:
        b = result["burst"]
        print(f"{label}: burst produce -> api_record ({len(b)} notices): p50 {statistics.median(b):.2f} s, "
              f"p95 {percentile(b, 0.95):.2f} s, max {max(b):.2f} s")  # fmt: skip
    if "idle_cpu_per_min" in result:
        print(f"{label}: daemon + code server CPU with no notice: {result['idle_cpu_per_min']:.1f} s per minute")
    print(f"{label}: peak RSS: " + ", ".join(f"{role} {mb:.0f} MB" for role, mb in result["rss"].items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the 7 samples, one notice at a time")
    parser.add_argument("--burst-events", type=int, default=10, help="events of the burst (5 notices each; 0: none)")
    parser.add_argument("--launchers", default="cold,warm", help="which designs to measure, in this run")
    parser.add_argument(
        "--storage", default="sqlite", help="instance storage: sqlite (dagster.yaml), postgres (production), or both"
    )
    parser.add_argument("--baseline", help="an earlier commit to measure first, in the same run (git worktree)")
    parser.add_argument(
        "--cadence", default="random",
        help="how notices follow one another, comma-separated: random (0.5-5.5 s after the previous runs finished) "
        "or SECONDS after the previous record",
    )  # fmt: skip
    parser.add_argument(
        "--sensor-loops", default="0.5",
        help="SENSOR_LOOP_S values of gwtm-cron daemon to measure, comma-separated; dagster: dagster-daemon run (5 s)",
    )  # fmt: skip
    parser.add_argument("--idle-s", type=float, default=0, help="seconds to measure the idle daemon's CPU first")
    args = parser.parse_args()
    # with PYTHONDONTWRITEBYTECODE set, a checkout without bytecode would be compiled again by every new process
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "gwtm_assets")], check=True)
    if args.baseline:
        baseline(args)
    results = {
        f"{launcher}, {storage}, sensor loop {loop} s": measure(launcher, storage, loop, args)
        for storage in args.storage.split(",")
        for launcher in args.launchers.split(",")
        for loop in args.sensor_loops.split(",")
    }
    for label, result in results.items():
        summary(label, result)


def baseline(args: argparse.Namespace) -> None:
    """This measurement on ``args.baseline``: its own benchmark in a worktree, its package first on the path."""
    print(f"== before: {args.baseline}", flush=True)
    with tempfile.TemporaryDirectory() as worktrees:
        before = Path(worktrees) / "before"
        subprocess.run(["git", "worktree", "add", "--detach", str(before), args.baseline], cwd=REPO, check=True,
                       capture_output=True)  # fmt: skip
        # The harness of now (this benchmark, gwtm_assets/devtools) around the product of then.
        shutil.copy(Path(__file__), before / "benchmarks" / "bench_stream_latency.py")
        shutil.copytree(REPO / "gwtm_assets" / "devtools", before / "gwtm_assets" / "devtools", dirs_exist_ok=True)
        try:
            subprocess.run(
                [sys.executable, str(before / "benchmarks" / "bench_stream_latency.py"), "--rounds", str(args.rounds),
                 "--burst-events", str(args.burst_events), "--launchers", args.launchers, "--storage", args.storage,
                 "--cadence", args.cadence, "--sensor-loops", args.sensor_loops, "--idle-s", str(args.idle_s)],
                cwd=before, env={**os.environ, "PYTHONPATH": str(before)}, check=True,
            )  # fmt: skip
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=REPO, check=False)
    print("\n== now: this checkout", flush=True)


if __name__ == "__main__":
    main()
