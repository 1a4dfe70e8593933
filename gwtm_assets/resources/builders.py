"""Resources from the settings: the one place the environment reaches the graph and the tools.

Each backend's client library is imported only when selected; an incomplete
configuration raises ``ConfigurationError`` naming the variable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import EnvVar

from gwtm_assets.sensors.hopskotch import HopskotchConsumerResource, HopUrlError, parse_hop_url
from gwtm_assets.sensors.kafka import KafkaConsumerResource, KafkaOptionsError, check_consumer_options

from ..io.io_managers import IncomingNoticeIOManager, PickledValueIOManager, ProductIOManager
from ..io.object_store import StorageError
from ..science.galaxies import GalaxyConfigError, read_galaxy_config
from ..settings import ConfigurationError, GWTMSettings
from .fermi import FermiEphemerisResource
from .galaxy_catalog import GalaxyCatalogResource
from .gwtm_api import GWTMApiResource
from .notify import NotifierResource
from .settings import ListenerConfig, RecoveryConfig
from .storage import AlertLedger, ProductStorage, opened_store

if TYPE_CHECKING:
    from dagster_azure.blob import AzureBlobStorageResource


def secret(settings: GWTMSettings, field: str) -> str | EnvVar:
    """A secret setting as ``EnvVar(NAME)`` when it came from the environment variable NAME.

    Dagster then stores and shows the variable's name, never its value (job
    snapshots in the run storage, the UI's resource details); the value is read
    when a run or sensor tick starts. A value given in code stays literal.
    """
    value = getattr(settings, field)
    name = field.upper()
    return EnvVar(name) if value and os.environ.get(name) == value else value


def build_storage(settings: GWTMSettings) -> ProductStorage:
    """The product storage ``STORAGE_BUCKET_SOURCE`` selects, with its client resource; fails naming what is missing."""
    root = Path(settings.local_storage_dir)
    common: dict[str, Any] = {
        "backend": settings.storage_bucket_source,
        "local_dir": str(root),
        "writes_enabled": settings.writes_enabled,
        "scratch_dir": str(root / ".dry-run"),
    }
    if not settings.writes_enabled or settings.storage_bucket_source == "local":
        return ProductStorage(**common)
    # Each backend's client library is imported only when selected (dagster-aws and dagster-azure add ~1.5 s).
    if settings.storage_bucket_source == "s3":
        from dagster_aws.s3 import S3Resource

        from .s3 import S3ProductStorage

        if not settings.aws_bucket:
            raise ConfigurationError("STORAGE_BUCKET_SOURCE=s3 needs AWS_BUCKET")
        s3 = S3Resource(
            region_name=settings.aws_default_region or None,
            endpoint_url=settings.aws_endpoint_url or None,
            aws_access_key_id=settings.aws_access_key_id or None,
            aws_secret_access_key=secret(settings, "aws_secret_access_key") or None,
            max_attempts=4,
        )
        return S3ProductStorage(**common, bucket=settings.aws_bucket, s3=s3)
    if settings.storage_bucket_source == "abfs":
        from .azure import AzureProductStorage

        if settings.azure_storage_connection_string:
            azure_resource(settings)  # only to check it names an account and key
            return AzureProductStorage(**common, connection_string=secret(settings, "azure_storage_connection_string"))
        return AzureProductStorage(**common, azure=azure_resource(settings))
    from .swift import SwiftProductStorage, SwiftResource, swift_auth

    if not settings.os_auth_url:
        raise ConfigurationError(
            "STORAGE_BUCKET_SOURCE=swift needs OS_AUTH_URL (Keystone v3 .../v3, or v1 .../auth/v1.0)"
        )
    if not (settings.os_username and settings.os_password) and not (
        settings.os_application_credential_id and settings.os_application_credential_secret
    ):
        raise ConfigurationError(
            "STORAGE_BUCKET_SOURCE=swift needs OS_USERNAME and OS_PASSWORD, "
            "or OS_APPLICATION_CREDENTIAL_ID and OS_APPLICATION_CREDENTIAL_SECRET"
        )
    auth = swift_auth(settings.os_auth_url, settings.os_username, "", settings.os_application_credential_id)
    if auth.method == "password" and not settings.os_project_name:
        raise ConfigurationError("STORAGE_BUCKET_SOURCE=swift with Keystone v3 user credentials needs OS_PROJECT_NAME")
    swift = SwiftResource(
        auth_url=settings.os_auth_url,
        # The deployed chart keeps OS_USERNAME in its secret (an application credential id): an EnvVar too.
        username=secret(settings, "os_username"),
        password=secret(settings, "os_password"),
        project_name=settings.os_project_name,
        user_domain_name=settings.os_user_domain_name,
        project_domain_name=settings.os_project_domain_name,
        application_credential_id=secret(settings, "os_application_credential_id"),
        application_credential_secret=secret(settings, "os_application_credential_secret"),
        region_name=settings.os_region_name,
        storage_url=settings.os_storage_url,
    )
    return SwiftProductStorage(**common, container=settings.os_container_name, swift=swift)


def azure_resource(settings: GWTMSettings) -> AzureBlobStorageResource:
    """dagster-azure's resource from AZURE_STORAGE_CONNECTION_STRING, or AZURE_ACCOUNT_NAME + AZURE_ACCOUNT_KEY."""
    from dagster_azure.blob import AzureBlobStorageKeyCredential, AzureBlobStorageResource

    from .azure import connection_string_parts

    if settings.azure_storage_connection_string:
        parts = connection_string_parts(settings.azure_storage_connection_string)
        name, key = parts.get("AccountName", ""), parts.get("AccountKey", "")
        endpoint = (
            parts.get("BlobEndpoint")
            or f"{parts.get('DefaultEndpointsProtocol', 'https')}://{name}.blob.{parts.get('EndpointSuffix', 'core.windows.net')}"
        )
        if not (name and key):
            raise ConfigurationError("AZURE_STORAGE_CONNECTION_STRING needs AccountName and AccountKey")
    elif settings.azure_account_name and settings.azure_account_key:
        key = secret(settings, "azure_account_key")
        endpoint = f"https://{settings.azure_account_name}.blob.core.windows.net"
    else:
        raise ConfigurationError(
            "STORAGE_BUCKET_SOURCE=abfs needs AZURE_ACCOUNT_NAME and AZURE_ACCOUNT_KEY, or AZURE_STORAGE_CONNECTION_STRING"
        )
    return AzureBlobStorageResource(account_url=endpoint, credential=AzureBlobStorageKeyCredential(key=key))


