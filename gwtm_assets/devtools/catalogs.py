"""Synthetic galaxy catalogs in the NED-LVS layout, and the ``.ini`` that points to them (tests, benchmarks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: The ranking parameters GWTM's galaxy lists use (the users' gal_catalog_config.ini), catalog path aside.
DEFAULT_INI = """\
; config.ini
[GALAXIES]
CATALOG_PATH = {catalog}
CREDZONE = 0.5
NSIGMAS_IN_D = 3
COMPLETENESSP = 0.5
MINGALAXIES = 100
NGALAXIES = {ngalaxies}
MINL = 1e40 ; expected min luminosity of event in r-band
MAXL = 1e42 ; expected max luminosity of event in r-band
SENSITIVITY = 22 ; limiting magnitude in r-band
MINDISTFACTOR = 0.01
ALPHA = -1.07 ; Schechter function parameters
MB_STAR = -20.7
"""


def synthetic_galaxies(
    n: int,
    seed: int = 0,
    max_distance_mpc: float = 1000.0,
    clusters: list[tuple[float, float, float, int]] | None = None,
) -> dict[str, np.ndarray]:
    """``n`` galaxies uniform in volume out to ``max_distance_mpc`` plus ``clusters`` of (ra, dec, distance, count).

    Columns as NED-LVS names them: objname, ra, dec (deg), DistMpc, Mstar (M_sun,
    log-normal); about 2% have no Mstar and 1% no distance, as real catalogs do.
    """
    rng = np.random.default_rng(seed)
    ra = rng.uniform(0, 360, n)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    distance = max_distance_mpc * rng.uniform(0, 1, n) ** (1 / 3)
    for c_ra, c_dec, c_dist, count in clusters or []:
        ra = np.concatenate([ra, (c_ra + rng.normal(0, 1.0, count)) % 360])
        dec = np.concatenate([dec, np.clip(c_dec + rng.normal(0, 1.0, count), -90, 90)])
        distance = np.concatenate([distance, np.abs(rng.normal(c_dist, 0.1 * c_dist, count))])
    total = len(ra)
    mstar = 10 ** rng.normal(9.5, 0.8, total)
    mstar[rng.uniform(size=total) < 0.02] = np.nan
    distance[rng.uniform(size=total) < 0.01] = np.nan
    names = np.array([f"SYN J{i:07d}" for i in range(total)])
    return {"objname": names, "ra": ra, "dec": dec, "DistMpc": distance, "Mstar": mstar}


def write_nedlvs_fits(path: Path, columns: dict[str, np.ndarray]) -> Path:
    """Write NED-LVS-style columns as a FITS binary table."""
    from astropy.table import Table

    Table(columns).write(path, format="fits", overwrite=True)
    return path


def write_galaxy_ini(path: Path, catalog: Path, ngalaxies: int = 1000) -> Path:
    """A ``[GALAXIES]`` ``.ini`` for ``catalog`` with the parameters GWTM uses."""
    path.write_text(DEFAULT_INI.format(catalog=catalog, ngalaxies=ngalaxies))
    return path
