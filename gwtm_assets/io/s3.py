"""Products in an S3 bucket (AWS, or any S3 API: ``AWS_ENDPOINT_URL``), keys ``<dir>/<file>``.

A PUT is atomic in S3: readers see the old object or the whole new one.
Streaming writes go through boto3's managed transfer (multipart above 8 MB,
one part in flight) so memory does not grow with object size.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .object_store import CHUNK_BYTES, ChunkReader, ObjectInfo, StorageError, check_key

#: Error codes that mean the credentials, not the request, are wrong.
AUTH_ERRORS = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "403"}
MISSING = {"NoSuchKey", "404", "NotFound"}


class S3ObjectStore:
    """``ObjectStore`` over a boto3 S3 client (from dagster-aws's ``S3Resource``) and one bucket."""

    backend = "s3"

    #: Objects per listing request (the services' maxima: S3 1,000, Azure 5,000, Swift 10,000).
    page_size = 1000

    def __init__(self, client: Any, bucket: str):
        self.client = client
        self.bucket = bucket

    def _error(self, action: str, key: str, exc: Exception) -> StorageError:
        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in AUTH_ERRORS:
                return StorageError(
                    f"s3: access denied to {action} s3://{self.bucket}/{key} ({code}): check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
                )
            if code in MISSING:
                return StorageError(f"s3: object s3://{self.bucket}/{key} does not exist")
            if code == "NoSuchBucket":
                return StorageError(f"s3: bucket {self.bucket} does not exist (AWS_BUCKET)")
            return StorageError(f"s3: cannot {action} s3://{self.bucket}/{key}: {code}")
        return StorageError(f"s3: cannot {action} s3://{self.bucket}/{key}: {type(exc).__name__}: {exc}")

    def put(self, key: str, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=check_key(key), Body=data)
        except (ClientError, BotoCoreError) as exc:
            raise self._error("write", key, exc) from exc

    def get(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise self._error("read", key, exc) from exc

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
            return True
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) in MISSING:
                return False
            raise self._error("check", key, exc) from exc
        except BotoCoreError as exc:
            raise self._error("check", key, exc) from exc

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix, PaginationConfig={"PageSize": self.page_size}
            ):
                for item in page.get("Contents", []):
                    etag = item.get("ETag", "").strip('"')
                    yield ObjectInfo(item["Key"], int(item["Size"]), etag if etag and "-" not in etag else None)
        except (ClientError, BotoCoreError) as exc:
            raise self._error("list", prefix + "*", exc) from exc

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise self._error("delete", key, exc) from exc

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            yield from body.iter_chunks(CHUNK_BYTES)
        except (ClientError, BotoCoreError) as exc:
            raise self._error("read", key, exc) from exc

    def put_chunks(self, key: str, chunks: Iterable[bytes], size: int, md5: str | None) -> None:
        check_key(key)
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(multipart_chunksize=8 * 1024 * 1024, max_concurrency=1, use_threads=False)
        try:
            self.client.upload_fileobj(
                io.BufferedReader(ChunkReader(chunks), CHUNK_BYTES), self.bucket, key,
                ExtraArgs={"Metadata": {"md5": md5}} if md5 else None, Config=config,
            )  # fmt: skip
        except (ClientError, BotoCoreError) as exc:
            raise self._error("write", key, exc) from exc

    def md5(self, key: str) -> str | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) in MISSING:
                return None
            raise self._error("check", key, exc) from exc
        etag = head.get("ETag", "").strip('"')
        if etag and "-" not in etag:
            return etag  # computed by the server
        # Multipart: the MD5 we recorded; each part was checked against its checksum by the server on upload.
        return head.get("Metadata", {}).get("md5")
