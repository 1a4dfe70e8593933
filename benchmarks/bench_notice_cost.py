"""What one notice costs: CPU per notice in a warm process, step by step, and a whole ``gwtm-cron ingest``.

Two measures, each of this checkout and, with ``--baseline REV``, of an earlier commit (a temporary git worktree)
in the same run:

1. **Warm CPU per notice.** One process imports everything, ingests a warm-up notice of another event and moves
   what is alive to the collector's permanent generation (as a warm run worker has: the pool freezes its heap
   before it forks, ``startup_heap.py``), then each sample, each under a new mock event id: the process CPU time
   of the whole ``materialize`` (every asset and check and Dagster's own work, on an in-memory instance of the
   production instance class: what a SQLite instance adds is ``bench_event_log.py``'s) and the wall time of each
   step from the event log (steps run one after another in one thread, and wait on nothing but the API's answer,
   so wall ~ CPU).
   The in-asset checks' share of the products they check comes from the same run: the ``check_ms`` each check
   records against the ``compute_ms`` of the product assets (a baseline from before ``check_ms`` shows none).
   The SQL statements the instance's storages execute for the notice are counted too (SQLAlchemy's
   ``before_cursor_execute``), and the connections they open.
2. **Whole ingest per notice**, as the issue measures it: ``gwtm-cron ingest <sample>`` minus
   ``gwtm-cron ingest <retraction>``, both in new processes, so start-up cancels out; wall time and the process's CPU
   time (user + system, less noisy on a shared machine).

Both are repeated ``--repeats`` times, this checkout and the baseline taking turns in each round (a slow spell of the
machine then falls on both), and the medians printed.

The GWTM API is the development API (``gwtm-cron dev-api``) in its own process, so its CPU is not counted.

    python benchmarks/bench_notice_cost.py [--baseline REV] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples" / "ligo"
MEASURED = ["MS181101ab-preliminary", "MS181101ab-ext-update", "S230518h-preliminary"]
WARM_UP = "MS181101ab-earlywarning"
RETRACTION = "MS181101ab-retraction"
TOKEN = "bench-admin-token"


def renamed(raw: bytes, number: int) -> bytes:
    """The notice under a new mock event id, so every notice is new to the API and the ledger."""
    notice = json.loads(raw)
    notice["superevent_id"] = f"MS2612{number:02d}zz"
    return json.dumps(notice).encode()


def child(tree: Path, api_base: str, storage: Path) -> None:
    """Runs in a process whose ``gwtm_assets`` is ``tree``'s; prints one JSON line per measured notice."""
    from dagster import DagsterEventType, DagsterInstance
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from gwtm_assets.ingest import ingest_notice
    from gwtm_assets.io.object_store import LocalObjectStore
    from gwtm_assets.resources.builders import build_resources
    from gwtm_assets.settings import GWTMSettings

    settings = GWTMSettings(
        api_base=api_base,
        api_token=TOKEN,
        local_storage_dir=str(storage),
        fermi_tle_source=str(REPO / "samples" / "fermi"),
    )
    resources = build_resources(settings)
    store = LocalObjectStore(str(storage))
    try:  # the instance class production configures (dagster.yaml), in memory
        from gwtm_assets.runtime.instance import EventTaggingInstance

        instance = EventTaggingInstance.ephemeral_instance()
    except (ImportError, AttributeError):  # a baseline from before it had one
        instance = DagsterInstance.ephemeral()
    ingest_notice(renamed((SAMPLES / f"{WARM_UP}.json").read_bytes(), 0), WARM_UP, instance, settings, resources, store)
    try:  # what the run-worker pool does before it forks a worker: its heap is out of the collector's passes
        from gwtm_assets.startup_heap import freeze_startup_heap

        freeze_startup_heap()
    except ImportError:  # a baseline from before it had one
        pass
    # counted here, not with devtools.sql_activity: a baseline tree may be from before it
    sql = {"statements": 0, "connections": 0}

    def executed(*_args: object) -> None:
        sql["statements"] += 1

    def connected(*_args: object) -> None:
        sql["connections"] += 1

    event.listen(Engine, "before_cursor_execute", executed)
    event.listen(Engine, "connect", connected)
    for number, name in enumerate(MEASURED, start=1):
        raw = renamed((SAMPLES / f"{name}.json").read_bytes(), number)
        sql_before = dict(sql)
        cpu, wall = time.process_time(), time.perf_counter()
        result = ingest_notice(raw, name, instance, settings, resources, store)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        sql_used = {key: sql[key] - sql_before[key] for key in sql}
        assert result.ok, result.line()
        steps: dict[str, float] = {}
        started: dict[str, float] = {}
        products_ms: dict[str, float] = {}  # the assets' own compute_ms (the products, without their checks)
        checks_ms: dict[str, float] = {}  # the in-asset checks' check_ms
        run = instance.get_runs(limit=1)[0]
        for record in instance.all_logs(run.run_id):
            event = record.dagster_event
            if event is None or not event.step_key:
                continue
            if event.event_type == DagsterEventType.STEP_START:
                started[event.step_key] = record.timestamp
            elif event.event_type == DagsterEventType.STEP_SUCCESS:
                steps[event.step_key] = record.timestamp - started[event.step_key]
            elif event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
                materialization = event.step_materialization_data.materialization
                if "compute_ms" in materialization.metadata:  # by asset: one step may make several
                    products_ms[materialization.asset_key.to_user_string()] = float(
                        materialization.metadata["compute_ms"].value
                    )
            elif event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
                metadata = event.event_specific_data.metadata
                if "check_ms" in metadata:
                    checks_ms[event.event_specific_data.check_name] = float(metadata["check_ms"].value)
        print(
            json.dumps(
                {
                    "notice": name, "cpu_s": cpu, "wall_s": wall, "steps_s": steps,
                    "products_ms": products_ms, "checks_ms": checks_ms, "sql": sql_used,
                }
            ),
            flush=True,
        )  # fmt: skip


