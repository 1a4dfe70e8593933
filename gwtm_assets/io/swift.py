"""Products in an OpenStack Swift container (``OS_CONTAINER_NAME``), objects ``<dir>/<file>``.

An object PUT is atomic in Swift. Authentication is Keystone v3 (user and
project, or application credentials) or v1 (``.../auth/v1.0``), through
python-swiftclient, which also retries transient failures with backoff.
Keystone's own errors reach us unwrapped by swiftclient; both are told apart
here, and every message names the variables to check, never their values.
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

    def __init__(
        self, connection: Any, container: str, credential_variables: str = "OS_AUTH_URL/OS_USERNAME/OS_PASSWORD"
    ):
        self.connection = connection
        self.container = container
        self.credential_variables = credential_variables

    def _error(self, action: str, key: str, exc: Exception) -> StorageError:
        status = getattr(exc, "http_status", None)
        where = f"swift://{self.container}/{key}"
        if _is_keystone_error(exc):
            return self._keystone_error(action, where, exc, status)
        if status == 401 or "Unauthorized" in str(exc) or "authenticat" in str(exc).lower():
            return StorageError(f"swift: authentication failed to {action} {where}: check {self.credential_variables}")
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

    def _keystone_error(self, action: str, where: str, exc: Exception, status: int | None) -> StorageError:
        from keystoneauth1 import exceptions

        check = f"check {self.credential_variables}"
        if isinstance(exc, exceptions.Unauthorized):
            return StorageError(f"swift: Keystone refused the credentials (401) to {action} {where}: {check}")
        if isinstance(exc, exceptions.NotFound):
            # Keystone answers 404 for an application credential id it does not know.
            return StorageError(f"swift: Keystone does not know the credential (404) to {action} {where}: {check}")
        if isinstance(exc, exceptions.EndpointNotFound | exceptions.EmptyCatalog):
            return StorageError(
                f"swift: the token's catalog has no object-store endpoint to {action} {where}: set OS_STORAGE_URL "
                "(or OS_REGION_NAME)"
            )
        if isinstance(exc, exceptions.ConnectionError):
            return StorageError(
                f"swift: cannot reach Keystone at OS_AUTH_URL to {action} {where}: {type(exc).__name__}"
            )
        return StorageError(f"swift: Keystone failed to {action} {where}: {type(exc).__name__} {status or ''}".rstrip())

    def ensure_container(self) -> None:
        self._call("create container", "", "put_container", self.container)

    def put(self, key: str, data: bytes) -> None:
        self._call("write", key, "put_object", self.container, check_key(key), contents=data, content_length=len(data))

    def get(self, key: str) -> bytes:
        _, body = self._call("read", key, "get_object", self.container, key)
        return body

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

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
        except Exception as exc:
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
        headers = self._head(key)
        return None if headers is None else headers.get("etag")

    def _head(self, key: str) -> dict[str, str] | None:
        """The object's headers, or None when it does not exist."""
        try:
            return self.connection.head_object(self.container, key)
        except ClientException as exc:
            if exc.http_status == 404:
                return None
            raise self._error("check", key, exc) from exc
        except Exception as exc:
            raise self._error("check", key, exc) from exc


def _is_keystone_error(exc: Exception) -> bool:
    """Errors of keystoneauth (token requests), which swiftclient passes through unwrapped."""
    return type(exc).__module__.startswith("keystoneauth1.")
