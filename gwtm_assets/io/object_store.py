"""Object stores the products are written to, one class per backend.

Keys are ``<dir>/<file>`` paths (README "Products"; built in ``storage_keys.py``). Every backend writes
atomically: a reader sees the old object or the whole new one, never a part.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


class StorageError(RuntimeError):
    """A storage operation failed; the message names the backend and the object, never credentials."""


#: Streaming reads and writes move objects in pieces of this size (bytes), so memory never grows with object size.
CHUNK_BYTES = 1024 * 1024


def check_key(key: str) -> str:
    """``key`` if it is a plain relative object key; one with a ``..`` or empty segment, a NUL or a leading ``/``
    could alias or escape another object on some backend and is refused."""
    parts = key.split("/")
    if not key or "\0" in key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise StorageError(f"refusing unsafe object key {key[:120]!r}")
    return key


@dataclass(frozen=True)
class ObjectInfo:
    """An object as a listing shows it: key, size in bytes, and its MD5 (hex) when the backend reports one."""

    key: str
    size: int
    md5: str | None = None


class ObjectStore(Protocol):
    """What the IO managers, the ledger and the tools need of a backend."""

    backend: str

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]: ...

    def delete(self, key: str) -> None: ...

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        """The object's bytes in pieces of at most ``CHUNK_BYTES``."""
        ...

    def put_chunks(self, key: str, chunks: Iterable[bytes], size: int, md5: str | None) -> None:
        """Write ``size`` bytes from ``chunks`` atomically, recording ``md5`` (hex, when known) with the object."""
        ...

    def md5(self, key: str) -> str | None:
        """The MD5 (hex) recorded with or computed by the backend for ``key``; None if it has none."""
        ...


class ChunkReader(io.RawIOBase):
    """A read-only file over an iterator of byte chunks (what boto3's upload_fileobj wants)."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks = iter(chunks)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


def md5_of_chunks(chunks: Iterable[bytes]) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


class LocalObjectStore:
    """Objects as files under ``root``; writes go to a temporary file renamed into place."""

    backend = "local"

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        if self.root.resolve() not in path.parents:
            raise StorageError(f"local: key {key!r} escapes the storage root")
        return path

    def put(self, key: str, data: bytes) -> None:
        self.put_chunks(key, [data], len(data), None)

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

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        try:
            with open(self._path(key), "rb") as f:
                while chunk := f.read(CHUNK_BYTES):
                    yield chunk
        except FileNotFoundError as exc:
            raise StorageError(f"local: object {key} does not exist") from exc

    def put_chunks(self, key: str, chunks: Iterable[bytes], size: int, md5: str | None) -> None:
        path = self._path(key)
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
                for chunk in chunks:
                    tmp.write(chunk)
            os.replace(tmp.name, path)
        except OSError as exc:
            if tmp is not None:  # a full disk must not leave half-written temporary files behind
                Path(tmp.name).unlink(missing_ok=True)
            raise StorageError(f"local: cannot write {key}: {exc.strerror or exc}") from exc

    def md5(self, key: str) -> str | None:
        return md5_of_chunks(self.iter_chunks(key)) if self.exists(key) else None
