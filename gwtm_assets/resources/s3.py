"""Product storage in an S3 bucket, configured through dagster-aws's ``S3Resource`` (imported only when selected)."""

from typing import Any

from dagster_aws.s3 import S3Resource
from pydantic import Field

from ..io.object_store import ObjectStore
from ..settings import GWTMSettings
from .storage import ProductStorage


def s3_client(resource: S3Resource, timeout_s: float = 60.0) -> Any:
    """A boto3 S3 client from ``resource``'s settings, with timeouts, standard retries with backoff, and,
    for S3-compatible endpoints (``AWS_ENDPOINT_URL``), checksums only where the API requires them:
    stores such as Swift's S3 API refuse the CRC trailers boto3 now adds by default."""
    import boto3
    from botocore.config import Config

    compatible = {"request_checksum_calculation": "when_required", "response_checksum_validation": "when_required"}
    config = Config(
        retries={"max_attempts": resource.max_attempts, "mode": "standard"}, connect_timeout=10, read_timeout=timeout_s,
        **(compatible if resource.endpoint_url else {}),
    )  # fmt: skip
    session = boto3.session.Session(profile_name=resource.profile_name)
    return session.client(
        "s3", region_name=resource.region_name, endpoint_url=resource.endpoint_url, use_ssl=resource.use_ssl, verify=resource.verify,
        aws_access_key_id=resource.aws_access_key_id, aws_secret_access_key=resource.aws_secret_access_key,
        aws_session_token=resource.aws_session_token, config=config,
    )  # fmt: skip


class S3ProductStorage(ProductStorage):
    """``STORAGE_BUCKET_SOURCE=s3``: bucket ``AWS_BUCKET``, keys ``<dir>/<file>``."""

    bucket: str = Field(default=GWTMSettings.default("aws_bucket"), description="S3 bucket (AWS_BUCKET)")
    s3: S3Resource
    timeout_s: float = Field(default=60.0, description="read timeout per request (connect: 10 s)")

    def cloud_store(self) -> ObjectStore:
        from ..io.s3 import S3ObjectStore

        return S3ObjectStore(s3_client(self.s3, self.timeout_s), self.bucket)

    def location(self) -> str:
        return f"s3://{self.bucket}"
