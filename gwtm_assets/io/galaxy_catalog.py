"""Galaxy catalogs on disk: NED-LVS FITS or GLADE+ text in, a HEALPix-indexed, memory-mapped cache out.

The cache is a directory of ``.npy`` arrays (see :class:`GalaxyCatalog`) sorted
by NESTED index at order 29, written once beside the catalog (``<catalog>.gwtm-index/``)
or, when that directory is read-only, under ``$XDG_CACHE_HOME/gwtm/galaxy-index``.
Loading it maps the files; pages are read only for the galaxies an alert touches.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..science.galaxies import CATALOG_INDEX_ORDER, GalaxyCatalog

logger = logging.getLogger(__name__)

#: Bumped whenever the cache layout changes, so old caches are rebuilt.
CACHE_VERSION = 1
_ARRAYS = ("nest29", "ra_deg", "dec_deg", "distance_mpc", "mstar", "name")

#: NED-LVS columns (the FITS table GWTM uses).
NEDLVS_COLUMNS = {"name": "objname", "ra_deg": "ra", "dec_deg": "dec", "distance_mpc": "DistMpc", "mstar": "Mstar"}
#: GLADE+ text columns (0-based, whitespace-separated, "null" for missing): Dálya et al. 2022, Table 2.
GLADE_PLUS_COLUMNS: dict[str, Any] = {
    "glade_no": 0,
    "names": (2, 3, 4, 5, 6),  # GWGC, HyperLEDA, 2MASS, WISExSCOS, SDSS-DR16Q
    "ra_deg": 8,
    "dec_deg": 9,
    "distance_mpc": 32,
    "mstar": 35,  # 10^10 M_sun
}


class GalaxyCatalogError(ValueError):
    """The catalog cannot be read or indexed; names the file."""


def catalog_format(path: Path) -> str:
    """``"nedlvs"`` for FITS catalogs, ``"glade+"`` for text ones (by extension)."""
    suffixes = "".join(path.suffixes).lower()
    if any(ext in suffixes for ext in (".fits", ".fit", ".fts")):
        return "nedlvs"
    if any(ext in suffixes for ext in (".txt", ".dat", ".csv")):
        return "glade+"
    raise GalaxyCatalogError(f"{path}: unknown catalog format (expected a NED-LVS .fits or a GLADE+ .txt)")


def read_nedlvs_fits(path: Path) -> dict[str, np.ndarray]:
    """Columns of a NED-LVS FITS table (objname, ra, dec, DistMpc, Mstar) as arrays."""
    from astropy.io import fits

    try:
        with fits.open(path, memmap=True) as hdus:
            table = next((hdu for hdu in hdus if isinstance(hdu, fits.BinTableHDU)), None)
            if table is None:
                raise GalaxyCatalogError(f"{path}: no binary table")
            missing = [col for col in NEDLVS_COLUMNS.values() if col not in table.columns.names]
            if missing:
                raise GalaxyCatalogError(f"{path}: NED-LVS table lacks {', '.join(missing)}")
            return {key: np.array(table.data[col]) for key, col in NEDLVS_COLUMNS.items()}
    except OSError as exc:
        raise GalaxyCatalogError(f"{path}: not a readable FITS file ({exc})") from exc


def _glade_lines(path: Path) -> Iterator[list[str]]:
    with path.open() as handle:
        for line in handle:
            if line.strip() and not line.startswith("#"):
                yield line.split()


def read_glade_plus(path: Path) -> dict[str, np.ndarray]:
    """GLADE+ text: name (first catalogue name present, else ``GLADE+ <no>``), ra, dec, d_L (Mpc), M* (10^10 M_sun)."""
    c = GLADE_PLUS_COLUMNS
    names: list[str] = []
    numbers: dict[str, list[float]] = {key: [] for key in ("ra_deg", "dec_deg", "distance_mpc", "mstar")}

    def value(text: str) -> float:
        return np.nan if text == "null" else float(text)

    try:
        for fields in _glade_lines(path):
            names.append(
                next((fields[i] for i in c["names"] if fields[i] != "null"), f"GLADE+ {fields[c['glade_no']]}")
            )
            for key, column in numbers.items():
                column.append(value(fields[c[key]]))
    except (IndexError, ValueError) as exc:
        raise GalaxyCatalogError(f"{path}: not GLADE+ text (line {len(names) + 1}: {exc})") from exc
    return {"name": np.array(names, dtype=object), **{key: np.array(v, dtype=np.float64) for key, v in numbers.items()}}


def build_index(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Usable galaxies (finite Mstar, distance > 0, finite position), sorted by NESTED index at order 29."""
    import healpy as hp

    ra = np.asarray(columns["ra_deg"], dtype=np.float64)
    dec = np.asarray(columns["dec_deg"], dtype=np.float64)
    distance = np.asarray(columns["distance_mpc"], dtype=np.float64)
    mstar = np.asarray(columns["mstar"], dtype=np.float64)
    with np.errstate(invalid="ignore"):
        usable = np.isfinite(ra) & np.isfinite(dec) & (distance > 0) & np.isfinite(mstar)
    ra, dec, distance, mstar = ra[usable], dec[usable], distance[usable], mstar[usable]
    names = np.char.encode(np.asarray(columns["name"])[usable].astype(str), "utf-8")
    nest = hp.ang2pix(1 << CATALOG_INDEX_ORDER, ra, dec, nest=True, lonlat=True).astype(np.uint64)
    order = np.argsort(nest, kind="stable")
    return {
        "nest29": nest[order],
        "ra_deg": ra[order],
        "dec_deg": dec[order],
        "distance_mpc": distance[order],
        "mstar": mstar[order],
        "name": names[order],
    }


