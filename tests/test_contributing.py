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


def _imports(path):
    """Absolute names of the modules a file imports (relative imports resolved)."""
    import ast

    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            names |= {module} | {f"{module}.{alias.name}" for alias in node.names}
    return names


def _product_modules():
    return [p for p in (REPO / "gwtm_assets").rglob("*.py") if "devtools" not in p.parts]


def test_the_product_imports_no_test_double_and_no_dev_tool_but_from_the_two_dev_commands():
    offenders = {}
    for path in _product_modules():
        found = {n for n in _imports(path) if n == "tests" or n.startswith(("tests.", "gwtm_assets.devtools"))}
        if path.name == "cli.py":  # `gwtm-cron demo` and `dev-api`, imported only when run
            found -= {"gwtm_assets.devtools.demo", "gwtm_assets.devtools.demo.main"}
            found -= {"gwtm_assets.devtools.gwtm_api_server", "gwtm_assets.devtools.gwtm_api_server.GWTMApiTestServer"}
        if found:
            offenders[str(path.relative_to(REPO))] = sorted(found)
    assert offenders == {}


def test_the_science_imports_nothing_from_dagster_storage_or_the_network():
    forbidden = ("dagster", "requests", "boto3", "azure", "swiftclient", "confluent_kafka", "gwtm_assets.io")
    offenders = {
        str(path.relative_to(REPO)): sorted(n for n in _imports(path) if n.startswith(forbidden))
        for path in (REPO / "gwtm_assets" / "science").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_nothing_imports_the_definitions():
    offenders = [
        str(p.relative_to(REPO))
        for p in _product_modules()
        if any(n.startswith("gwtm_assets.definitions") for n in _imports(p))
    ]
    # the warm pool preloads it by name (a string, not an import), as Dagster does
    assert offenders == []


def test_the_image_leaves_the_dev_tools_out():
    assert "gwtm_assets/devtools" in (REPO / ".dockerignore").read_text().split()
