"""Storage migration between real servers (moto S3 -> Swift, and Azurite), as users run it."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from gwtm_assets.devtools.daemon import REPO
from gwtm_assets.io.object_store import StorageError
from gwtm_assets.migrate import migrate

from .storage_backends import KEYSTONE_BACKENDS

pytestmark = pytest.mark.timeout(600)


def settings_env(*settings) -> dict[str, str]:
    """The environment variables that configure each side, as an operator's shell would hold them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OS_", "AZURE_", "STORAGE_"))}
    prefixes = {"s3": "aws_", "swift": "os_", "abfs": "azure_", "local": "local_storage_dir"}
    for s in settings:
        for name, value in s.model_dump().items():
            if name.startswith(prefixes[s.storage_bucket_source]) and value:
                env[name.upper()] = str(value)
    return env


def run_migrate(env, *args, timeout=300):
    command = [sys.executable, str(REPO / "scripts" / "migrate_storage.py"), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def populate(store, objects: dict[str, bytes]) -> None:
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda item: store.put(*item), objects.items()))


def checksums(store, prefix: str) -> dict[str, str]:
    return {o.key: store.md5(o.key) for o in store.list(prefix)}


@pytest.fixture(params=["swift", *KEYSTONE_BACKENDS])
def s3_to_swift(servers, tmp_path, request):
    """To Swift with v1 auth, and behind Keystone v3 with each way production passes credentials."""
    source = servers.backend("s3-moto", tmp_path)
    dest = servers.backend(request.param, tmp_path)
    return source, dest, settings_env(source.settings, dest.settings)


def test_dry_run_then_migration_then_rerun_skips_everything(s3_to_swift):
    source, dest, env = s3_to_swift
    objects = {f"fit/S2305{i:02d}x-Preliminary_alert.json": os.urandom(1024) for i in range(30)}
    objects |= {"fit/S230518h-Preliminary.fits.gz": os.urandom(2 * 1024 * 1024), "fit/big_moc.fits": os.urandom(12 * 1024 * 1024),
                "fit/empty.json": b"", "test/MS181101ab-Preliminary_alert.json": b"{}"}  # fmt: skip
    populate(source.store(), objects)

    dry = run_migrate(env, "--source", "s3", "--dest", "swift", "--container", "fit", "--dry-run")
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert "Found 33 files" in dry.stdout and "Dry run: nothing changed" in dry.stdout
    assert "would copy fit/big_moc.fits (12.00 MB)" in dry.stdout
    assert list(dest.store().list("fit/")) == []

    done = run_migrate(env, "--source", "s3", "--dest", "swift", "--container", "fit", "--workers", "4")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Migration complete!" in done.stdout and "Successful: 33/33" in done.stdout
    assert "Avg rate:" in done.stdout and "Total size: 14.03 MB" in done.stdout
    assert checksums(dest.store(), "fit/") == {
        k: hashlib.md5(v).hexdigest() for k, v in objects.items() if k.startswith("fit/")
    }
    assert not dest.store().exists("test/MS181101ab-Preliminary_alert.json")

    again = run_migrate(env, "--source", "s3", "--dest", "swift", "--container", "fit")
    assert again.returncode == 0
    assert "To copy: 0 files" in again.stdout and "(skipped): 33 files" in again.stdout
    forced = run_migrate(env, "--source", "s3", "--dest", "swift", "--container", "fit", "--force")
    assert forced.returncode == 0 and "Successful: 33/33" in forced.stdout


def test_failures_are_retried_listed_and_the_rest_goes_on(servers, tmp_path):
    source = servers.backend("s3-moto", tmp_path)
    dest = servers.backend("abfs-azurite", tmp_path)
    populate(source.store(), {f"{dest.prefix}{name}.json": name.encode() for name in ("a", "b", "flaky", "broken")})
    attempts: dict[str, int] = {}

    class Unreliable:
        """The destination store, failing one object always and another once."""

        def __init__(self, store):
            self.store, self.backend = store, store.backend

        def __getattr__(self, name):
            return getattr(self.store, name)

        def put_chunks(self, key, chunks, size, md5):
            attempts[key] = attempts.get(key, 0) + 1
            if key.endswith("broken.json") or (key.endswith("flaky.json") and attempts[key] == 1):
                raise StorageError(f"abfs: cannot write {key}: HTTP 503")
            return self.store.put_chunks(key, chunks, size, md5)

    lines: list[str] = []
    report = migrate(
        source.fresh_store, lambda: Unreliable(dest.fresh_store()), dest.prefix, workers=2, out=lines.append
    )
    assert not report.ok
    assert (
        list(report.failed) == [f"{dest.prefix}broken.json"]
        and "HTTP 503" in report.failed[f"{dest.prefix}broken.json"]
    )
    assert attempts[f"{dest.prefix}broken.json"] == 3 and attempts[f"{dest.prefix}flaky.json"] == 2
    assert sorted(o.key.rsplit("/", 1)[-1] for o in dest.store().list(dest.prefix)) == [
        "a.json",
        "b.json",
        "flaky.json",
    ]
    assert "Failed (1):" in lines and any("broken.json: abfs: cannot write" in line for line in lines)


def test_a_killed_migration_run_again_leaves_equal_checksums(s3_to_swift):
    source, dest, env = s3_to_swift
    objects = {f"fit/S2305{i:03d}-Update.fits.gz": os.urandom(256 * 1024) for i in range(160)}
    populate(source.store(), objects)
    command = [
        sys.executable,
        str(REPO / "scripts" / "migrate_storage.py"),
        "--source",
        "s3",
        "--dest",
        "swift",
        "--container",
        "fit",
        "--workers",
        "2",
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(list(dest.store().list("fit/"))) < 20 and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    copied_before_kill = len(list(dest.store().list("fit/")))
    assert 0 < copied_before_kill < len(objects), "the kill should land mid-migration"

    resumed = run_migrate(env, "--source", "s3", "--dest", "swift", "--container", "fit")
    assert resumed.returncode == 0, resumed.stdout[-2000:]
    assert (
        checksums(dest.store(), "fit/")
        == checksums(source.store(), "fit/")
        == {k: hashlib.md5(v).hexdigest() for k, v in objects.items()}
    )
