"""CONTRIBUTING.md's package map lists every module of the tree, and only those; old plugin paths still load."""

import importlib
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_the_package_map_lists_every_module_and_no_other():
    text = (REPO / "CONTRIBUTING.md").read_text()
    table = text.split("<!-- package-map:start -->")[1].split("<!-- package-map:end -->")[0]
    listed = set(re.findall(r"^\| `([^`]+\.py)` \|", table, flags=re.M))
    modules = {
        str(path.relative_to(REPO)) for path in (REPO / "gwtm_assets").rglob("*.py") if path.name != "__init__.py"
    }
    assert listed == modules, {"not listed": sorted(modules - listed), "gone": sorted(listed - modules)}


@pytest.mark.parametrize(
    ("old", "name"),
    [
        ("gwtm_assets.instance", "EventTaggingInstance"),
        ("gwtm_assets.run_coordinator", "EventTaggingRunCoordinator"),
        ("gwtm_assets.run_launcher", "WarmRunLauncher"),
        ("gwtm_assets.run_launcher_k8s", "K8sWarmRunLauncher"),
    ],
)
def test_instance_plugins_load_from_their_old_module_paths(old, name):
    new = old.replace("gwtm_assets.", "gwtm_assets.runtime.")
    assert getattr(importlib.import_module(old), name) is getattr(importlib.import_module(new), name)


def test_the_tools_do_not_import_the_code_location():
    """An unrelated incomplete setting must not stop `gwtm-cron migrate`: the tools never build `defs`."""
    import subprocess
    import sys

    probe = (
        "import sys, gwtm_assets.cli, gwtm_assets.ingest, gwtm_assets.migrate, gwtm_assets.sensors.replay;"
        "sys.exit('gwtm_assets.definitions' in sys.modules)"
    )
    env = {"PATH": "/usr/bin:/bin", "STORAGE_BUCKET_SOURCE": "swift"}  # incomplete: defs would refuse to build
    assert subprocess.run([sys.executable, "-c", probe], env=env, cwd=REPO, check=False).returncode == 0
