"""What an instance of the production PostgreSQL storage costs: per sensor tick in the code server, per run worker.

The code server makes a new Dagster instance for every sensor tick, and a run worker one for its run. Each side of
the comparison (this checkout, and with ``--baseline REV`` an earlier commit in a temporary git worktree) runs in a
process of its own with its own ``gwtm_assets`` first on the path, on one PostgreSQL server
(``gwtm_assets/devtools/postgres.py``) with ``deploy/dagster.production.yaml``'s instance, the two taking turns:

- **a sensor tick**: a new instance, ``ligo_products_sensor``'s two queries (``records_waiting``,
  ``products_requests``), the instance closed, as the code server does every ~0.3-1 s while notices flow;
- **a run worker's instance**: in a forked process, as the tree's pool forks one (after its ``preload`` of
  ``DEFAULT_PRELOAD``), what the tree's ``run_in_worker`` imports first and the instance it sets up (inherited from
  the pool, made before the forks by ``open_kept_instance``, where the tree has it), then what a run's first moments
  ask (its run, a few events stored, its events read).

Printed: medians of the client's CPU (the process; for a worker, the forked child's ``wait4`` usage), the
PostgreSQL server's CPU (its postmaster's own and reaped backends' time, and its live backends'), and the sessions
the server opened (``pg_stat_database.sessions``).

    python benchmarks/bench_postgres_instances.py [--baseline REV] [--rounds 5] [--ticks 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def server_cpu_s(postmaster: int) -> float:
    """CPU seconds of the PostgreSQL server so far: the postmaster, its reaped children and its live ones."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(stat.parent.name), int(fields[1])
        if pid == postmaster:
            total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
        elif ppid == postmaster:
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def sessions(url: str) -> int:
    """Sessions the server has opened to the database (its own statistics), through a connection of its own."""
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        connection.execute(sa.text("SELECT pg_stat_force_next_flush()"))
        return connection.execute(
            sa.text("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        ).scalar_one()


def a_sensor_tick(home: str) -> None:
    from dagster import DagsterInstance

    from gwtm_assets.sensors.products import products_requests, records_waiting

    with DagsterInstance.from_config(home) as instance:
        records_waiting(instance)
        products_requests(instance, None)


def a_worker_instance(home: str, kept: object = None) -> None:
    """In the forked worker: the instance as the tree's ``run_in_worker`` sets it up (the pool's own, ``kept``, where
    the tree's pool keeps one), and a run's first queries."""
    from dagster import AssetMaterialization, DagsterInstance
    from dagster._cli.api import _execute_run_command_body  # noqa: F401  (what run_in_worker imports first)

    from gwtm_assets.runtime import run_workers

    with kept or DagsterInstance.from_config(home) as instance:
        if not getattr(instance.run_storage, "keeps_connections", False):  # as run_in_worker decides, in both trees
            instance.optimize_for_webserver(
                statement_timeout=0, pool_recycle=-1, max_overflow=run_workers.WORKER_DB_OVERFLOW
            )
        run_id = str(uuid.uuid4())
        instance.get_run_by_id(run_id)
        for number in range(5):
            instance.report_runless_asset_event(AssetMaterialization(f"bench_{number}"))
        instance.get_records_for_run(run_id, limit=5)


def child(home: str, postmaster: int, url: str, ticks: int) -> None:
    """One round of one tree: prints a JSON line of per-tick and per-worker medians."""
    a_sensor_tick(home)  # imports and the first connections, paid by neither side
    found: dict[str, list[float]] = {"tick_cpu_ms": [], "worker_cpu_ms": []}
    server, opened = server_cpu_s(postmaster), sessions(url)
    for _ in range(ticks):
        started = time.process_time()
        a_sensor_tick(home)
        found["tick_cpu_ms"].append(1e3 * (time.process_time() - started))
    time.sleep(1.0)  # a closed session's count reaches the statistics when its backend exits
    tick_server_ms, tick_sessions = (
        1e3 * (server_cpu_s(postmaster) - server) / ticks,
        (sessions(url) - opened - 1) / ticks,
    )
    # as the tree's pool does before it forks a worker: its modules, and its own instance of DAGSTER_HOME if it keeps one
    from gwtm_assets.runtime import run_workers

    os.environ["DAGSTER_HOME"] = home
    run_workers.preload(run_workers.DEFAULT_PRELOAD)
    kept = run_workers.open_kept_instance() if hasattr(run_workers, "open_kept_instance") else None
    server, opened = server_cpu_s(postmaster), sessions(url)
    for _ in range(ticks):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                a_worker_instance(home, kept)
                code = 0
            finally:
                os._exit(code)
        _, status, usage = os.wait4(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, "a worker failed"
        found["worker_cpu_ms"].append(1e3 * (usage.ru_utime + usage.ru_stime))
    time.sleep(1.0)
    worker_server_ms = 1e3 * (server_cpu_s(postmaster) - server) / ticks
    worker_sessions = (sessions(url) - opened - 1) / ticks
    print(json.dumps({
        "tick_cpu_ms": statistics.median(found["tick_cpu_ms"]), "tick_server_ms": tick_server_ms,
        "tick_sessions": tick_sessions, "worker_cpu_ms": statistics.median(found["worker_cpu_ms"]),
        "worker_server_ms": worker_server_ms, "worker_sessions": worker_sessions,
    }))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="an earlier commit to measure in the same run (git worktree)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ticks", type=int, default=20)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        home, postmaster, url, ticks = args.child
        child(home, int(postmaster), url, int(ticks))
        return
    sys.path.insert(0, str(REPO))
    from gwtm_assets.devtools.postgres import DATABASE, PostgresServer

    trees = [("now", REPO)]
    with tempfile.TemporaryDirectory() as tmp, PostgresServer() as pg:
        postmaster = int((pg.data / "postmaster.pid").read_text().split()[0])
        url = f"postgresql://{pg.env['DAGSTER_PG_USERNAME']}@127.0.0.1:{pg.port}/{DATABASE}"
        if args.baseline:
            before = Path(tmp) / "before"
            subprocess.run(["git", "worktree", "add", "--detach", str(before), args.baseline], cwd=REPO, check=True,
                           capture_output=True)  # fmt: skip
            trees.insert(0, (f"before ({args.baseline})", before))
        try:
            homes = {}
            for label, tree in trees:  # a new worktree has no bytecode: each new process would compile it again
                subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "gwtm_assets")], check=True)
                home = Path(tmp) / f"home-{len(homes)}"
                home.mkdir()
                production = (tree / "deploy" / "dagster.production.yaml").read_text()
                (home / "dagster.yaml").write_text(production.replace("port: 5432", f"port: {pg.port}"))
                homes[label] = str(home)
            env = os.environ | pg.env | {"RUN_WORKERS_ADDRESS": "unix:@gwtm-bench-no-pool"}
            rounds: dict[str, list[dict]] = {label: [] for label, _ in trees}
            for _ in range(args.rounds):
                for label, tree in trees:
                    out = subprocess.run(
                        [sys.executable, __file__, "--child", homes[label], str(postmaster), url, str(args.ticks)],
                        env=env | {"PYTHONPATH": str(tree)}, cwd=tree, check=True, capture_output=True, text=True,
                    )  # fmt: skip
                    rounds[label].append(json.loads(out.stdout.strip().splitlines()[-1]))
        finally:
            if args.baseline:
                subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=REPO, check=False)
    print(f"\n{args.rounds} rounds of {args.ticks}, medians over the rounds\n")
    labels = [label for label, _ in trees]
    print("| | " + " | ".join(labels) + (" | ratio |" if len(labels) == 2 else " |"))
    print("|---" * (len(labels) + 1 + (len(labels) == 2)) + "|")
    for key, name in (
        ("tick_cpu_ms", "sensor tick: code server CPU (ms)"), ("tick_server_ms", "sensor tick: PostgreSQL CPU (ms)"),
        ("tick_sessions", "sensor tick: sessions opened"), ("worker_cpu_ms", "run worker's instance: CPU (ms)"),
        ("worker_server_ms", "run worker's instance: PostgreSQL CPU (ms)"),
        ("worker_sessions", "run worker's instance: sessions opened"),
    ):  # fmt: skip
        values = [statistics.median(r[key] for r in rounds[label]) for label in labels]
        ratio = (
            f" | {values[1] / values[0]:.2f}"
            if len(values) == 2 and values[0]
            else (" | -" if len(values) == 2 else "")
        )
        print(f"| {name} | " + " | ".join(f"{v:.1f}" for v in values) + ratio + " |")


if __name__ == "__main__":
    main()
