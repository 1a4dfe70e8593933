"""Storage migration between two real servers: ours against the earlier tool's approach, in the same run.

Source: Azurite (Azure Blob; or moto's S3 server with ``--source moto``);
destination: an OpenStack Swift all-in-one (its own API, tempauth). 1,000
objects from 1 KB JSON to 2 MB FITS under ``fit/``.

- ours: ``gwtm_assets.migrate.migrate`` (sizes from the listing, 8 streaming workers, verified copies);
- earlier: download every object to size it, then copy them one at a time (get, put).

Then the peak RSS of ``gwtm-cron migrate`` (a subprocess, sampled) copying 50 MB objects.

    python benchmarks/bench_migration.py [--objects 1000]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

from gwtm_assets.migrate import migrate
from gwtm_assets.resources.builders import build_storage
from gwtm_assets.settings import GWTMSettings

# Test doubles live in tests/ (not in the package): the repository root on the path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.storage_servers import SWIFT_KEY, SWIFT_USER, AzuriteServer, MotoS3Server, SwiftServer  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def object_sizes(n: int) -> list[tuple[str, int]]:
    """Alert-like objects: half small JSON (1-10 KB), 30% contours/MOCs (50-500 KB), 20% sky maps (1-2 MB)."""
    rng = random.Random(42)
    objects = []
    for i in range(n):
        kind = rng.random()
        if kind < 0.5:
            objects.append((f"fit/S24{i:05d}-Preliminary_alert.json", rng.randint(1024, 10 * 1024)))
        elif kind < 0.8:
            objects.append((f"fit/S24{i:05d}-Preliminary-contours-smooth.json", rng.randint(50 * 1024, 500 * 1024)))
        else:
            objects.append((f"fit/S24{i:05d}-Preliminary.fits.gz", rng.randint(1024 * 1024, 2 * 1024 * 1024)))
    return objects


def earlier_approach(source, dest, prefix: str) -> tuple[int, int]:
    """The tool users ran: download each object to learn its size, then copy one at a time."""
    keys = [o.key for o in source.list(prefix)]
    total = sum(len(source.get(key)) for key in keys)
    for key in keys:
        dest.put(key, source.get(key))
    return len(keys), total


def peak_rss_of(command: list[str], env: dict[str, str]) -> tuple[float, int]:
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0.0
    handle = psutil.Process(process.pid)
    while process.poll() is None:
        try:
            peak = max(peak, sum(p.memory_info().rss for p in [handle, *handle.children(recursive=True)]) / 1e6)
        except psutil.Error:
            pass
        time.sleep(0.05)
    return peak, process.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--source", choices=["azurite", "moto"], default="azurite",
                        help="source server: Azurite (abfs), or moto (s3; single-threaded, it caps any concurrent reader)")  # fmt: skip
    args = parser.parse_args()

    source_server = AzuriteServer() if args.source == "azurite" else MotoS3Server()
    swift = SwiftServer()
    try:
        if args.source == "azurite":
            source_settings = GWTMSettings(
                storage_bucket_source="abfs", azure_storage_connection_string=source_server.connection_string
            )
            source_env = {"AZURE_STORAGE_CONNECTION_STRING": source_server.connection_string}
        else:
            s3 = {"aws_bucket": "gwtm-bench", "aws_endpoint_url": source_server.endpoint_url, "aws_access_key_id": "k",
                  "aws_secret_access_key": "s", "aws_default_region": "us-east-1"}  # fmt: skip
            source_settings = GWTMSettings(storage_bucket_source="s3", **s3)
            source_env = {k.upper(): v for k, v in s3.items()}
        backend = source_settings.storage_bucket_source

        def swift_settings(container: str) -> GWTMSettings:
            return GWTMSettings(storage_bucket_source="swift", os_auth_url=swift.auth_url, os_username=SWIFT_USER,
                                os_password=SWIFT_KEY, os_container_name=container)  # fmt: skip

        source = build_storage(source_settings).object_store()
        if backend == "s3":
            source.client.create_bucket(Bucket="gwtm-bench")
        objects = object_sizes(args.objects)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda item: source.put(item[0], os.urandom(item[1])), objects))
        total_mb = sum(size for _, size in objects) / 1e6
        print(
            f"{len(objects)} objects, {total_mb:.1f} MB under fit/ in {args.source} ({backend}) -> Swift all-in-one (swift)\n"
        )

        started = time.perf_counter()
        count, _ = earlier_approach(source, build_storage(swift_settings("earlier")).object_store(), "fit/")
        earlier_s = time.perf_counter() - started
        print(
            f"earlier approach: {count} objects in {earlier_s:.1f} s: {count / earlier_s:.1f} objects/s, {total_mb / earlier_s:.1f} MB/s"
        )

        started = time.perf_counter()
        report = migrate(
            lambda: build_storage(source_settings).object_store(), lambda: build_storage(swift_settings("ours")).object_store(),
            "fit/", workers=args.workers, out=lambda line: None,
        )  # fmt: skip
        ours_s = time.perf_counter() - started
        assert report.ok and len(report.copied) == len(objects), report.failed
        print(f"ours ({args.workers} workers): {len(report.copied)} objects in {ours_s:.1f} s: "
              f"{len(objects) / ours_s:.1f} objects/s, {total_mb / ours_s:.1f} MB/s (each copy verified)")  # fmt: skip
        print(f"ratio: {earlier_s / ours_s:.1f}x faster\n")

        for i in range(8):
            source.put(f"test/big-{i}.fits", os.urandom(50 * 1024 * 1024))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OS_", "AZURE_", "STORAGE_"))}
        env |= source_env | {
            "OS_AUTH_URL": swift.auth_url,
            "OS_USERNAME": SWIFT_USER,
            "OS_PASSWORD": SWIFT_KEY,
            "OS_CONTAINER_NAME": "big",
        }
        command = [sys.executable, str(REPO / "scripts" / "migrate_storage.py"), "--source", backend, "--dest", "swift", "--container", "test",
                   "--workers", str(args.workers)]  # fmt: skip
        peak, code = peak_rss_of(command, env)
        print(
            f"peak RSS of scripts/migrate_storage.py copying 8 x 50 MB objects with {args.workers} workers: {peak:.0f} MB (exit {code})"
        )
    finally:
        source_server.stop()
        swift.stop()


if __name__ == "__main__":
    main()
