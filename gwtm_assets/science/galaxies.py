"""Host-galaxy ranking after Arcavi et al. 2017 (ApJL 848, L33), as GWTM's galaxy lists have used it.

Pure functions over a :class:`GalaxyCatalog` (arrays sorted by NESTED HEALPix
index at order 29) and a multi-order sky map. Only the galaxies inside the
map's credible zone are touched: each cell of the zone, whatever its order,
is one contiguous slice of the sorted catalog.

For a galaxy at distance ``d`` (Mpc) in a map cell with probability density
``rho`` (sr^-1) and distance layers ``DISTMU``, ``DISTSIGMA`` (Mpc),
``DISTNORM`` (Mpc^-2):

* ``p = rho * DISTNORM * N(d; DISTMU, DISTSIGMA)``, the 3D posterior density
  at the galaxy (per unit volume, up to a constant);
* kept when its cell is in the ``CREDZONE`` credible region and
  ``|d - DISTMU| < NSIGMAS_IN_D * DISTSIGMA``; when nothing is kept the zone
  widens to 0.99995 and 5 sigma;
* ``score = p * M / sum(p * M)`` over the kept galaxies (``M`` = ``Mstar``): the
  posted score, summing to 1;
* ranked by ``score * f``, where ``f`` is the chance a kilonova between
  ``MINL`` and ``MAXL`` (erg/s) is brighter than ``SENSITIVITY`` (AB mag) at ``d``:
  ``f = clip((MAXL - L) / (MAXL - MINL), MINDISTFACTOR, 1)`` with ``L`` the
  luminosity of the limiting magnitude at ``d``.

Maps without distance layers (bursts, or no ``DISTMEAN``) use the fallback of
the system users ran before: ``DISTMU = DISTSIGMA = 10`` Mpc and ``DISTNORM = 1``,
so only nearby galaxies are listed.
"""

from __future__ import annotations

import configparser
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .skymap import MultiOrderSkyMap, order_pixel_area_sr, uniq_to_order_ipix

#: Order of the NESTED index a catalog is sorted by (the finest HEALPix order with 64-bit indices).
CATALOG_INDEX_ORDER = 29
#: Credible zone and distance window used when the configured ones hold no galaxy.
WIDENED_CREDZONE = 0.99995
WIDENED_NSIGMAS = 5.0
#: Distance layers assumed for maps without distance (Mpc, Mpc, Mpc^-2).
FALLBACK_DISTMU_MPC = 10.0
FALLBACK_DISTSIGMA_MPC = 10.0
FALLBACK_DISTNORM = 1.0
#: L_sun (erg/s) * 10**(0.4 * M_sun) with the solar absolute magnitude 4.74, as the earlier lists used.
_SOLAR_LUMINOSITY_ERG_S = 4e33
_SOLAR_ABS_MAG = 4.74

REFERENCE = "https://ui.adsabs.harvard.edu/abs/2017ApJ...848L..33A/abstract"


class GalaxyConfigError(ValueError):
    """The galaxy catalog ``.ini`` is missing, unreadable or lacks a key; names the file and the key."""


@dataclass(frozen=True)
class GalaxyRankingConfig:
    """The ``[GALAXIES]`` section of the ``.ini`` named by ``PATH_TO_GALAXY_CATALOG_CONFIG``.

    ``MINGALAXIES``, ``COMPLETENESSP``, ``ALPHA`` and ``MB_STAR`` are read and
    kept but do not change the mass-weighted ranking (nor did they in the lists
    GWTM has published).
    """

    catalog_path: Path
    credzone: float
    nsigmas_in_d: float
    completenessp: float
    mingalaxies: int
    ngalaxies: int
    minl_erg_s: float
    maxl_erg_s: float
    sensitivity_mag: float
    mindistfactor: float
    alpha: float
    mb_star: float
    groupname: str = "LCOGT"


_REQUIRED_KEYS = (
    "CATALOG_PATH",
    "CREDZONE",
    "NSIGMAS_IN_D",
    "NGALAXIES",
    "MINL",
    "MAXL",
    "SENSITIVITY",
    "MINDISTFACTOR",
)


