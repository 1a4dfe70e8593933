"""Object stores the products are written to, one class per backend.

Keys are ``<dir>/<file>`` paths as in docs/products.md. Every backend writes
atomically: a reader sees the old object or the whole new one, never a part.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class StorageError(RuntimeError):
    """A storage operation failed; the message names the backend and the object, never credentials."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int


class ObjectStore(Protocol):
    """What the IO managers, the ledger and the tools need of a backend."""

    backend: str

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]: ...

    def delete(self, key: str) -> None: ...


class LocalObjectStore:
    """Objects as files under ``root``; writes go to a temporary file renamed into place."""

    backend = "local"

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise StorageError(f"local: key {key!r} escapes the storage root")
        return path

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
                tmp.write(data)
            os.replace(tmp.name, path)
        except OSError as exc:
            raise StorageError(f"local: cannot write {key}: {exc.strerror or exc}") from exc

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise StorageError(f"local: object {key} does not exist") from exc
        except OSError as exc:
            raise StorageError(f"local: cannot read {key}: {exc.strerror or exc}") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        if not self.root.is_dir():
            return
        for path in sorted(self.root.rglob("*")):
            key = path.relative_to(self.root).as_posix()
            if path.is_file() and key.startswith(prefix) and not path.name.startswith("."):
                yield ObjectInfo(key, path.stat().st_size)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)
