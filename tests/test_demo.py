"""`make demo` as a user runs it (without keeping the UI up): broker, dagster dev, sensors, runs, summary."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gwtm_assets.devtools.tansu import free_port


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


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_the_demo_stops_within_10_s_on_sigterm_and_ctrl_c_leaving_nothing_running(stop, tmp_path):
    """Stopped mid-run, while the sensors and runs are busy: Dagster first, then the broker; no traceback."""
    import psutil

    env = {
        **os.environ, "DAGSTER_HOME": str(tmp_path / "home"), "LOCAL_STORAGE_DIR": str(tmp_path / "data"),
        "DEMO_PORT": str(free_port()), "DEMO_API_PORT": str(free_port()), "PYTHONUNBUFFERED": "1",
    }  # fmt: skip
    cli = Path(sys.executable).parent / "gwtm-cron"
    demo = subprocess.Popen([str(cli), "demo"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = []
    for line in demo.stdout:
        output.append(line.decode(errors="replace"))
        if line.startswith(b"== Published"):
            break
    time.sleep(5)  # the sensors are landing notices and runs are starting
    family = psutil.Process(demo.pid).children(recursive=True)
    assert any("tansu" in p.name() for p in family) and any("dagster" in " ".join(p.cmdline()) for p in family)
    started = time.monotonic()
    demo.send_signal(stop)
    rest, _ = demo.communicate(timeout=60)
    took = time.monotonic() - started
    text = "".join(output) + rest.decode(errors="replace")
    assert demo.returncode == 0, text[-3000:]
    assert took <= 10, f"{took:.1f} s"
    assert "Traceback" not in text, text[-3000:]
    left = [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert left == [], [p.cmdline() for p in left]
