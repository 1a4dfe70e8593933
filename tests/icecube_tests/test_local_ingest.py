"""Ingest the bundled IceCube sample notices (both event layouts) through the asset graph, locally.

Run as a script (``python tests/icecube_tests/test_local_ingest.py``): it
starts the project's contract-checking GWTM API, materializes every sample
and prints one line per notice. Under pytest the same path is checked.
"""

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.local_ingest import ingest_with_local_api, main  # noqa: E402 -- runnable as a script

SAMPLES = sorted((ROOT / "samples" / "icecube").glob("*.json"))


def test_local_ingest_of_icecube_samples():
    with tempfile.TemporaryDirectory() as tmp:
        results = ingest_with_local_api(SAMPLES, tmp)
    assert all(r.success for r in results), [r.error for r in results]
    assert {r.graceid for r in results} == {"MS230427r", "S230914ak"}


if __name__ == "__main__":
    sys.exit(main(SAMPLES))
