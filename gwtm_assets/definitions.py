"""The code location: assets, checks and resources, configured from the environment."""

from __future__ import annotations

from pathlib import Path

from dagster import Definitions, FilesystemIOManager, load_assets_from_modules

from gwtm_sensors.kafka import KafkaConsumerResource
from gwtm_sensors.sensors import build_sensors

from .assets import icecube, ligo
from .io.io_managers import IncomingNoticeIOManager, ProductIOManager
from .jobs import icecube_notice_job, ligo_alert_job
from .logging_setup import configure_logging
from .replay import replay_backfill_sensor, replay_notices_job
from .resources.gwtm_api import GWTMApiResource
from .resources.settings import ListenerConfig
from .resources.storage import AlertLedger, ProductStorage
from .settings import GWTMSettings

LIGO_ASSETS = load_assets_from_modules([ligo])
ICECUBE_ASSETS = load_assets_from_modules([icecube])


#: Backends this build can write to; the cloud ones arrive with their IO managers.
SUPPORTED_BACKENDS = ("local",)


class ConfigurationError(ValueError):
    """The environment asks for something this code location cannot do; names the variable."""


def build_resources(settings: GWTMSettings) -> dict[str, object]:
    """Resources for ``settings``: the one place environment reaches the graph."""
    if settings.writes_enabled and settings.storage_bucket_source not in SUPPORTED_BACKENDS:
        raise ConfigurationError(
            f"STORAGE_BUCKET_SOURCE={settings.storage_bucket_source} is not supported by this build yet "
            f"(supported: {', '.join(SUPPORTED_BACKENDS)}); set STORAGE_BUCKET_SOURCE=local with LOCAL_STORAGE_DIR, "
            "or WRITE_TO_STORAGE=false"
        )
    root = Path(settings.local_storage_dir)
    storage = ProductStorage(
        backend=settings.storage_bucket_source,
        local_dir=str(root),
        writes_enabled=settings.writes_enabled,
        scratch_dir=str(root / ".dry-run"),
    )
    return {
        "product_storage": storage,
        "product_io_manager": ProductIOManager(storage=storage),
        "incoming_notice_io_manager": IncomingNoticeIOManager(storage=storage),
        # Values passed between assets of a run (decoded maps, records): pickles beside the products.
        "intermediate_io_manager": FilesystemIOManager(base_dir=str(root / ".intermediate")),
        "alert_ledger": AlertLedger(storage=storage),
        "gwtm_api": GWTMApiResource(api_base=settings.api_base, api_token=settings.api_token, enabled=not settings.dry_run),
        "listener_config": ListenerConfig(observing_run=settings.observing_run, flat_map_nside=settings.flat_map_nside),
        "kafka": KafkaConsumerResource(
            client_id=settings.kafka_client_id,
            client_secret=settings.kafka_client_secret,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=settings.kafka_group_id,
            offset_reset=settings.kafka_offset_reset,
        ),
    }


def build_definitions(settings: GWTMSettings | None = None) -> Definitions:
    settings = settings or GWTMSettings()
    configure_logging(settings)
    return Definitions(
        assets=[*LIGO_ASSETS, *ICECUBE_ASSETS],
        jobs=[ligo_alert_job, icecube_notice_job, replay_notices_job],
        sensors=[
            *build_sensors(
                bool(settings.kafka_client_id or settings.kafka_bootstrap_servers),
                settings.kafka_ligo_topic,
                settings.kafka_icecube_topic,
            ),
            replay_backfill_sensor,
        ],
        resources=build_resources(settings),
    )


defs = build_definitions()
