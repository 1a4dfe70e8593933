"""Products in an OpenStack Swift container (``OS_CONTAINER_NAME``), objects ``<dir>/<file>``.

An object PUT is atomic in Swift. Authentication is Keystone v3 (user and
project, or application credentials) or v1 (``.../auth/v1.0``), through
python-swiftclient, which also retries transient failures with backoff.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from swiftclient.exceptions import ClientException

from .object_store import CHUNK_BYTES, ObjectInfo, StorageError, check_key


class SwiftObjectStore:
    """``ObjectStore`` over a ``swiftclient.Connection`` and one container."""

    backend = "swift"
    #: A PUT carrying the MD5 as its ETag is refused (422) unless the body matches it.
    checks_md5_on_put = True

    #: Objects per listing request (the services' maxima: S3 1,000, Azure 5,000, Swift 10,000).
    page_size = 1000

    def __init__(self, connection: Any, container: str):
        self.connection = connection
        self.container = container

    def _error(self, action: str, key: str, exc: Exception) -> StorageError:
        status = getattr(exc, "http_status", None)
        where = f"swift://{self.container}/{key}"
        if status == 401 or "Unauthorized" in str(exc) or "authenticat" in str(exc).lower():
            return StorageError(
                f"swift: authentication failed to {action} {where}: check OS_AUTH_URL/OS_USERNAME/OS_PASSWORD (or the application credential)"
            )
        if status == 403:
            return StorageError(f"swift: not allowed to {action} {where} (403)")
        if status == 404:
            return StorageError(f"swift: object {where} does not exist")
        reason = f"HTTP {status}" if status else f"{type(exc).__name__}: {getattr(exc, 'msg', exc)}"
        return StorageError(f"swift: cannot {action} {where}: {reason}")

    def _call(self, action: str, key: str, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self.connection, method)(*args, **kwargs)
        except ClientException as exc:
            raise self._error(action, key, exc) from exc
        except Exception as exc:  # swiftclient raises requests/keystone errors of many kinds
            raise self._error(action, key, exc) from exc

    def ensure_container(self) -> None:
        self._call("create container", "", "put_container", self.container)

    def put(self, key: str, data: bytes) -> None:
        self._call("write", key, "put_object", self.container, check_key(key), contents=data, content_length=len(data))

    def get(self, key: str) -> bytes:
        _, body = self._call("read", key, "get_object", self.container, key)
        return body

    def exists(self, key: str) -> bool:
        try:
            self.connection.head_object(self.container, key)
            return True
        except ClientException as exc:
            if exc.http_status == 404:
                return False
            raise self._error("check", key, exc) from exc

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        # full_listing pages through the 10,000-object listing limit.
        _, items = self._call(
            "list",
            prefix + "*",
            "get_container",
            self.container,
            prefix=prefix,
            limit=self.page_size,
            full_listing=True,
        )
        for item in items:
            yield ObjectInfo(item["name"], int(item["bytes"]), item.get("hash") or None)

    def delete(self, key: str) -> None:
        try:
            self.connection.delete_object(self.container, key)
        except ClientException as exc:
            if exc.http_status != 404:
                raise self._error("delete", key, exc) from exc

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        _, body = self._call("read", key, "get_object", self.container, key, resp_chunk_size=CHUNK_BYTES)
        try:
            yield from body
        except Exception as exc:
            raise self._error("read", key, exc) from exc

    def put_chunks(self, key: str, chunks: Iterable[bytes], size: int, md5: str | None) -> None:
        check_key(key)
        # Sent chunked as it is read; Swift checks the body against the ETag we send and refuses a mismatch (422).
        # A stream cannot be rewound, so swiftclient does not retry this PUT: the caller (migration) retries the object.
        self._call("write", key, "put_object", self.container, key, contents=iter(chunks), etag=md5)

    def md5(self, key: str) -> str | None:
        try:
            return self.connection.head_object(self.container, key).get("etag")
        except ClientException as exc:
            if exc.http_status == 404:
                return None
            raise self._error("check", key, exc) from exc
