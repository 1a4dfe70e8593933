"""Reads of intermediate values (notice, sky map, record) per notice, from Swift behind a real Keystone as deployed.

Starts Keystone v3 + Swift on loopback (tests/keystone_swift.py) and runs each bundled sky-map notice's two runs as
the daemon does (the record run, then the products run) with the storage configured as GWTM's chart does
(application credential in OS_USERNAME / OS_PASSWORD, OS_STORAGE_URL). The products run loads the notice and its
sky map in most of its steps. In turns, with the IO manager of before (every load a GET) and of now (a run reads an
object once), after a warm-up, in one process. Prints per notice and run: GETs of ``intermediates/`` objects, the
bytes they carried, and the median wall time of the products run.

    python benchmarks/bench_intermediate_reads.py [--rounds 3]
"""

import argparse
import json
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path

from dagster import AssetSelection, DagsterInstance, InputContext, materialize

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gwtm_assets.assets import LIGO_ASSETS  # noqa: E402
from gwtm_assets.devtools.gwtm_api_server import GWTMApiTestServer  # noqa: E402
from gwtm_assets.io import swift as swift_store  # noqa: E402
from gwtm_assets.io.io_managers import PickledValueIOManager  # noqa: E402
from gwtm_assets.jobs import LIGO_RECORD_ASSETS  # noqa: E402
from gwtm_assets.notices.history import land, parse_notice  # noqa: E402
from gwtm_assets.partitions import gw_alert_partitions  # noqa: E402
from gwtm_assets.resources.builders import build_resources  # noqa: E402
from gwtm_assets.settings import GWTMSettings  # noqa: E402
from tests.keystone_swift import PROJECT, KeystoneSwiftServer  # noqa: E402

SAMPLES = ["MS181101ab-preliminary", "MS181101ab-ext-update", "S230518h-preliminary"]
TOKEN = "bench-admin-token"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
#: The products run's assets, as ``ligo_products_job`` selects them.
PRODUCT_ASSETS = AssetSelection.groups("ligo") - LIGO_RECORD_ASSETS


class EveryLoadReads(PickledValueIOManager):
    """The IO manager before: every load a GET."""

    def load_input(self, context: InputContext) -> object:
        key = self._key(context.asset_key.path, context.asset_partition_key if context.has_asset_partitions else None)
        return pickle.loads(self.storage.object_store().get(key))


class Reads:
    """GETs of intermediates through the Swift store, counted while ``counting``."""

    def __init__(self) -> None:
        self.gets, self.bytes, self.counting = 0, 0, False
        self._get = swift_store.SwiftObjectStore.get

        def counted(store: swift_store.SwiftObjectStore, key: str) -> bytes:
            data = self._get(store, key)
            if self.counting and key.startswith("intermediates/"):
                self.gets, self.bytes = self.gets + 1, self.bytes + len(data)
            return data

        swift_store.SwiftObjectStore.get = counted  # type: ignore[method-assign]


def notice_runs(
    raw: bytes, number: int, resources: dict, instance: DagsterInstance, reads: Reads
) -> tuple[int, int, float]:
    """The record run, then the products run, of the notice under a new mock event id: the products run's GETs,
    bytes and seconds."""
    renamed = json.loads(raw)
    renamed["superevent_id"] = f"MS2612{number:02d}zz"
    _, notice = parse_notice(json.dumps(renamed).encode())
    land(resources["product_storage"].object_store(), notice)
    instance.add_dynamic_partitions(str(gw_alert_partitions.name), [notice.partition_key])
    record = materialize(LIGO_ASSETS, selection=LIGO_RECORD_ASSETS, partition_key=notice.partition_key,
                         instance=instance, resources=resources, run_config=QUIET)  # fmt: skip
    assert record.success
    reads.gets = reads.bytes = 0
    reads.counting, started = True, time.perf_counter()
    products = materialize(LIGO_ASSETS, selection=PRODUCT_ASSETS, partition_key=notice.partition_key,
                           instance=instance, resources=resources, run_config=QUIET)  # fmt: skip
    elapsed, reads.counting = time.perf_counter() - started, False
    assert products.success
    return reads.gets, reads.bytes, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    server = KeystoneSwiftServer()
    reads = Reads()
    found: dict[tuple[str, str], list[tuple[int, int, float]]] = {}
    try:
        print(f"Keystone + Swift up in {server.startup_s:.1f} s")
        with tempfile.TemporaryDirectory() as local, GWTMApiTestServer(admin_token=TOKEN) as api:
            settings = GWTMSettings(
                storage_bucket_source="swift", os_auth_url=server.auth_url, os_storage_url=server.storage_url("direct"),
                os_username=server.application_credential_id, os_password=server.application_credential_secret,
                os_project_name=PROJECT, os_container_name="bench-reads", local_storage_dir=local,
                api_base=api.base, api_token=TOKEN, fermi_tle_source=str(REPO / "samples" / "fermi"),
            )  # fmt: skip
            now = build_resources(settings)
            before = {**now, "intermediate_io_manager": EveryLoadReads(storage=now["product_storage"])}
            instance = DagsterInstance.ephemeral()
            raws = {name: (REPO / "samples" / "ligo" / f"{name}.json").read_bytes() for name in SAMPLES}
            notice_runs(raws[SAMPLES[0]], 0, now, instance, reads)  # imports and first runs, paid by neither
            number = 1
            for _ in range(args.rounds):
                for label, resources in (("before", before), ("now", now)):
                    for name, raw in raws.items():
                        found.setdefault((name, label), []).append(notice_runs(raw, number, resources, instance, reads))
                        number += 1
    finally:
        server.stop()
    print(f"\n{args.rounds} rounds, the products run of each notice (the record run before it not counted)\n")
    print("| notice | intermediate GETs before / now | MB read before / now | products run before / now (median s) |")
    print("|---|---|---|---|")
    for name in SAMPLES:
        before, now = zip(*found[(name, "before")], strict=True), zip(*found[(name, "now")], strict=True)
        (gets_b, bytes_b, s_b), (gets_n, bytes_n, s_n) = (list(map(statistics.median, x)) for x in (before, now))
        print(
            f"| {name} | {gets_b:.0f} / {gets_n:.0f} | {bytes_b / 1e6:.1f} / {bytes_n / 1e6:.1f} | {s_b:.2f} / {s_n:.2f} |"
        )


if __name__ == "__main__":
    main()