def _source_stamp(path: Path) -> dict[str, object]:
    stat = path.stat()
    return {"version": CACHE_VERSION, "source": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def cache_dirs(path: Path) -> list[Path]:
    """Where the index of ``path`` may live: beside it, then the user cache."""
    user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gwtm" / "galaxy-index"
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    return [path.with_name(path.name + ".gwtm-index"), user_cache / f"{path.name}-{digest}"]


def _load_cache(directory: Path, stamp: dict[str, object]) -> GalaxyCatalog | None:
    try:
        if json.loads((directory / "meta.json").read_text()) != stamp:
            return None
        return GalaxyCatalog(**{key: np.load(directory / f"{key}.npy", mmap_mode="r") for key in _ARRAYS})
    except (OSError, ValueError):
        return None


def _write_cache(directory: Path, arrays: dict[str, np.ndarray], stamp: dict[str, object]) -> None:
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=directory.name + ".", dir=directory.parent))
    try:
        for key in _ARRAYS:
            np.save(staging / f"{key}.npy", arrays[key])
        (staging / "meta.json").write_text(json.dumps(stamp))
        if directory.exists():
            shutil.rmtree(directory)
        staging.rename(directory)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def cached_index(path: str | Path) -> tuple[Path, GalaxyCatalog] | None:
    """Where the up-to-date index of the catalog at ``path`` is cached, and the index; None when there is none."""
    path = Path(path)
    if not path.is_file():
        raise GalaxyCatalogError(f"galaxy catalog {path} does not exist (CATALOG_PATH in the galaxy .ini)")
    stamp = _source_stamp(path)
    for directory in cache_dirs(path):
        cached = _load_cache(directory, stamp)
        if cached is not None:
            return directory, cached
    return None


def load_catalog(path: str | Path) -> GalaxyCatalog:
    """The memory-mapped index of the catalog at ``path``, built (and cached) on first use."""
    path = Path(path)
    found = cached_index(path)
    if found is not None:
        return found[1]
    stamp = _source_stamp(path)
    kind = catalog_format(path)
    logger.info("Indexing galaxy catalog %s (%s); done once, cached", path, kind)
    arrays = build_index(read_nedlvs_fits(path) if kind == "nedlvs" else read_glade_plus(path))
    if not len(arrays["nest29"]):
        raise GalaxyCatalogError(f"{path}: no galaxy with a positive distance and a stellar mass")
    for directory in cache_dirs(path):
        try:
            _write_cache(directory, arrays, stamp)
        except OSError as exc:
            logger.warning("Cannot cache the galaxy index in %s: %s", directory, exc)
            continue
        cached = _load_cache(directory, stamp)
        if cached is not None:
            return cached
    return GalaxyCatalog(**arrays)
