"""Behaviour settings the assets read, as a resource (filled from :class:`GWTMSettings`)."""

from dagster import ConfigurableResource
from pydantic import Field


class ListenerConfig(ConfigurableResource):
    """What the assets need to know beyond their inputs."""

    observing_run: str = Field("O4", description="Posted as observing_run with every alert")
    flat_map_nside: int = Field(512, description="nside of the flat .fits.gz map (never finer than the map)")
