"""Ingest the bundled LIGO sample notices through the asset graph, locally.

Run as a script (``python tests/listener_tests/test_local_ingest.py``): it
starts the project's contract-checking GWTM API, materializes every sample in
time order into ``./gwtm-data`` and prints one line per notice. Under pytest
the same path is checked.
"""

import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.local_ingest import ingest_with_local_api, main  # noqa: E402 -- runnable as a script

ORDER = ["earlywarning", "preliminary", "initial", "update", "ext-update", "retraction"]
SAMPLES = [ROOT / "samples" / "ligo" / f"MS181101ab-{name}.json" for name in ORDER]
SAMPLES.append(ROOT / "samples" / "ligo" / "S230518h-preliminary.json")


@pytest.mark.slow
def test_local_ingest_of_ligo_samples():
    with tempfile.TemporaryDirectory() as tmp:
        results = ingest_with_local_api(SAMPLES, tmp)
    assert all(r.success and r.checks_passed for r in results), [r.error for r in results]
    assert [r.names["gw"] for r in results][3:5] == ["MS181101ab-Update", "MS181101ab-Update1"]


if __name__ == "__main__":
    sys.exit(main(SAMPLES))
