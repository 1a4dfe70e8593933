"""Behaviour settings the assets read, as a resource (filled from :class:`GWTMSettings`)."""

from dagster import ConfigurableResource
from pydantic import Field


class ListenerConfig(ConfigurableResource):
    """What the assets need to know beyond their inputs."""

    observing_run: str = Field(default="O4", description="Posted as observing_run with every alert")
    flat_map_nside: int = Field(default=512, description="nside of the flat .fits.gz map (never finer than the map)")


class RecoveryConfig(ConfigurableResource):
    """How failed notices are retried after an outage (``failed_notice_recovery_sensor``)."""

    first_delay_s: float = Field(
        default=60.0, description="Wait after a notice's first failed run; doubles per failure"
    )
    max_delay_s: float = Field(default=3600.0, description="Longest wait between two tries")
    max_attempts: int = Field(default=12, description="Failed runs after which a notice is left to the operator")
