import gc
import json
import os
from pathlib import Path

import pytest

from gwtm_assets.devtools.gwtm_api_server import GWTMApiTestServer
from gwtm_assets.io.object_store import LocalObjectStore
from gwtm_assets.science.skymap import decode_notice_skymap, read_multiorder_fits
from gwtm_assets.settings import GWTMSettings

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
LIGO_SAMPLES = sorted((SAMPLES / "ligo").glob("*.json"))
ICECUBE_SAMPLES = sorted((SAMPLES / "icecube").glob("*.json"))
SKYMAP_SAMPLES = [p for p in LIGO_SAMPLES if "retraction" not in p.name]
#: The life of MS181101ab in the order GraceDB sent it, then the O4 event.
TIME_ORDER = [
    "MS181101ab-earlywarning", "MS181101ab-preliminary", "MS181101ab-initial", "MS181101ab-update",
    "MS181101ab-ext-update", "MS181101ab-retraction", "S230518h-preliminary",
]  # fmt: skip
#: The product names of those notices' records, in the same order (the contract numbering).
TIME_ORDER_NAMES = [
    {"gw": "MS181101ab-EarlyWarning"},
    {"gw": "MS181101ab-Preliminary"},
    {"gw": "MS181101ab-Initial"},
    {"gw": "MS181101ab-Update"},
    {"gw": "MS181101ab-Update1", "-ExtCoinc": "MS181101ab-Update-ExtCoinc"},
    {"gw": "MS181101ab-Retraction"},
    {"gw": "S230518h-Preliminary"},
]
ADMIN_TOKEN = "test-admin-token"


def sample(name: str) -> Path:
    return (
        SAMPLES
        / ("icecube" if "IceCube" in name or name.startswith(("MS230427r", "S230914ak")) else "ligo")
        / f"{name}.json"
    )


def load_sky(path: Path, which: str = "event"):
    content = json.loads(path.read_bytes())
    encoded = content["event"]["skymap"] if which == "event" else content["external_coinc"]["combined_skymap"]
    raw = decode_notice_skymap(encoded)
    return read_multiorder_fits(raw), raw


@pytest.fixture
def api_server():
    with GWTMApiTestServer(admin_token=ADMIN_TOKEN) as server:
        yield server


@pytest.fixture
def settings(tmp_path, api_server, monkeypatch) -> GWTMSettings:
    for name in ("DRY_RUN", "WRITE_TO_STORAGE", "API_BASE", "API_TOKEN", "STORAGE_BUCKET_SOURCE"):
        monkeypatch.delenv(name, raising=False)
    api_server.state.storage = LocalObjectStore(tmp_path / "storage")  # the server reads the maps we write
    return GWTMSettings(
        api_base=api_server.base,
        api_token=ADMIN_TOKEN,
        local_storage_dir=str(tmp_path / "storage"),
        storage_bucket_source="local",
    )


@pytest.fixture(autouse=True)
def _no_dagster_home(monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")


@pytest.fixture(autouse=True)
def _offline_fermi_inputs(monkeypatch):
    """Element sets from the bundled samples, never the network (subprocesses inherit it too)."""
    monkeypatch.setenv("FERMI_TLE_SOURCE", str(SAMPLES / "fermi"))
    monkeypatch.delenv("FERMI_FT2_SOURCE", raising=False)


@pytest.fixture(scope="session")
def servers():
    """moto S3, Azurite and a Swift all-in-one, started on first use and shared by the storage tests."""
    from .storage_backends import Servers

    servers = Servers()
    yield servers
    servers.stop()


@pytest.fixture(autouse=True)
def _close_kept_consumers():
    """Sensors keep their Kafka consumers for the process's life; a test's end is that life here."""
    yield
    from gwtm_assets.sensors.kafka import KEPT_CONSUMERS

    KEPT_CONSUMERS.close_all()


@pytest.fixture(autouse=True)
def _collect_the_test_process():
    """The CLI's ingest commands freeze the heap for the process's life (``startup_heap``); a test's end is that
    life here, so later tests' garbage is collected as usual."""
    yield
    gc.unfreeze()


#: Modules whose every test runs real servers, containers or a Dagster daemon.
SERVER_MODULES = {
    "test_containers", "test_daemon", "test_demo", "test_keystone", "test_migrate", "test_run_tags",
    "test_run_workers", "test_sensors", "test_storage_backends",
}  # fmt: skip
#: Fixtures that start servers: a test using one is a server test wherever it lives.
SERVER_FIXTURES = {"servers", "broker"}


def pytest_collection_modifyitems(items):
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
        if module in SERVER_MODULES or SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.servers)
