"""The galaxy catalog as a resource: configured by the ``.ini``, loaded once per process, memory-mapped."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr

from ..io.galaxy_catalog import load_catalog
from ..science.galaxies import GalaxyCatalog, GalaxyRankingConfig, read_galaxy_config


@functools.lru_cache(maxsize=2)
def _catalog(path: str, size: int, mtime_ns: int) -> GalaxyCatalog:
    # Keyed on size and mtime so a replaced catalog is re-read; the arrays are memory maps, cheap to hold.
    return load_catalog(path)


class GalaxyCatalogResource(ConfigurableResource):
    """Ranking parameters and the HEALPix-indexed catalog named by ``PATH_TO_GALAXY_CATALOG_CONFIG``.

    Empty ``config_path``: galaxy lists are not made. A missing or unreadable
    ``.ini`` or catalog raises when the resource is initialised (once per run),
    naming the file; :func:`read_galaxy_config` checks the ``.ini`` when the
    code location loads.
    """

    config_path: str = Field(default="", description="The galaxy catalog .ini ([GALAXIES] CATALOG_PATH, CREDZONE, ...)")
    catalog_path: str = Field(
        default="", description="The catalog file instead of the .ini's CATALOG_PATH (a fetched copy)"
    )

    _config: GalaxyRankingConfig | None = PrivateAttr(default=None)
    _catalog: GalaxyCatalog | None = PrivateAttr(default=None)

    @property
    def enabled(self) -> bool:
        return bool(self.config_path)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        if self.enabled:
            self.load()

    def load(self) -> tuple[GalaxyRankingConfig, GalaxyCatalog]:
        """The ranking parameters and catalog (read on first call)."""
        if self._config is None or self._catalog is None:
            config = read_galaxy_config(self.config_path)
            if self.catalog_path:
                config = dataclasses.replace(config, catalog_path=Path(self.catalog_path))
            path = Path(config.catalog_path)
            stat = path.stat() if path.is_file() else None
            self._catalog = _catalog(str(path), stat.st_size if stat else -1, stat.st_mtime_ns if stat else -1)
            self._config = config
        return self._config, self._catalog
