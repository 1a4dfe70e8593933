"""CPU of the single host's SQLite instance per notice: an engine and a connection per query (Dagster's way, before)
against engines and connections kept per process (``gwtm_assets/runtime/sqlite_storage.py``, now).

One process, one ``DAGSTER_HOME`` per side made from the shipped ``dagster.yaml`` (the instance the daemon and run
workers open). "Before" is the same instance with Dagster's own ``_connect`` / ``connect`` bound on its storages. For
each bundled sky-map notice, under a new mock event id, the record run and then the products run, as the daemon
launches them, executed in this process as a run worker does (``in_process_executor``), the API double answering.
The two sides take turns every round, after one warm-up notice each. Prints, per notice and run, the median process
CPU, the connections opened, and then the median CPU of one stored event and one query.

    python benchmarks/bench_event_log.py [--rounds 5]
"""

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
import types
import uuid
from collections.abc import Callable
from pathlib import Path

from dagster import AssetSelection, DagsterInstance, materialize
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._core.storage.runs import SqliteRunStorage
from dagster._core.storage.schedules import SqliteScheduleStorage

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gwtm_assets.assets import LIGO_ASSETS  # noqa: E402
from gwtm_assets.devtools.gwtm_api_server import GWTMApiTestServer  # noqa: E402
from gwtm_assets.devtools.sql_activity import SqlActivity  # noqa: E402
from gwtm_assets.jobs import LIGO_RECORD_ASSETS  # noqa: E402
from gwtm_assets.notices.history import land, parse_notice  # noqa: E402
from gwtm_assets.partitions import gw_alert_partitions  # noqa: E402
from gwtm_assets.resources.builders import build_resources  # noqa: E402
from gwtm_assets.settings import GWTMSettings  # noqa: E402

SAMPLES = ["MS181101ab-preliminary", "S230518h-preliminary"]
TOKEN = "bench-admin-token"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
#: The products run's assets, as ``ligo_products_job`` selects them.
PRODUCT_ASSETS = AssetSelection.groups("ligo") - LIGO_RECORD_ASSETS


def open_instance(home: Path, per_call_engines: bool) -> DagsterInstance:
    """The shipped dagster.yaml's instance under ``home``; with ``per_call_engines``, Dagster's connect methods."""
    home.mkdir(parents=True)
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    instance = DagsterInstance.from_config(str(home))
    if per_call_engines:
        storages = (instance.event_log_storage, instance.run_storage, instance.schedule_storage)
        stock = (SqliteEventLogStorage._connect, SqliteRunStorage.connect, SqliteScheduleStorage.connect)
        for storage, method in zip(storages, stock, strict=True):
            name = "_connect" if isinstance(storage, SqliteEventLogStorage) else "connect"
            setattr(storage, name, types.MethodType(method, storage))
    return instance


def notice_runs(raw: bytes, number: int, resources: dict, instance: DagsterInstance, connections: SqlActivity):
    """Process CPU seconds and connections opened by the notice's record run, then its products run."""
    renamed = json.loads(raw)
    renamed["superevent_id"] = f"MS2612{number:02d}zz"
    _, notice = parse_notice(json.dumps(renamed).encode())
    land(resources["product_storage"].object_store(), notice)
    instance.add_dynamic_partitions(str(gw_alert_partitions.name), [notice.partition_key])
    found = []
    for selection in (LIGO_RECORD_ASSETS, PRODUCT_ASSETS):
        opened, started = connections.connections, time.process_time()
        result = materialize(LIGO_ASSETS, selection=selection, partition_key=notice.partition_key,
                             instance=instance, resources=resources, run_config=QUIET)  # fmt: skip
        found.append((time.process_time() - started, connections.connections - opened))
        assert result.success
    return found


def per_call_ms(instance: DagsterInstance, calls: int = 200) -> tuple[float, float]:
    """Median CPU milliseconds of storing one event in a new run's database, and of reading a run's last events."""
    storage, run_id = instance.event_log_storage, str(uuid.uuid4())
    entry = EventLogEntry(error_info=None, level=20, user_message="x", run_id=run_id, timestamp=time.time())
    storage.store_event(entry)

    def timed(call: Callable[[], object]) -> float:
        started = time.process_time()
        call()
        return (time.process_time() - started) * 1e3

    stores = [timed(lambda: storage.store_event(entry)) for _ in range(calls)]
    queries = [timed(lambda: storage.get_records_for_run(run_id, limit=5)) for _ in range(calls)]
    return statistics.median(stores), statistics.median(queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    connections = SqlActivity().start()
    runs: dict[tuple[str, str, int], list[tuple[float, int]]] = {}
    calls: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp, GWTMApiTestServer(admin_token=TOKEN) as api:
        settings = GWTMSettings(
            storage_bucket_source="local", local_storage_dir=f"{tmp}/storage", api_base=api.base, api_token=TOKEN,
            fermi_tle_source=str(REPO / "samples" / "fermi"),
        )  # fmt: skip
        resources = build_resources(settings)
        sides = {"before": open_instance(Path(tmp, "before"), True), "now": open_instance(Path(tmp, "now"), False)}
        raws = {name: (REPO / "samples" / "ligo" / f"{name}.json").read_bytes() for name in SAMPLES}
        number = 0
        for instance in sides.values():  # imports, first runs and databases, paid by neither
            notice_runs(raws[SAMPLES[0]], number, resources, instance, connections)
            number += 1
        for _ in range(args.rounds):
            for label, instance in sides.items():
                for name, raw in raws.items():
                    for stage, found in enumerate(notice_runs(raw, number, resources, instance, connections)):
                        runs.setdefault((name, label, stage), []).append(found)
                    number += 1
                calls.setdefault(label, []).append(per_call_ms(instance))
        for instance in sides.values():
            instance.dispose()
    print(f"\n{args.rounds} rounds, medians; CPU of this process, connections opened\n")
    print("| notice | run | CPU before / now (s) | ratio | connections before / now |")
    print("|---|---|---|---|---|")
    for name in SAMPLES:
        for stage, run in enumerate(("record", "products")):
            (cpu_b, conn_b), (cpu_n, conn_n) = (
                (statistics.median(x) for x in zip(*runs[(name, label, stage)], strict=True))
                for label in ("before", "now")
            )
            print(f"| {name} | {run} | {cpu_b:.3f} / {cpu_n:.3f} | {cpu_n / cpu_b:.2f} | {conn_b:.0f} / {conn_n:.0f} |")
    (store_b, query_b), (store_n, query_n) = (
        (statistics.median(x) for x in zip(*calls[label], strict=True)) for label in ("before", "now")
    )
    print(f"\none event stored: {store_b:.2f} / {store_n:.2f} ms CPU; one run's last 5 events read: "
          f"{query_b:.2f} / {query_n:.2f} ms CPU (before / now)")  # fmt: skip


if __name__ == "__main__":
    main()
