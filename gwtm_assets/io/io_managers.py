"""IO managers: the only code that moves asset values in and out of storage."""

import pickle
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

from dagster import (
    AssetRecordsFilter,
    ConfigurableIOManager,
    InputContext,
    MetadataValue,
    OutputContext,
    ResourceDependency,
)
from pydantic import PrivateAttr

from ..resources.storage import ProductStorage
from ..storage_keys import incoming_notice_key, intermediate_key
from .object_store import StorageError


@dataclass(frozen=True)
class ProductFiles:
    """Products of one asset for one partition: object key (``<dir>/<file>``) -> bytes."""

    files: dict[str, bytes] = field(default_factory=dict)
    #: Keys written only when storage does not hold them yet (products made once per event).
    write_once: frozenset[str] = frozenset()

    def __len__(self) -> int:
        return len(self.files)


class ProductIOManager(ConfigurableIOManager):
    """Writes :class:`ProductFiles` under their contract names (README "Products", ``storage_keys.py``) and reads them back."""

    storage: ResourceDependency[ProductStorage]

    def handle_output(self, context: OutputContext, obj: ProductFiles) -> None:
        store = self.storage.object_store()
        started = time.perf_counter()
        kept = sorted(key for key in obj.write_once if key in obj.files and store.exists(key))
        for key, data in obj.files.items():
            if key not in kept:
                store.put(key, data)
        # Recorded with the materialization, so downstream loads read exactly these objects.
        context.add_output_metadata(
            {
                "storage": self.storage.describe(),
                "objects": MetadataValue.json(sorted(obj.files)),
                "bytes": sum(len(d) for d in obj.files.values()),
                "kept_existing": MetadataValue.json(kept),
                "write_ms": round(1000 * (time.perf_counter() - started), 1),
            }
        )

    def load_input(self, context: InputContext) -> ProductFiles:
        """Read back the objects the upstream partition's latest materialization recorded."""
        keys = _materialized_objects(context)
        if keys is None:
            raise StorageError(f"{context.asset_key.to_user_string()}: no materialization recorded for this partition")
        store = self.storage.object_store()
        return ProductFiles({key: store.get(key) for key in keys})


def _materialized_objects(context: InputContext) -> list[str] | None:
    """Object keys in the ``objects`` metadata of the latest materialization of the input's partition."""
    partitions = [context.asset_partition_key] if context.has_asset_partitions else None
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=context.asset_key, asset_partitions=partitions), limit=1
    ).records
    if not records or records[0].asset_materialization is None:
        return None
    objects = records[0].asset_materialization.metadata.get("objects")
    return [str(key) for key in cast(Sequence[str], objects.value)] if objects is not None else []


class IncomingNoticeIOManager(ConfigurableIOManager):
    """Raw notice bytes in the landing area, keyed by partition (written by the sensors and ``ingest``)."""

    storage: ResourceDependency[ProductStorage]

    def handle_output(self, context: OutputContext, obj: bytes) -> None:
        self.storage.object_store().put(incoming_notice_key(context.partition_key), obj)

    def load_input(self, context: InputContext) -> bytes:
        return self.storage.object_store().get(incoming_notice_key(context.asset_partition_key))


class PickledValueIOManager(ConfigurableIOManager):
    """Values passed between a run's assets (decoded maps, records), pickled into the product storage.

    Objects ``intermediates/<asset>/<partition>.pickle`` in whichever backend
    ``STORAGE_BUCKET_SOURCE`` selects (for Azure Blob, container ``intermediates``),
    so any asset re-materializes alone from the UI on any deployment.

    A run reads each object from storage once at most: most steps of a notice's products run load the notice and
    its sky map (19 loads, 22 MB), so the bytes a run wrote or first read are kept for its later loads.
    Dagster makes this IO manager anew for every run, so no run sees what another kept. The bytes, not the objects,
    are kept: every load gets its own copy, as from storage.
    """

    storage: ResourceDependency[ProductStorage]
    prefix: str = "intermediates"

    _run_objects: dict[str, bytes] = PrivateAttr(default_factory=dict)

    def _key(self, asset_path: Sequence[str], partition_key: str | None) -> str:
        return intermediate_key(self.prefix, asset_path, partition_key)

    def handle_output(self, context: OutputContext, obj: object) -> None:
        key = self._key(context.asset_key.path, context.partition_key if context.has_partition_key else None)
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        self.storage.object_store().put(key, data)
        self._run_objects[key] = data

    def load_input(self, context: InputContext) -> object:
        key = self._key(context.asset_key.path, context.asset_partition_key if context.has_asset_partitions else None)
        data = self._run_objects.get(key)
        if data is None:
            data = self._run_objects[key] = self.storage.object_store().get(key)
        return pickle.loads(data)