def read_galaxy_config(path: str | Path) -> GalaxyRankingConfig:
    """Parse the galaxy catalog ``.ini`` (``;`` comments allowed after values); relative CATALOG_PATH is from the file."""
    path = Path(path)
    parser = configparser.ConfigParser(inline_comment_prefixes=(";", "#"))
    try:
        with path.open() as handle:
            parser.read_file(handle)
    except (OSError, configparser.Error) as exc:
        raise GalaxyConfigError(f"PATH_TO_GALAXY_CATALOG_CONFIG={path}: cannot read it ({exc})") from exc
    if not parser.has_section("GALAXIES"):
        raise GalaxyConfigError(f"PATH_TO_GALAXY_CATALOG_CONFIG={path}: no [GALAXIES] section")
    section = parser["GALAXIES"]
    missing = [key for key in _REQUIRED_KEYS if key not in section]
    if missing:
        raise GalaxyConfigError(f"PATH_TO_GALAXY_CATALOG_CONFIG={path}: [GALAXIES] lacks {', '.join(missing)}")

    def number(key: str, default: float | None = None) -> float:
        if key not in section and default is not None:
            return default
        try:
            return float(section[key])
        except ValueError as exc:
            raise GalaxyConfigError(f"{path}: {key} = {section[key]!r} is not a number") from exc

    catalog = Path(section["CATALOG_PATH"]).expanduser()
    config = GalaxyRankingConfig(
        catalog_path=catalog if catalog.is_absolute() else path.parent / catalog,
        credzone=number("CREDZONE"),
        nsigmas_in_d=number("NSIGMAS_IN_D"),
        completenessp=number("COMPLETENESSP", 0.5),
        mingalaxies=int(number("MINGALAXIES", 100)),
        ngalaxies=int(number("NGALAXIES")),
        minl_erg_s=number("MINL"),
        maxl_erg_s=number("MAXL"),
        sensitivity_mag=number("SENSITIVITY"),
        mindistfactor=number("MINDISTFACTOR"),
        alpha=number("ALPHA", -1.07),
        mb_star=number("MB_STAR", -20.7),
        groupname=section.get("GROUPNAME", "LCOGT"),
    )
    if not 0 < config.credzone < 1:
        raise GalaxyConfigError(f"{path}: CREDZONE must be in (0, 1), got {config.credzone}")
    if config.maxl_erg_s <= config.minl_erg_s:
        raise GalaxyConfigError(f"{path}: MAXL must exceed MINL")
    return config


@dataclass(frozen=True)
class GalaxyCatalog:
    """Galaxies sorted by ``nest29`` (NESTED HEALPix index at order 29); arrays may be memory-mapped.

    ``ra_deg``/``dec_deg`` in degrees (ICRS), ``distance_mpc`` in Mpc, ``mstar``
    in the catalog's stellar-mass unit (only ratios matter), ``name`` bytes.
    """

    nest29: np.ndarray
    ra_deg: np.ndarray
    dec_deg: np.ndarray
    distance_mpc: np.ndarray
    mstar: np.ndarray
    name: np.ndarray

    def __len__(self) -> int:
        return len(self.nest29)


@dataclass(frozen=True)
class RankedGalaxies:
    """The ranked list: catalog row indices (best first), their scores and the zone used."""

    rows: np.ndarray
    score: np.ndarray
    credzone: float
    nsigmas: float
    candidates: int
    used_distance_fallback: bool

    def entries(self, catalog: GalaxyCatalog) -> list[dict[str, object]]:
        """The ``galaxies`` of an ``event_galaxies`` POST: name, score, rank (from 0), ra, dec, info."""
        return [
            {
                "name": catalog.name[row].decode().strip(),
                "score": float(score),
                "rank": rank,
                "ra": float(catalog.ra_deg[row]),
                "dec": float(catalog.dec_deg[row]),
                "info": {"Mstar": float(catalog.mstar[row]), "Distance [Mpc]": float(catalog.distance_mpc[row])},
            }
            for rank, (row, score) in enumerate(zip(self.rows, self.score, strict=True))
        ]


def distance_layers(sky: MultiOrderSkyMap) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """DISTMU, DISTSIGMA (Mpc), DISTNORM (Mpc^-2) per cell, and whether the no-distance fallback was used."""
    mean = sky.header.get("DISTMEAN")
    has_mean = isinstance(mean, int | float) and math.isfinite(mean) and mean > 0
    if {"DISTMU", "DISTSIGMA", "DISTNORM"} <= sky.distance.keys() and has_mean:
        return sky.distance["DISTMU"], sky.distance["DISTSIGMA"], sky.distance["DISTNORM"], False
    n = len(sky.uniq)
    return (
        np.full(n, FALLBACK_DISTMU_MPC),
        np.full(n, FALLBACK_DISTSIGMA_MPC),
        np.full(n, FALLBACK_DISTNORM),
        True,
    )