def warm_costs(tree: Path, api_base: str) -> list[dict]:
    with tempfile.TemporaryDirectory() as storage:
        done = subprocess.run(
            [sys.executable, __file__, "--child", str(tree), api_base, storage],
            env={**os.environ, "PYTHONPATH": str(tree), "LOG_LEVEL": "WARNING"},
            capture_output=True,
            text=True,
            check=False,
            cwd=tree,
        )
    if done.returncode:
        sys.exit(f"{tree}: {done.stderr[-3000:]}")
    found = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    for notice in found:  # a baseline from before the checks timed themselves
        notice.setdefault("products_ms", {})
        notice.setdefault("checks_ms", {})
    return found


def ingest_seconds(tree: Path, api_base: str, sample: str) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of a new ``gwtm-cron ingest`` of ``sample``."""
    with tempfile.TemporaryDirectory() as storage:
        env = {**os.environ, "PYTHONPATH": str(tree), "API_BASE": api_base, "API_TOKEN": TOKEN,
               "LOCAL_STORAGE_DIR": storage, "FERMI_TLE_SOURCE": str(REPO / "samples" / "fermi"), "LOG_LEVEL": "WARNING"}  # fmt: skip
        env.pop("DAGSTER_HOME", None)
        raw = renamed(
            (SAMPLES / f"{sample}.json").read_bytes(), 90 + MEASURED.index(sample) if sample in MEASURED else 99
        )
        path = Path(storage) / "notice.json"
        path.write_bytes(raw)
        started, children = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(
            [sys.executable, "-m", "gwtm_assets.cli", "ingest", str(path)],
            env=env, capture_output=True, text=True, check=False, cwd=tree,
        )  # fmt: skip
        elapsed, used = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        sys.exit(f"{tree} ingest {sample}: {done.stdout[-2000:]} {done.stderr[-2000:]}")
    return elapsed, used.ru_utime + used.ru_stime - children.ru_utime - children.ru_stime


def measure(trees: list[tuple[str, Path]], api_base: str, repeats: int) -> list[dict]:
    """Every measure ``repeats`` times, the trees taking turns within each round, so that a slow spell of the machine
    falls on all of them alike; per notice the medians."""
    warm: dict[str, list[list[dict]]] = {label: [] for label, _ in trees}
    ingest: dict[str, dict[str, list[tuple[float, float]]]] = {
        label: {s: [] for s in (RETRACTION, *MEASURED)} for label, _ in trees
    }
    for _ in range(repeats):
        for label, tree in trees:
            warm[label].append(warm_costs(tree, api_base))
            for sample in (RETRACTION, *MEASURED):
                ingest[label][sample].append(ingest_seconds(tree, api_base, sample))
    results = []
    for label, _ in trees:
        retraction = [statistics.median(measure) for measure in zip(*ingest[label][RETRACTION], strict=True)]
        results.append(
            {
                "label": label,
                "warm": [median_notice([run[i] for run in warm[label]]) for i in range(len(MEASURED))],
                "ingest": {
                    s: [
                        statistics.median(m) - r
                        for m, r in zip(zip(*ingest[label][s], strict=True), retraction, strict=True)
                    ]
                    for s in MEASURED
                },
            }
        )
    return results


def median_notice(runs: list[dict]) -> dict:
    """One notice's warm measures over several runs: the median of each figure."""
    merged: dict = {
        "notice": runs[0]["notice"],
        "cpu_s": statistics.median(r["cpu_s"] for r in runs),
        "sql": {key: statistics.median(r["sql"][key] for r in runs) for key in runs[0]["sql"]},
    }
    for key in ("steps_s", "products_ms", "checks_ms"):
        names = {name for r in runs for name in r[key]}
        merged[key] = {n: statistics.median(r[key][n] for r in runs if n in r[key]) for n in sorted(names)}
    return merged


