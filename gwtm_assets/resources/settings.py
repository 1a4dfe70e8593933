"""Behaviour settings the assets read, as a resource (filled from :class:`GWTMSettings`)."""

from dagster import ConfigurableResource
from pydantic import Field

from ..settings import GWTMSettings

_default = GWTMSettings.default


class ListenerConfig(ConfigurableResource):
    """What the assets need to know beyond their inputs."""

    observing_run: str = Field(
        default=_default("observing_run"), description="Posted as observing_run with every alert"
    )
    flat_map_nside: int = Field(
        default=_default("flat_map_nside"), description="nside of the flat .fits.gz map (never finer than the map)"
    )


class RecoveryConfig(ConfigurableResource):
    """How failed notices are retried after an outage (``failed_notice_recovery_sensor``)."""

    first_delay_s: float = Field(
        default=_default("recovery_first_delay_s"),
        description="Wait after a notice's first failed run; doubles per failure",
    )
    max_delay_s: float = Field(default=_default("recovery_max_delay_s"), description="Longest wait between two tries")
    max_attempts: int = Field(
        default=_default("recovery_max_attempts"),
        description="Failed runs after which a notice is left to the operator",
    )
