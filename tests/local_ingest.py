"""Shared body of the documented local-ingest scripts (tests/*_tests/test_local_ingest.py)."""

from pathlib import Path

from gwtm_assets.devtools.gwtm_api_server import GWTMApiTestServer
from gwtm_assets.ingest import IngestResult, ingest_files
from gwtm_assets.settings import GWTMSettings


def ingest_with_local_api(samples: list[Path], storage_dir: str) -> list[IngestResult]:
    """Materialize ``samples`` into local storage, posting to the project's contract-checking API."""
    with GWTMApiTestServer(admin_token="local-admin") as api:
        settings = GWTMSettings(
            api_base=api.base, api_token="local-admin", local_storage_dir=storage_dir, storage_bucket_source="local"
        )
        return ingest_files(samples, settings)


def main(samples: list[Path]) -> int:
    """Ingest into ./gwtm-data and print one line per notice; non-zero exit if any failed."""
    results = ingest_with_local_api(samples, str(Path.cwd() / "gwtm-data"))
    for result in results:
        print(result.line())
    return 0 if all(r.success for r in results) else 1
