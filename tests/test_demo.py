"""`make demo` as a user runs it (without keeping the UI up): broker, dagster dev, sensors, runs, summary."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gwtm_assets.testing.tansu import free_port


@pytest.mark.timeout(900)
def test_demo_publishes_the_samples_and_lists_every_record_and_product(tmp_path):
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "home"),
        "LOCAL_STORAGE_DIR": str(tmp_path / "data"),
        "DEMO_NO_UI": "1",
        "DEMO_PORT": str(free_port()),
        "DEMO_API_PORT": str(free_port()),
    }
    cli = Path(sys.executable).parent / "gwtm-cron"
    done = subprocess.run([str(cli), "demo"], env=env, capture_output=True, text=True, timeout=800, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "All 9 notices materialized" in done.stdout
    assert done.stdout.count("  alert    ") == 8 and done.stdout.count("  icecube  ") == 2
    # Galaxy lists from the synthetic demo catalog: one per notice with a GW map (not the retraction).
    galaxy_lines = [line.split() for line in done.stdout.splitlines() if line.startswith("  galaxies ")]
    assert sorted(line[1] for line in galaxy_lines) == ["MS181101ab"] * 5 + ["S230518h"]
    assert all(int(line[2]) > 0 for line in galaxy_lines)
    assert ["S230518h", "100"] in [line[1:3] for line in galaxy_lines]
    assert "test/MS181101ab-Update1-moc90.fits" in done.stdout
    assert "fit/S230518h-Preliminary.fits.gz" in done.stdout
