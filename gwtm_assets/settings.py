"""The one place configuration is read: the documented environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class GWTMSettings(BaseSettings):
    """Environment variables the listeners have always been deployed with, plus the new ones.

    Booleans accept ``true``/``1``/``false``/``0`` (case-insensitive).
    """

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    # GCN Kafka
    kafka_client_id: str = Field("", description="GCN Kafka client ID (OIDC client credentials).")
    kafka_client_secret: str = Field("", description="GCN Kafka client secret.", repr=False)
    kafka_bootstrap_servers: str = Field("", description="Plain Kafka bootstrap servers (self-hosted/local broker).")
    kafka_group_id: str = Field("gwtm-listeners", description="Stable consumer group id.")
    kafka_offset_reset: Literal["latest", "earliest"] = Field("latest", description="Where a new group starts.")
    kafka_ligo_topic: str = Field("igwn.gwalert", description="Topic of LIGO/Virgo/KAGRA notices.")
    kafka_icecube_topic: str = Field("gcn.notices.icecube.lvk_nu_track_search", description="Topic of IceCube notices.")

    # GWTM API
    api_token: str = Field("", description="GWTM API token (admin for posting alerts).", repr=False)
    api_base: str = Field("", description="GWTM API root, e.g. https://treasuremap.space/api/v0/. Empty: log records.")

    # Storage
    storage_bucket_source: Literal["local", "s3", "abfs", "swift"] = Field(
        "local", description="Storage backend for products."
    )
    local_storage_dir: str = Field("./gwtm-data", description="Root directory of the local backend.")
    aws_bucket: str = Field("gwtreasuremap", description="S3 bucket.")
    aws_default_region: str = Field("us-east-2", description="AWS region.")
    aws_endpoint_url: str = Field(
        "", description="S3-compatible endpoint instead of AWS (MinIO, Ceph, Swift's S3 API)."
    )
    aws_access_key_id: str = Field("", description="AWS access key; empty: boto3's default credential chain.")
    aws_secret_access_key: str = Field("", description="AWS secret key.", repr=False)
    azure_account_name: str = Field("", description="Azure storage account name.")
    azure_account_key: str = Field("", description="Azure storage account key.", repr=False)
    azure_storage_connection_string: str = Field(
        "",
        description="Azure connection string (Azurite, other endpoints); overrides the account name/key.",
        repr=False,
    )
    os_auth_url: str = Field("", description="OpenStack auth endpoint: Keystone v3 (`.../v3`) or v1 (`.../auth/v1.0`).")
    os_username: str = Field("", description="OpenStack user (v3) or `account:user` (v1).")
    os_password: str = Field("", description="OpenStack password (v3) or key (v1).", repr=False)
    os_project_name: str = Field("", description="OpenStack project (tenant).")
    os_user_domain_name: str = Field("Default", description="Keystone user domain.")
    os_project_domain_name: str = Field("Default", description="Keystone project domain.")
    os_application_credential_id: str = Field(
        "", description="Keystone application credential id (instead of user/password)."
    )
    os_application_credential_secret: str = Field("", description="Keystone application credential secret.", repr=False)
    os_region_name: str = Field("", description="OpenStack region of the object store endpoint.")
    os_container_name: str = Field("gwtreasuremap", description="Swift container.")

    # Behaviour
    observing_run: str = Field("O4", description="Observing run identifier posted with each alert.")
    path_to_galaxy_catalog_config: str = Field("", description="Galaxy catalog .ini (galaxy lists).")
    dry_run: bool = Field(False, description="No API calls and no storage writes.")
    write_to_storage: bool = Field(True, description="Write products to storage.")
    verbose: bool = Field(True, description="Verbose logging.")
    log_format: Literal["text", "json"] = Field(
        "text", validation_alias=AliasChoices("log_format"), description="`json` for structured logs."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field("INFO", description="Log level.")
    flat_map_nside: int = Field(512, description="Resolution of the flat .fits.gz sky map (never finer than the map).")

    @field_validator("log_format", mode="before")
    @classmethod
    def _log_format(cls, value: object) -> object:
        return "json" if str(value).lower() == "json" else "text"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return str(value).upper()

    @field_validator("storage_bucket_source", "kafka_offset_reset", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return str(value).lower()

    @property
    def writes_enabled(self) -> bool:
        return self.write_to_storage and not self.dry_run

    @property
    def posts_enabled(self) -> bool:
        return bool(self.api_base) and not self.dry_run
