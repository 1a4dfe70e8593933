"""The code location: assets, jobs, sensors and resources, assembled from the environment (nothing imports it)."""

from __future__ import annotations

from dagster import Definitions

from .assets import ICECUBE_ASSETS, LIGO_ASSETS
from .jobs import icecube_notice_job, ligo_alert_job, ligo_products_job, ligo_record_job
from .logging_setup import configure_logging
from .resources.builders import build_resources
from .sensors.health import build_stream_health
from .sensors.landing import build_sensors
from .sensors.notifications import build_failure_notification_sensor
from .sensors.products import ligo_products_sensor
from .sensors.recovery import build_recovery_sensor
from .sensors.replay import replay_backfill_sensor, replay_notices_job
from .settings import GWTMSettings


def build_definitions(settings: GWTMSettings | None = None) -> Definitions:
    settings = settings or GWTMSettings()
    configure_logging(settings)
    stream_alive_checks, stream_health_sensor = build_stream_health(
        bool(settings.kafka_client_id or settings.kafka_bootstrap_servers or settings.hop_url),
        settings.kafka_ligo_topic,
        settings.kafka_icecube_topic,
        settings.heartbeat_topic,
        settings.heartbeat_max_age_s,
        settings.enabled_listeners,
    )
    return Definitions(
        assets=[*LIGO_ASSETS, *ICECUBE_ASSETS],
        asset_checks=[stream_alive_checks],
        jobs=[ligo_record_job, ligo_products_job, ligo_alert_job, icecube_notice_job, replay_notices_job],
        sensors=[
            *build_sensors(
                bool(settings.kafka_client_id or settings.kafka_bootstrap_servers),
                settings.kafka_ligo_topic,
                settings.kafka_icecube_topic,
                settings.enabled_listeners,
                hop_configured=bool(settings.hop_url),
            ),
            ligo_products_sensor,
            replay_backfill_sensor,
            build_recovery_sensor(),
            stream_health_sensor,
            build_failure_notification_sensor(),
        ],
        resources=build_resources(settings),
    )


defs = build_definitions()
