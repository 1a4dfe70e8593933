"""The embedded default (``make demo``): the listeners end to end on one machine, no credentials.

A local Kafka-protocol broker (Tansu), the project's GWTM API, ``dagster dev``
(UI + daemon, both sensors running) on a local instance and local storage;
the bundled samples are published to the broker as GCN would, and once every
partition is materialized the records and products are listed. The UI stays
up until Ctrl-C.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import signal
import time
from pathlib import Path

from ..notices.history import notices_oldest_first, parse_notice
from ..settings import GWTMSettings
from .catalogs import synthetic_galaxies, write_galaxy_ini, write_nedlvs_fits
from .daemon import REPO, DagsterDaemon, wait_for
from .gwtm_api_server import GWTMApiTestServer
from .tansu import TansuBroker

log = logging.getLogger(__name__)

SAMPLES = REPO / "samples"
DEMO_TOKEN = "demo-admin-token"
#: The demo's stand-in for NED-LVS: synthetic galaxies, uniform in volume (enough for both sample events).
DEMO_CATALOG_GALAXIES = 300_000
DEMO_CATALOG_MAX_DISTANCE_MPC = 500.0


def publish_samples(broker: TansuBroker, settings: GWTMSettings) -> dict[str, list[str]]:
    """Produce every bundled sample, oldest first, to its topic; returns the partition keys by kind."""
    files = sorted((SAMPLES / "ligo").glob("*.json")) + sorted((SAMPLES / "icecube").glob("*.json"))
    keys: dict[str, list[str]] = {"ligo": [], "icecube": []}
    for _, raw in notices_oldest_first(None, files):
        kind, notice = parse_notice(raw)
        broker.produce(settings.kafka_ligo_topic if kind == "ligo" else settings.kafka_icecube_topic, [raw])
        keys[kind].append(notice.partition_key)
    return keys


def demo_galaxy_catalog(directory: Path) -> Path:
    """Write the synthetic NED-LVS-style catalog and its ``.ini`` under ``directory``; returns the ``.ini``.

    Used when ``PATH_TO_GALAXY_CATALOG_CONFIG`` is not set, so the demo ranks
    galaxies without downloading a real catalog. Its galaxies are not real.
    """
    directory.mkdir(parents=True, exist_ok=True)
    columns = synthetic_galaxies(DEMO_CATALOG_GALAXIES, seed=0, max_distance_mpc=DEMO_CATALOG_MAX_DISTANCE_MPC)
    catalog = write_nedlvs_fits(directory / "synthetic-nedlvs.fits", columns)
    return write_galaxy_ini(directory / "galaxy_catalog.ini", catalog, ngalaxies=100)


def summary(api: GWTMApiTestServer, storage_dir: Path) -> str:
    lines = ["Records posted to the GWTM API:"]
    for request in api.state.posted("post_alert"):
        body = request.body
        url = body.get("skymap_fits_url")  # the product name: a second Update is ...-Update1
        name = url.rsplit("/", 1)[-1].removesuffix(".fits.gz") if url else f"{body['graceid']}-{body['alert_type']}"
        lines.append(f"  alert    {body['graceid']:12s} {name}")
    for request in api.state.posted("event_galaxies"):
        if request.method == "POST":
            galaxies = request.body["galaxies"]
            best = f", best {galaxies[0]['name']}" if galaxies else ""
            lines.append(f"  galaxies {request.body['graceid']:12s} {len(galaxies)} ranked{best}")
    for request in api.state.posted("post_icecube_notice"):
        lines.append(f"  icecube  {request.body['notice_data']['ref_id']}")
    lines.append(f"Products in {storage_dir}:")
    for path in sorted(storage_dir.rglob("*")):
        relative = path.relative_to(storage_dir)
        if path.is_file() and not any(
            part.startswith(".") or part in ("incoming", "ledger", "intermediates") for part in relative.parts
        ):
            lines.append(f"  {relative}  ({path.stat().st_size:,} bytes)")
    return "\n".join(lines)


def fresh_directory(path: Path) -> None:
    """Empty ``path`` if it is ours (under the repository) so each demo starts clean; refuse anything else that holds data."""
    if path.exists() and path.is_relative_to(REPO):
        shutil.rmtree(path)
    elif path.exists() and any(path.iterdir()):
        raise SystemExit(f"{path} is not empty; point the demo at a new directory")
    path.mkdir(parents=True, exist_ok=True)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def run_demo(home: Path, storage_dir: Path, ui_port: int, api_port: int, keep_ui: bool) -> int:
    """Start the API, the broker and ``dagster dev``; stop them in reverse order on Ctrl-C or SIGTERM alike,
    within about 10 s: Dagster (sensors, daemon, runs) before the broker its consumers use, then the API."""
    # Both explicitly: a command started with SIGINT ignored (`cmd &` in a shell without job control, as
    # CI runners and `nohup` scripts do) inherits that, and Python then installs no Ctrl-C handler.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    # A new in-memory broker restarts offsets at 0: an old instance's sensor cursors would skip every sample.
    fresh_directory(home)
    fresh_directory(storage_dir)
    galaxy_ini = os.environ.get("PATH_TO_GALAXY_CATALOG_CONFIG") or str(demo_galaxy_catalog(home / "galaxy-catalog"))
    with GWTMApiTestServer(admin_token=DEMO_TOKEN, port=api_port) as api:
        broker = TansuBroker()
        settings = GWTMSettings(kafka_bootstrap_servers=broker.bootstrap)
        for topic in (settings.kafka_ligo_topic, settings.kafka_icecube_topic):
            broker.create_topic(topic)
        dagster = DagsterDaemon(
            home,
            {
                "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
                "KAFKA_OFFSET_RESET": "earliest",
                "KAFKA_CLIENT_ID": "",
                "API_BASE": api.base,
                "API_TOKEN": DEMO_TOKEN,
                "STORAGE_BUCKET_SOURCE": "local",
                "LOCAL_STORAGE_DIR": str(storage_dir),
                "DRY_RUN": "false",
                "WRITE_TO_STORAGE": "true",
                "PATH_TO_GALAXY_CATALOG_CONFIG": galaxy_ini,
                # Offline: the bundled element set (2017) is far from the samples' times, so GBM/LAT are
                # skipped with a warning, as they are for any signal without cached Fermi inputs.
                "FERMI_TLE_SOURCE": os.environ.get("FERMI_TLE_SOURCE", str(SAMPLES / "fermi")),
            },
        )
        try:
            dagster.start(("dagster", "dev", "-p", str(ui_port), "-h", "127.0.0.1"))
            print(
                f"== Broker {broker.bootstrap}, GWTM API {api.base}, Dagster UI http://127.0.0.1:{ui_port} (log: {dagster.log_path})",
                flush=True,
            )
            started = time.monotonic()
            keys = publish_samples(broker, settings)
            print(
                f"== Published {len(keys['ligo'])} LIGO/Virgo/KAGRA and {len(keys['icecube'])} IceCube notices; waiting for the sensors and runs",
                flush=True,
            )
            for kind, asset in (("ligo", "moc"), ("icecube", "icecube_record")):
                wanted = set(keys[kind])
                wait_for(
                    functools.partial(_all_materialized, dagster, asset, wanted),
                    600,
                    f"every {kind} partition",
                )
            wait_for(dagster.idle, 300, "the last runs to finish")
            print(
                f"== All {sum(map(len, keys.values()))} notices materialized in {time.monotonic() - started:.0f} s\n",
                flush=True,
            )
            print(summary(api, storage_dir), flush=True)
            if not keep_ui:
                return 0
            print(f"\n== Dagster UI on http://127.0.0.1:{ui_port} (Ctrl-C to stop)", flush=True)
            if dagster.process is not None:
                dagster.process.wait()
            return 0
        except KeyboardInterrupt:
            print("\n== Stopping: Dagster, then the broker and the API", flush=True)
            return 0
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the shutdown short
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            if dagster.process is not None:
                dagster.stop_all()
            broker.stop(timeout_s=3)


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    home = Path(os.environ.get("DAGSTER_HOME", REPO / ".dagster_home"))
    storage = Path(os.environ.get("LOCAL_STORAGE_DIR", REPO / "gwtm-data"))
    return run_demo(
        home.resolve(),
        storage.resolve(),
        int(os.environ.get("DEMO_PORT", "3000")),
        int(os.environ.get("DEMO_API_PORT", "8765")),
        keep_ui=os.environ.get("DEMO_NO_UI") != "1",
    )


def _all_materialized(dagster: DagsterDaemon, asset: str, wanted: set[str]) -> bool:
    return wanted <= set(dagster.materialized_partitions(asset))
