"""The galaxy catalog kept in the product storage, as the earlier listener's start script fetched it.

The object is copied once into a local cache, where the HEALPix index is built
beside it; it is copied again only when its size or MD5 (ETag) in the store
changes, so a code location loading again costs one listing request.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from .object_store import ObjectStore, StorageError, check_key


def fetch_catalog(store: ObjectStore, key: str, cache_dir: Path) -> Path:
    """The local copy of the catalog object ``key``, under ``cache_dir``; raises ``StorageError`` naming the key."""
    check_key(key)
    info = next((o for o in store.list(key) if o.key == key), None)
    if info is None:
        raise StorageError(f"{store.backend}: galaxy catalog {key} does not exist (GALAXY_CATALOG_KEY)")
    source = {"key": key, "size": info.size, "md5": info.md5 or store.md5(key)}
    target = cache_dir / key
    stamp = target.with_name(target.name + ".source.json")
    if target.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == source:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", delete=False) as partial:
        try:
            for chunk in store.iter_chunks(key):
                partial.write(chunk)
        except BaseException:
            os.unlink(partial.name)
            raise
    os.replace(partial.name, target)  # readers see the old catalog or the whole new one
    stamp.write_text(json.dumps(source))
    return target