def report(results: list[dict]) -> None:
    print("\n### Warm CPU per notice (process CPU of the whole materialize, s)\n")
    print("| notice | " + " | ".join(r["label"] for r in results) + " |")
    print("|---|" + "---|" * len(results))
    for i, name in enumerate(MEASURED):
        print(f"| {name} | " + " | ".join(f"{r['warm'][i]['cpu_s']:.2f}" for r in results) + " |")
    print("\n### SQL statements / connections opened by the instance's storages per notice (warm process)\n")
    print("| notice | " + " | ".join(r["label"] for r in results) + " |")
    print("|---|" + "---|" * len(results))
    for i, name in enumerate(MEASURED):
        cells = ("{statements:.0f} / {connections:.0f}".format(**r["warm"][i]["sql"]) for r in results)
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("\n### Whole `gwtm-cron ingest` per notice, start-up excluded (s, wall / CPU)\n")
    print("| notice | " + " | ".join(r["label"] for r in results) + " |")
    print("|---|" + "---|" * len(results))
    for name in MEASURED:
        print(f"| {name} | " + " | ".join("{:.2f} / {:.2f}".format(*r["ingest"][name]) for r in results) + " |")
    print("\n### In-asset checks against the products they check (the assets' compute_ms and check_ms, ms)\n")
    print("| notice | " + " | ".join(f"products / checks / share, {r['label']}" for r in results) + " |")
    print("|---|" + "---|" * len(results))
    for i, name in enumerate(MEASURED):
        cells = []
        for r in results:
            products, checks = sum(r["warm"][i]["products_ms"].values()), sum(r["warm"][i]["checks_ms"].values())
            cells.append(f"{products:.0f} / {checks:.0f} / {100 * checks / products:.0f}%" if checks else "-")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("\n### Each product asset's compute_ms and each check's check_ms (ms, medians)\n")
    print("| notice | tree | products | checks |")
    print("|---|---|---|---|")
    for i, name in enumerate(MEASURED):
        for r in results:
            products = ", ".join(f"{k} {v:.0f}" for k, v in r["warm"][i]["products_ms"].items())
            checks = ", ".join(f"{k} {v:.0f}" for k, v in r["warm"][i]["checks_ms"].items())
            print(f"| {name} | {r['label']} | {products or '-'} | {checks or '-'} |")
    for i, name in enumerate(MEASURED):
        print(f"\n### Steps of {name} (wall ms in the warm process)\n")
        steps = sorted({s for r in results for s in r["warm"][i]["steps_s"]})
        print("| step | " + " | ".join(r["label"] for r in results) + " |")
        print("|---|" + "---|" * len(results))
        for step in steps:
            cells = [r["warm"][i]["steps_s"].get(step) for r in results]
            print(f"| {step} | " + " | ".join("-" if c is None else f"{1000 * c:.0f}" for c in cells) + " |")
        total = [sum(r["warm"][i]["steps_s"].values()) for r in results]
        print("| all steps | " + " | ".join(f"{1000 * t:.0f}" for t in total) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="an earlier commit to measure in the same run (git worktree)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), args.child[1], Path(args.child[2]))
        return
    api = subprocess.Popen(
        [sys.executable, "-m", "gwtm_assets.cli", "dev-api", "--port", "0", "--token", TOKEN],
        stdout=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    try:
        assert api.stdout is not None
        match = re.search(r"at (\S+) ", api.stdout.readline())
        assert match, "dev-api printed no address"
        api_base = match.group(1)
        trees = [("now", REPO)]
        with tempfile.TemporaryDirectory() as worktrees:
            if args.baseline:
                before = Path(worktrees) / "before"
                subprocess.run(["git", "worktree", "add", "--detach", str(before), args.baseline], cwd=REPO, check=True,
                               capture_output=True)  # fmt: skip
                trees.insert(0, (f"before ({args.baseline})", before))
            for _, tree in trees:  # a new worktree has no bytecode: each new process would compile it again
                subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "gwtm_assets")], check=True)
            try:
                results = measure(trees, api_base, args.repeats)
            finally:
                if args.baseline:
                    subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=REPO, check=False)
        report(results)
    finally:
        api.terminate()
        api.wait()


if __name__ == "__main__":
    main()
