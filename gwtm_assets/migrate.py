"""Copy stored products between backends: estimated from listings, streamed, verified, resumable.

``gwtm-cron migrate --source s3 --dest swift --container fit`` (and
``python scripts/migrate_storage.py`` with the same options) copies every
object under ``<container>/`` from one backend to another, each configured
by its usual environment variables (``AWS_*``, ``AZURE_*``, ``OS_*``,
``LOCAL_STORAGE_DIR``).

- The total comes from the listings' sizes; nothing is downloaded to measure it.
- N workers copy concurrently; each object streams through in pieces
  (``CHUNK_BYTES``), so memory does not grow with object size.
- An object already at the destination with the same size and MD5 is skipped
  (unless ``--force``); every copy is verified (size, MD5) after it lands.
  Writes are atomic, so a migration killed at any point and run again ends
  with the source and destination equal.
- Failures are retried with backoff, then recorded; the run goes on, lists the
  failed objects with their reasons and exits non-zero.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential
from tqdm import tqdm

from .io.object_store import ObjectInfo, ObjectStore, StorageError

RULE = "=" * 80


class VerificationError(StorageError):
    """A copy landed but does not match its source."""


@dataclass
class MigrationPlan:
    """What a migration will do: objects to copy and objects already in place."""

    to_copy: list[ObjectInfo]
    in_place: list[ObjectInfo]

    @property
    def bytes_to_copy(self) -> int:
        return sum(o.size for o in self.to_copy)


@dataclass
class MigrationReport:
    copied: list[ObjectInfo] = field(default_factory=list)
    skipped: list[ObjectInfo] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def bytes_copied(self) -> int:
        return sum(o.size for o in self.copied)

    @property
    def ok(self) -> bool:
        return not self.failed


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.2f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.2f} TB"


def human_seconds(s: float) -> str:
    return f"{s:.1f}s" if s < 60 else f"{s / 60:.1f}m" if s < 3600 else f"{s / 3600:.1f}h"


def same_content(
    source: ObjectInfo,
    dest: ObjectInfo | None,
    source_md5: Callable[[], str | None],
    dest_md5: Callable[[], str | None],
) -> bool:
    """Whether ``dest`` already holds ``source``: equal size, and equal MD5 (from the listings, else asked for)."""
    if dest is None or dest.size != source.size:
        return False
    a = source.md5 or source_md5()
    b = dest.md5 or dest_md5()
    return a is not None and a == b


def plan_migration(source: ObjectStore, dest: ObjectStore, prefix: str, force: bool = False) -> MigrationPlan:
    """Compare the two listings under ``prefix`` (sizes and MD5s; nothing is downloaded unless an MD5 is missing)."""
    existing = {o.key: o for o in dest.list(prefix)}
    to_copy, in_place = [], []
    for obj in source.list(prefix):
        held = existing.get(obj.key)
        if not force and same_content(
            obj, held, functools.partial(source.md5, obj.key), functools.partial(dest.md5, obj.key)
        ):
            in_place.append(obj)
        else:
            to_copy.append(obj)
    return MigrationPlan(to_copy, in_place)


class _HashingChunks:
    """Chunks passed through while counting bytes and computing their MD5."""

    def __init__(self, chunks: Iterator[bytes], progress: Callable[[int], None]):
        self._chunks = chunks
        self._progress = progress
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self.md5.update(chunk)
            self.size += len(chunk)
            self._progress(len(chunk))
            yield chunk


def copy_object(
    source: ObjectStore, dest: ObjectStore, obj: ObjectInfo, progress: Callable[[int], None] = lambda n: None
) -> None:
    """Stream one object from ``source`` to ``dest`` and verify it there; raises StorageError naming the object."""
    expected_md5 = obj.md5 or None
    stream = _HashingChunks(source.iter_chunks(obj.key), progress)
    dest.put_chunks(obj.key, stream, obj.size, expected_md5)
    actual = stream.md5.hexdigest()
    if stream.size != obj.size:
        raise VerificationError(f"{obj.key}: read {stream.size} bytes from {source.backend}, listed {obj.size}")
    if expected_md5 and actual != expected_md5:
        raise VerificationError(f"{obj.key}: MD5 of the bytes read from {source.backend} differs from its listing")
    if expected_md5 and getattr(dest, "checks_md5_on_put", False):
        return  # the backend refused the PUT unless the body matched expected_md5: no need to ask again
    landed = dest.md5(obj.key)
    if landed is not None and landed != actual:
        raise VerificationError(f"{obj.key}: {dest.backend} holds MD5 {landed}, copied {actual}")


def migrate(
    make_source: Callable[[], ObjectStore],
    make_dest: Callable[[], ObjectStore],
    prefix: str,
    workers: int = 8,
    force: bool = False,
    dry_run: bool = False,
    attempts: int = 3,
    out: Callable[[str], None] = print,
) -> MigrationReport:
    """Migrate ``prefix`` from the store ``make_source()`` returns to ``make_dest()``'s; see the module docstring.

    ``make_*`` are called once per worker thread (some clients are not thread-safe).
    """
    started = time.monotonic()
    source, dest = make_source(), make_dest()
    out(f"Scanning source ({source.backend})...")
    plan = plan_migration(source, dest, prefix, force)
    total_objects = len(plan.to_copy) + len(plan.in_place)
    out(
        f"Found {total_objects} files. Total size: ~{human_bytes(plan.bytes_to_copy + sum(o.size for o in plan.in_place))} ({total_objects} files)"
    )
    if plan.in_place:
        out(f"Already at the destination with equal size and MD5 (skipped): {len(plan.in_place)} files")
    out(f"To copy: {len(plan.to_copy)} files, {human_bytes(plan.bytes_to_copy)}")
    report = MigrationReport(skipped=plan.in_place)
    if dry_run:
        out(RULE)
        for obj in plan.to_copy:
            out(f"would copy {obj.key} ({human_bytes(obj.size)})")
        out(RULE)
        out(
            f"Dry run: nothing changed. {len(plan.to_copy)} files, ~{human_bytes(plan.bytes_to_copy)} would move from {source.backend} to {dest.backend}."
        )
        report.seconds = time.monotonic() - started
        return report

    local = threading.local()

    def stores() -> tuple[ObjectStore, ObjectStore]:
        if getattr(local, "stores", None) is None:
            local.stores = (make_source(), make_dest())
        return local.stores

    out("-" * 80)
    bar = tqdm(
        total=plan.bytes_to_copy, unit="B", unit_scale=True, unit_divisor=1024, desc="Migrating", dynamic_ncols=True
    )
    lock = threading.Lock()

    def advance(n: int) -> None:
        with lock:
            bar.update(n)

    @retry(stop=stop_after_attempt(attempts), wait=wait_exponential(multiplier=0.5, max=8),
           retry=retry_if_exception_type(StorageError), reraise=True)  # fmt: skip
    def copy_with_retries(obj: ObjectInfo) -> None:
        src, dst = stores()
        try:
            copy_object(src, dst, obj, advance)
        except StorageError:
            local.stores = None  # a fresh connection for the next attempt
            raise

    done = 0
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(copy_with_retries, obj): obj for obj in plan.to_copy}
        for future in as_completed(futures):
            obj = futures[future]
            done += 1
            position = f"[{done}/{len(plan.to_copy)} - {100 * done / max(1, len(plan.to_copy)):.1f}%]"
            try:
                future.result()
            except Exception as exc:  # noqa: BLE001 - one object's failure, whatever it is, never stops the others
                report.failed[obj.key] = str(exc)
                bar.write(f"{position} {obj.key} ({human_bytes(obj.size)}) FAILED: {exc}")
            else:
                report.copied.append(obj)
                bar.write(f"{position} {obj.key} ({human_bytes(obj.size)}) ✓")
    bar.close()
    report.seconds = time.monotonic() - started
    rate = report.bytes_copied / report.seconds if report.seconds else 0.0
    out(RULE)
    out("Migration complete!" if report.ok else "Migration finished with failures")
    out(
        f"Successful: {len(report.copied)}/{len(plan.to_copy)}"
        + (f" (plus {len(plan.in_place)} already in place)" if plan.in_place else "")
    )
    out(f"Total size: {human_bytes(report.bytes_copied)}")
    out(f"Total time: {human_seconds(report.seconds)}")
    out(f"Avg rate: {human_bytes(rate)}/s")
    if report.failed:
        out(f"Failed ({len(report.failed)}):")
        for key, reason in sorted(report.failed.items()):
            out(f"  {key}: {reason}")
    return report
