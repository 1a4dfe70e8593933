"""Keystone token requests and time of `ingest` into Swift behind a real Keystone, as the deployed chart configures it.

Starts Keystone v3 + Swift on loopback (tests/keystone_swift.py), then ingests
the bundled MS181101ab notices twice in one process (after a warm-up run) with the deployed
convention (32-hex OS_USERNAME + OS_PASSWORD, OS_STORAGE_URL): once with a new
keystoneauth session for every connection (what each copy of the storage
resource did before) and once with the shared session. Prints token requests
(counted by a proxy in front of Keystone) and the median time per notice.

    python benchmarks/bench_keystone_tokens.py
"""

import statistics
import sys
import tempfile
from pathlib import Path

from dagster import DagsterInstance

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gwtm_assets.devtools.gwtm_api_server import GWTMApiTestServer  # noqa: E402
from gwtm_assets.ingest import ingest_files  # noqa: E402
from gwtm_assets.resources import swift  # noqa: E402
from gwtm_assets.settings import GWTMSettings  # noqa: E402
from tests.keystone_swift import PROJECT, KeystoneSwiftServer  # noqa: E402

NOTICES = ["MS181101ab-preliminary", "MS181101ab-initial", "MS181101ab-update", "MS181101ab-ext-update"]
TOKEN = "bench-admin-token"


def run(server: KeystoneSwiftServer, container: str) -> tuple[int, float]:
    with tempfile.TemporaryDirectory() as local, GWTMApiTestServer(admin_token=TOKEN) as api:
        settings = GWTMSettings(
            storage_bucket_source="swift", os_auth_url=server.auth_url, os_storage_url=server.storage_url("direct"),
            os_username=server.application_credential_id, os_password=server.application_credential_secret,
            os_project_name=PROJECT, os_container_name=container, local_storage_dir=local, api_base=api.base,
            api_token=TOKEN, fermi_tle_source=str(REPO / "samples" / "fermi"),
        )  # fmt: skip
        before = server.token_proxy.token_requests()
        results = ingest_files(
            [REPO / "samples" / "ligo" / f"{n}.json" for n in NOTICES], settings, DagsterInstance.ephemeral()
        )
        assert all(r.ok for r in results), [r.error for r in results]
        return server.token_proxy.token_requests() - before, statistics.median(r.elapsed_ms for r in results)


def main() -> None:
    server = KeystoneSwiftServer()
    shared = swift.SwiftResource._keystone_session
    try:
        print(f"Keystone + Swift up in {server.startup_s:.1f} s")
        run(server, "bench-warm-up")  # imports and first runs, paid by neither measured run
        swift.SwiftResource._keystone_session = swift.SwiftResource._new_keystone_session  # type: ignore[method-assign]
        tokens_before, ms_before = run(server, "bench-before")
        swift.SwiftResource._keystone_session = shared  # type: ignore[method-assign]
        swift.KEYSTONE_SESSIONS.close_all()
        tokens_after, ms_after = run(server, "bench-after")
    finally:
        swift.SwiftResource._keystone_session = shared  # type: ignore[method-assign]
        server.stop()
    n = len(NOTICES)
    print("| storage sessions | notices | token requests | per notice | median ms per notice (run) |")
    print("|---|---|---|---|---|")
    print(f"| one per connection (before) | {n} | {tokens_before} | {tokens_before / n:.1f} | {ms_before:.0f} |")
    print(f"| shared per process (after) | {n} | {tokens_after} | {tokens_after / n:.2f} | {ms_after:.0f} |")


if __name__ == "__main__":
    main()
