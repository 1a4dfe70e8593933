"""The code location loads as the operators load it, and logs as configured."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from gwtm_assets.logging_setup import configure_logging
from gwtm_assets.settings import GWTMSettings

ROOT = Path(__file__).resolve().parent.parent


def validate_workspace(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """``dagster definitions validate`` on our workspace, as an operator's deployment would load it."""
    environment = dict(os.environ, DAGSTER_HOME=str(tmp_path), LOCAL_STORAGE_DIR=str(tmp_path / "data"), **env)
    (tmp_path / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    dagster = Path(sys.executable).parent / "dagster"
    command = [str(dagster), "definitions", "validate", "-w", "workspace.yaml"]
    return subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300, check=False)


def test_workspace_loads_with_dagster_cli(tmp_path):
    done = validate_workspace(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "gwtm" in done.stdout + done.stderr


def test_incomplete_storage_configuration_fails_the_code_location_naming_the_variable(tmp_path):
    done = validate_workspace(tmp_path, STORAGE_BUCKET_SOURCE="swift", OS_AUTH_URL="")
    assert done.returncode != 0
    assert "STORAGE_BUCKET_SOURCE=swift needs OS_AUTH_URL" in done.stdout + done.stderr


def test_json_log_format(capsys):
    configure_logging(GWTMSettings(log_format="json", log_level="INFO"))
    logging.getLogger("gwtm_assets.test").info("alert %s posted", "S1")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["message"] == "alert S1 posted" and record["level"] == "INFO"
    configure_logging(GWTMSettings(log_format="text"))
