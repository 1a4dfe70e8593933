"""Product storage in Azure Blob through dagster-azure's ``AzureBlobStorageResource`` (imported only when selected)."""

from dagster_azure.blob import AzureBlobStorageResource
from pydantic import Field

from ..io.object_store import CHUNK_BYTES, ObjectStore
from .storage import ProductStorage


def connection_string_parts(connection_string: str) -> dict[str, str]:
    """``AccountName``, ``AccountKey``, ``BlobEndpoint``... of an Azure storage connection string."""
    return dict(part.split("=", 1) for part in connection_string.split(";") if "=" in part)


class AzureProductStorage(ProductStorage):
    """``STORAGE_BUCKET_SOURCE=abfs``: container ``<dir>``, blob ``<file>`` (products.md)."""

    azure: AzureBlobStorageResource | None = None
    connection_string: str = Field(
        "", repr=False, description="AZURE_STORAGE_CONNECTION_STRING (Azurite, other endpoints), instead of `azure`"
    )
    retries: int = Field(default=3, description="attempts on connection errors and 5xx, backoff 1, 2, 4 s")
    timeout_s: float = Field(default=60.0, description="read timeout per request (connect: 10 s)")

    def cloud_store(self) -> ObjectStore:
        from azure.storage.blob import BlobServiceClient, ExponentialRetry

        from ..io.azure_blob import AzureBlobObjectStore

        if self.connection_string:
            service = BlobServiceClient.from_connection_string(self.connection_string)
        else:
            assert self.azure is not None, "AzureProductStorage needs a connection string or an azure resource"
            service = self._clients.enter_context(self.azure.get_client())
        # The SDK's default retry waits 15 s, 18 s, 24 s: too long for a notice; same client, our policy.
        # Objects move in CHUNK_BYTES blocks both ways (bounded memory; one large single PUT is refused by some endpoints).
        service = BlobServiceClient(
            account_url=service.url, credential=service.credential, connection_timeout=10, read_timeout=self.timeout_s,
            retry_policy=ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=self.retries),
            max_single_put_size=CHUNK_BYTES, max_block_size=CHUNK_BYTES, max_single_get_size=CHUNK_BYTES, max_chunk_get_size=CHUNK_BYTES,
        )  # fmt: skip
        self._clients.callback(service.close)
        return AzureBlobObjectStore(service)

    def location(self) -> str:
        if self.connection_string:
            parts = connection_string_parts(self.connection_string)
            return parts.get("BlobEndpoint") or parts.get("AccountName", "")
        return self.azure.account_url if self.azure is not None else ""
