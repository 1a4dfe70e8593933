"""The storage resources: which backend products go to, and whether writes happen at all."""

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from typing import Any

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr

from ..io.object_store import LocalObjectStore, ObjectStore, StorageError
from ..notices.naming import NoticeTime, notice_time
from ..settings import GWTMSettings
from ..storage_keys import incoming_notice_key, ledger_key, ledger_prefix
from ..timestamps import utc_naive


class ProductStorage(ConfigurableResource):
    """Where products are stored (``STORAGE_BUCKET_SOURCE``): local, S3, Azure Blob or Swift.

    With ``writes_enabled`` false (``DRY_RUN`` or ``WRITE_TO_STORAGE=false``)
    products go to ``scratch_dir`` on local disk instead, so the graph still
    runs end to end and nothing reaches the configured bucket.
    """

    backend: str = Field(default=GWTMSettings.default("storage_bucket_source"), description="local, s3, abfs or swift")
    local_dir: str = Field(default=GWTMSettings.default("local_storage_dir"), description="Root of the local backend")
    writes_enabled: bool = True
    scratch_dir: str = Field(default="./gwtm-data/.dry-run", description="Local stand-in when writes are disabled")

    _store: ObjectStore | None = PrivateAttr(default=None)
    _clients: ExitStack = PrivateAttr(default_factory=ExitStack)

    def object_store(self) -> ObjectStore:
        """The object store for this configuration, built once per resource instance."""
        if self._store is None:
            self._store = self._build_store()
        return self._store

    def _build_store(self) -> ObjectStore:
        if not self.writes_enabled:
            return LocalObjectStore(self.scratch_dir)
        if self.backend == "local":
            return LocalObjectStore(self.local_dir)
        return self.cloud_store()

    def cloud_store(self) -> ObjectStore:
        """The backend's store; the subclasses in ``resources/s3.py``, ``azure.py`` and ``swift.py`` provide it."""
        raise StorageError(f"storage backend {self.backend!r} has no client configured")

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        self._clients.close()

    def describe(self) -> str:
        return (
            f"{self.backend} {self.location()}"
            if self.writes_enabled
            else f"{self.backend} (writes disabled: local scratch)"
        )

    def location(self) -> str:
        return self.local_dir


@contextmanager
def opened_store(storage: ProductStorage) -> Iterator[ObjectStore]:
    """``storage``'s object store outside a Dagster run (command-line tools).

    Dagster resolves the secrets given as ``EnvVar`` when it starts a run; here
    they are resolved the same way, from the environment, and the clients are
    closed on exit.
    """
    with storage.process_config_and_initialize_cm() as resolved:
        yield resolved.object_store()


class AlertLedger(ConfigurableResource):
    """Names and API ids decided for each partition, so re-runs never post or rename twice.

    One small JSON object per partition, ``<dir>/ledger/<partition_key>.json``,
    in the product storage.
    """

    storage: ProductStorage

    def read(self, storage_dir: str, partition_key: str) -> dict[str, Any]:
        store = self.storage.object_store()
        key = ledger_key(storage_dir, partition_key)
        if not store.exists(key):
            return {}
        return json.loads(store.get(key))

    def write(self, storage_dir: str, partition_key: str, entry: dict[str, Any]) -> None:
        self.storage.object_store().put(ledger_key(storage_dir, partition_key), json.dumps(entry, indent=1).encode())

    def notice_times(self, storage_dir: str, graceid: str, excluding: str) -> dict[datetime, NoticeTime]:
        """``datecreated`` -> when its notice was made, for every record other partitions of ``graceid`` named.

        Ledgers written before entries kept ``notice_created`` are completed from the partition's landed notice.
        """
        store = self.storage.object_store()
        times: dict[datetime, NoticeTime] = {}
        for info in store.list(ledger_prefix(storage_dir, graceid)):
            if info.key == ledger_key(storage_dir, excluding):
                continue
            partition_key = info.key.rsplit("/", 1)[-1].removesuffix(".json")
            landed: datetime | None = None
            for entry in json.loads(store.get(info.key)).values():
                notice_created = utc_naive(entry.get("notice_created"))
                if notice_created is None and store.exists(incoming_notice_key(partition_key)):
                    raw = store.get(incoming_notice_key(partition_key))
                    landed = landed or utc_naive(json.loads(raw).get("time_created"))
                    notice_created = landed
                created = utc_naive(entry.get("datecreated"))
                made = notice_time(notice_created, str(entry.get("alert_type", "")))
                if created is not None and made is not None:
                    times[created] = made
        return times

    def count_posted(self, storage_dir: str, graceid: str, alert_type: str, excluding: str) -> int:
        """Records of ``alert_type`` other partitions of ``graceid`` have named: the numbering used without an API."""
        store = self.storage.object_store()
        count = 0
        for info in store.list(ledger_prefix(storage_dir, graceid)):
            if info.key != ledger_key(storage_dir, excluding):
                entries = json.loads(store.get(info.key)).values()
                count += sum(entry.get("alert_type") == alert_type for entry in entries)
        return count
