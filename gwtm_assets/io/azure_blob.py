"""Products in Azure Blob Storage: the key's first segment is the container, the rest the blob (products.md).

``fit/S230518h-Preliminary.fits.gz`` is blob ``S230518h-Preliminary.fits.gz``
in container ``fit``. A block blob becomes visible only when its block list is
committed, so readers never see half an object; the SDK retries transient
failures with exponential backoff.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)

from .object_store import ChunkReader, ObjectInfo, StorageError, check_key


def split_key(key: str) -> tuple[str, str]:
    container, _, blob = key.partition("/")
    if not container or not blob:
        raise StorageError(f"abfs: key {key!r} needs a container segment and a blob name")
    return container, blob


class AzureBlobObjectStore:
    """``ObjectStore`` over an ``azure.storage.blob.BlobServiceClient`` (from dagster-azure's resource)."""

    backend = "abfs"
    #: Uploads are sent with validate_content: the service checks every block against its MD5.
    checks_md5_on_put = True

    #: Objects per listing request (the services' maxima: S3 1,000, Azure 5,000, Swift 10,000).
    page_size = 1000

    def __init__(self, service: Any):
        self.service = service
        self._created: set[str] = set()

    def _error(self, action: str, key: str, exc: Exception) -> StorageError:
        where = f"abfs://{key}"
        status = getattr(exc, "status_code", None)
        if isinstance(exc, ClientAuthenticationError) or status == 403:
            return StorageError(
                f"abfs: access denied to {action} {where}: check AZURE_ACCOUNT_NAME/AZURE_ACCOUNT_KEY or AZURE_STORAGE_CONNECTION_STRING"
            )
        if isinstance(exc, ResourceNotFoundError):
            return StorageError(f"abfs: object {where} does not exist")
        reason = f"HTTP {status}" if status else type(exc).__name__
        return StorageError(f"abfs: cannot {action} {where}: {reason}: {str(exc).splitlines()[0][:200]}")

    def _blob(self, key: str) -> Any:
        container, blob = split_key(check_key(key))
        return self.service.get_blob_client(container, blob)

    def _ensure_container(self, container: str) -> None:
        if container in self._created:
            return
        try:
            self.service.create_container(container)
        except ResourceExistsError:
            pass
        self._created.add(container)

    def put(self, key: str, data: bytes) -> None:
        self.put_chunks(key, [data], len(data), None)

    def get(self, key: str) -> bytes:
        try:
            return self._blob(key).download_blob().readall()
        except AzureError as exc:
            raise self._error("read", key, exc) from exc

    def exists(self, key: str) -> bool:
        try:
            return bool(self._blob(key).exists())
        except AzureError as exc:
            raise self._error("check", key, exc) from exc

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        container_prefix, _, blob_prefix = prefix.partition("/")
        try:
            if "/" in prefix:
                containers = [container_prefix]
            else:
                containers = [
                    c["name"] for c in self.service.list_containers(name_starts_with=container_prefix or None)
                ]
            for container in containers:
                client = self.service.get_container_client(container)
                try:
                    blobs = list(
                        client.list_blobs(name_starts_with=blob_prefix or None, results_per_page=self.page_size)
                    )
                except ResourceNotFoundError:
                    continue
                for blob in blobs:  # the SDK pages through listings (5,000 per page) itself
                    md5 = blob.content_settings.content_md5
                    yield ObjectInfo(f"{container}/{blob.name}", int(blob.size), bytes(md5).hex() if md5 else None)
        except AzureError as exc:
            raise self._error("list", prefix + "*", exc) from exc

    def delete(self, key: str) -> None:
        try:
            self._blob(key).delete_blob()
        except ResourceNotFoundError:
            pass
        except AzureError as exc:
            raise self._error("delete", key, exc) from exc

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        try:
            yield from self._blob(key).download_blob(max_concurrency=1).chunks()
        except AzureError as exc:
            raise self._error("read", key, exc) from exc

    def put_chunks(self, key: str, chunks: Iterable[bytes], size: int, md5: str | None) -> None:
        from azure.storage.blob import ContentSettings

        container, _ = split_key(key)
        settings = ContentSettings(content_md5=bytearray.fromhex(md5)) if md5 else None
        try:
            self._ensure_container(container)
            # Blocks of CHUNK_BYTES, one in flight; each block's MD5 is checked by the service (validate_content).
            self._blob(key).upload_blob(
                ChunkReader(chunks), length=size, overwrite=True, max_concurrency=1, validate_content=True, content_settings=settings,
            )  # fmt: skip
        except (AzureError, HttpResponseError) as exc:
            raise self._error("write", key, exc) from exc

    def md5(self, key: str) -> str | None:
        try:
            md5 = self._blob(key).get_blob_properties().content_settings.content_md5
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise self._error("check", key, exc) from exc
        return bytes(md5).hex() if md5 else None
