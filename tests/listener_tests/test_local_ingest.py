"""Ingest the bundled LIGO sample notices through the asset graph, locally.

Run as a script (``python tests/listener_tests/test_local_ingest.py``): it
starts the project's contract-checking GWTM API, materializes every sample in
time order into ``./gwtm-data`` and prints one line per notice. Under pytest
the same path is checked.
"""

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from gwtm_assets.ingest import ingest_files
from gwtm_assets.settings import GWTMSettings
from gwtm_assets.testing.gwtm_api_server import GWTMApiTestServer

ORDER = ["earlywarning", "preliminary", "initial", "update", "ext-update", "retraction"]
SAMPLES = [ROOT / "samples" / "ligo" / f"MS181101ab-{name}.json" for name in ORDER] + [
    ROOT / "samples" / "ligo" / "S230518h-preliminary.json"
]


def run(storage_dir: str) -> list:
    with GWTMApiTestServer(admin_token="local-admin") as api:
        settings = GWTMSettings(api_base=api.base, api_token="local-admin", local_storage_dir=storage_dir, storage_bucket_source="local")
        return ingest_files(SAMPLES, settings)


def test_local_ingest_of_ligo_samples():
    with tempfile.TemporaryDirectory() as tmp:
        results = run(tmp)
    assert all(r.success and r.checks_passed for r in results), [r.error for r in results]
    assert len(results) == len(SAMPLES)


if __name__ == "__main__":
    outcome = run(str(Path.cwd() / "gwtm-data"))
    for result in outcome:
        print(result.line())
    sys.exit(0 if all(r.success for r in outcome) else 1)