def credible_zone_cells(sky: MultiOrderSkyMap, credzone: float) -> np.ndarray:
    """Indices of the densest cells whose probability first reaches ``credzone``, and every cell as dense."""
    order, _ = uniq_to_order_ipix(sky.uniq)
    probability = sky.probdensity * order_pixel_area_sr(order)
    by_density = np.argsort(-sky.probdensity, kind="stable")
    cumulative = np.cumsum(probability[by_density])
    last = min(int(np.searchsorted(cumulative, credzone * cumulative[-1])), len(cumulative) - 1)
    cutoff = sky.probdensity[by_density[last]]
    return np.flatnonzero(sky.probdensity >= cutoff)


def galaxies_in_cells(catalog: GalaxyCatalog, uniq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Catalog rows inside the cells ``uniq`` and, for each row, the position of its cell in ``uniq``."""
    order, ipix = uniq_to_order_ipix(uniq)
    shift = (2 * (CATALOG_INDEX_ORDER - order)).astype(np.uint64)
    low = ipix.astype(np.uint64) << shift
    high = (ipix.astype(np.uint64) + np.uint64(1)) << shift
    start = np.searchsorted(catalog.nest29, low, side="left")
    stop = np.searchsorted(catalog.nest29, high, side="left")
    counts = stop - start
    total = int(counts.sum())
    cell = np.repeat(np.arange(len(uniq)), counts)
    # Row = start of its cell + its offset inside the cell.
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(start, counts) + offsets, cell


def normal_pdf(x: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Gaussian probability density of ``x`` (same units as ``mu``, ``sigma``)."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        z = (x - mu) / sigma
        return np.exp(-0.5 * z * z) / (sigma * math.sqrt(2 * math.pi))


def detectability(distance_mpc: np.ndarray, config: GalaxyRankingConfig) -> np.ndarray:
    """Chance a kilonova at ``distance_mpc`` is brighter than the survey limit, as a factor in [MINDISTFACTOR, 1]."""
    absolute_limit = config.sensitivity_mag - 5 * np.log10(distance_mpc * 1e5)
    limit_luminosity = _SOLAR_LUMINOSITY_ERG_S * 10 ** (0.4 * (_SOLAR_ABS_MAG - absolute_limit))
    fraction = (config.maxl_erg_s - limit_luminosity) / (config.maxl_erg_s - config.minl_erg_s)
    return np.clip(fraction, config.mindistfactor, 1.0)


def rank_galaxies(sky: MultiOrderSkyMap, catalog: GalaxyCatalog, config: GalaxyRankingConfig) -> RankedGalaxies:
    """Rank the catalog's galaxies for ``sky``; at most ``NGALAXIES`` rows, best first (ties: catalog order)."""
    distmu, distsigma, distnorm, fallback = distance_layers(sky)
    for credzone, nsigmas in ((config.credzone, config.nsigmas_in_d), (WIDENED_CREDZONE, WIDENED_NSIGMAS)):
        cells = credible_zone_cells(sky, credzone)
        rows, cell_of_row = galaxies_in_cells(catalog, sky.uniq[cells])
        cell = cells[cell_of_row]
        distance = np.asarray(catalog.distance_mpc[rows], dtype=np.float64)
        with np.errstate(invalid="ignore"):
            near = np.abs(distance - distmu[cell]) < nsigmas * distsigma[cell]
        if near.any():
            break
    rows, cell, distance = rows[near], cell[near], distance[near]
    density = sky.probdensity[cell] * distnorm[cell] * normal_pdf(distance, distmu[cell], distsigma[cell])
    mass = np.asarray(catalog.mstar[rows], dtype=np.float64)
    weight = density * (mass / mass.sum()) if len(rows) else density
    total = weight.sum()
    score = weight / total if total > 0 else weight
    key = score * detectability(distance, config)
    best = np.lexsort((rows, -key))[: config.ngalaxies]
    return RankedGalaxies(
        rows=rows[best],
        score=score[best],
        credzone=credzone,
        nsigmas=nsigmas,
        candidates=len(rows),
        used_distance_fallback=fallback,
    )
