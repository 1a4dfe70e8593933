"""IVOA Multi-Order Coverage maps (MOCs) of credible regions, built with ``mocpy``."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np

from .skymap import SR_TO_DEG2, MultiOrderSkyMap

if TYPE_CHECKING:  # mocpy is imported where used: it is not needed before a run's product assets
    from mocpy import MOC


def credible_region_moc(sky: MultiOrderSkyMap, level: float) -> MOC:
    """MOC of the smallest region holding ``level`` of the probability.

    Pixels are taken densest first, as for the credible areas; the pixel
    crossing the level is split down to the map's finest order so the MOC's
    area matches the interpolated credible area.
    """
    from mocpy import MOC

    return MOC.from_valued_healpix_cells(
        sky.uniq.astype(np.uint64),
        sky.probdensity,
        max_depth=sky.max_order,
        values_are_densities=True,
        cumul_from=0.0,
        cumul_to=level,
    )


def moc_area_deg2(moc: MOC) -> float:
    """Area of a MOC in square degrees."""
    return float(moc.sky_fraction * 4 * np.pi * SR_TO_DEG2)


def moc_fits_bytes(moc: MOC) -> bytes:
    """IVOA MOC 2.0 FITS serialisation of ``moc``."""
    buffer = io.BytesIO()
    moc.serialize(format="fits").writeto(buffer)
    return buffer.getvalue()


def moc_json(moc: MOC) -> dict[str, list[int]]:
    """mocpy JSON serialisation ``{"order": [ipix, ...]}``."""
    return {str(k): [int(i) for i in v] for k, v in moc.serialize(format="json").items()}


def moc_from_fits_bytes(data: bytes) -> MOC:
    """Read a MOC from its FITS serialisation (mocpy reads from paths only)."""
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".fits") as tmp:
        tmp.write(data)
        tmp.flush()
        from mocpy import MOC

        return MOC.from_fits(tmp.name)