def galaxy_catalog_resource(settings: GWTMSettings) -> GalaxyCatalogResource:
    """The catalog resource; a configured ``.ini`` must parse and name an existing catalog file, or
    ``GALAXY_CATALOG_KEY`` an object of the configured backend (fetched here)."""
    if not settings.path_to_galaxy_catalog_config:
        return GalaxyCatalogResource()
    try:
        config = read_galaxy_config(settings.path_to_galaxy_catalog_config)
    except GalaxyConfigError as exc:
        raise ConfigurationError(str(exc)) from exc
    catalog_path = config.catalog_path
    if settings.galaxy_catalog_key:
        catalog_path = fetched_catalog(settings)
    elif not config.catalog_path.is_file():
        raise ConfigurationError(
            f"PATH_TO_GALAXY_CATALOG_CONFIG={settings.path_to_galaxy_catalog_config}: "
            f"CATALOG_PATH {config.catalog_path} does not exist"
        )
    return GalaxyCatalogResource(
        config_path=settings.path_to_galaxy_catalog_config,
        catalog_path=str(catalog_path) if settings.galaxy_catalog_key else "",
    )


def fetched_catalog(settings: GWTMSettings) -> Path:
    """``GALAXY_CATALOG_KEY`` copied from the configured backend into the local cache (reads only: dry runs too)."""
    from ..io.catalog_fetch import fetch_catalog

    reading = build_storage(settings.model_copy(update={"dry_run": False, "write_to_storage": True}))
    try:
        with opened_store(reading) as store:
            cache = Path(settings.local_storage_dir) / ".cache" / "galaxy_catalog"
            return fetch_catalog(store, settings.galaxy_catalog_key, cache)
    except StorageError as exc:
        raise ConfigurationError(f"GALAXY_CATALOG_KEY={settings.galaxy_catalog_key}: {exc}") from exc


