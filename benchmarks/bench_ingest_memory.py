"""Peak RSS of ``gwtm-cron ingest`` over every bundled sample (one process, ephemeral instance).

python benchmarks/bench_ingest_memory.py
"""

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    samples = sorted((ROOT / "samples" / "ligo").glob("*.json")) + sorted((ROOT / "samples" / "icecube").glob("*.json"))
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(
            os.environ,
            LOCAL_STORAGE_DIR=tmp,
            STORAGE_BUCKET_SOURCE="local",
            API_BASE="",
            FERMI_TLE_SOURCE=str(ROOT / "samples" / "fermi"),
        )
        env.pop("DAGSTER_HOME", None)
        cli = Path(sys.executable).parent / "gwtm-cron"
        started = time.perf_counter()
        done = subprocess.run(
            [str(cli), "ingest", *map(str, samples)], env=env, capture_output=True, text=True, check=False
        )
        elapsed = time.perf_counter() - started
    print(done.stdout)
    if done.returncode:
        print(done.stderr[-3000:], file=sys.stderr)
        sys.exit(done.returncode)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"{len(samples)} notices in {elapsed:.1f} s; peak RSS of gwtm-cron ingest: {peak_mb:.0f} MB (target <= 1024 MB)"
    )


if __name__ == "__main__":
    main()