def kafka_options(settings: GWTMSettings) -> str:
    """``KAFKA_CONSUMER_OPTIONS``, checked now so a bad value stops the code location with one line."""
    try:
        check_consumer_options(settings.kafka_consumer_options)
    except KafkaOptionsError as exc:
        raise ConfigurationError(str(exc)) from exc
    return settings.kafka_consumer_options


def hop_url(settings: GWTMSettings) -> str:
    """``HOP_URL``, checked now so a bad value stops the code location with one line."""
    if settings.hop_url:
        try:
            parse_hop_url(settings.hop_url)
        except HopUrlError as exc:
            raise ConfigurationError(str(exc)) from exc
    return settings.hop_url


def kafka_resource(settings: GWTMSettings) -> KafkaConsumerResource:
    """The GCN/plain-broker consumer (outside Dagster, ``process_config_and_initialize()`` resolves its secrets)."""
    return KafkaConsumerResource(
        client_id=settings.kafka_client_id,
        client_secret=secret(settings, "kafka_client_secret"),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=settings.kafka_group_id,
        offset_reset=settings.kafka_offset_reset,
        extra_options_json=kafka_options(settings),
    )


def hopskotch_resource(settings: GWTMSettings) -> HopskotchConsumerResource:
    return HopskotchConsumerResource(
        url=hop_url(settings),
        username=settings.hop_username,
        password=secret(settings, "hop_password"),
        group_id=settings.kafka_group_id,
        offset_reset=settings.kafka_offset_reset,
        extra_options_json=settings.kafka_consumer_options,
    )


def build_resources(settings: GWTMSettings) -> dict[str, Any]:
    """Resources for ``settings``: the one place environment reaches the graph."""
    storage = build_storage(settings)
    return {
        "product_storage": storage,
        "product_io_manager": ProductIOManager(storage=storage),
        "incoming_notice_io_manager": IncomingNoticeIOManager(storage=storage),
        # Values passed between assets of a run (decoded maps, records): pickles in the same storage.
        "intermediate_io_manager": PickledValueIOManager(storage=storage),
        "alert_ledger": AlertLedger(storage=storage),
        "gwtm_api": GWTMApiResource(
            api_base=settings.api_base, api_token=secret(settings, "api_token"), enabled=not settings.dry_run
        ),
        "galaxy_catalog": galaxy_catalog_resource(settings),
        "fermi_ephemeris": FermiEphemerisResource(
            tle_source=settings.fermi_tle_source,
            ft2_source=settings.fermi_ft2_source,
            cache_dir=settings.fermi_cache_dir or str(Path(settings.local_storage_dir) / ".cache" / "fermi"),
        ),
        "listener_config": ListenerConfig(observing_run=settings.observing_run, flat_map_nside=settings.flat_map_nside),
        "recovery": RecoveryConfig(
            first_delay_s=settings.recovery_first_delay_s,
            max_delay_s=settings.recovery_max_delay_s,
            max_attempts=settings.recovery_max_attempts,
        ),
        "notifier": NotifierResource(
            slack_token=secret(settings, "slack_token"),
            slack_channel=settings.slack_channel,
            slack_webhook_url=secret(settings, "slack_webhook_url"),
            slack_api_url=settings.slack_api_url,
            smtp_host=settings.smtp_host,
            smtp_port=settings.smtp_port,
            smtp_starttls=settings.smtp_starttls,
            smtp_username=settings.smtp_username,
            smtp_password=secret(settings, "smtp_password"),
            smtp_from=settings.smtp_from,
            smtp_to=settings.smtp_to,
            ui_url=settings.dagster_ui_url,
        ),
        "kafka": kafka_resource(settings),
        "hopskotch": hopskotch_resource(settings),
    }
