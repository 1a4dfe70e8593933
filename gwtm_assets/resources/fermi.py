"""Fermi's orbit and pointing at a given time, from cached element sets (TLE) and spacecraft (FT2) files.

Sources are a URL or a local file/directory. URLs are fetched only when the
cache lacks what a signal needs (an element set within ``tle_refresh_days`` of
it, an FT2 file covering it), with a short timeout, and the result is kept in
``cache_dir``; a failed fetch falls back to the cache and is logged, never raised.
"""

from __future__ import annotations

import logging
import time as timer
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import requests
from dagster import ConfigurableResource
from pydantic import Field

from ..science.visibility import ElementSet, nearest_element_set, parse_element_sets

logger = logging.getLogger(__name__)

#: Fermi mission elapsed time (MET) zero: 2001-01-01T00:00:00 UTC; MET counts SI seconds (leap seconds included).
FERMI_MET_EPOCH = "2001-01-01T00:00:00"
_FT2_SUFFIXES = (".fits", ".fit", ".fits.gz")


@dataclass(frozen=True)
class Pointing:
    """LAT's pointing (z-axis, degrees, ICRS) from the FT2 interval containing the time, and the SAA flag."""

    ra_deg: float
    dec_deg: float
    in_saa: bool
    source: str


def fermi_met(time: datetime) -> float:
    """Fermi MET (s) of a UTC datetime."""
    from astropy.time import Time

    return float((Time(time) - Time(FERMI_MET_EPOCH, scale="utc")).sec)


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


class FermiEphemerisResource(ConfigurableResource):
    """Element sets (``FERMI_TLE_SOURCE``) and FT2 pointing (``FERMI_FT2_SOURCE``), cached under ``cache_dir``."""

    tle_source: str = Field(default="", description="URL of a GP/TLE service, or a TLE file or directory of them")
    ft2_source: str = Field(
        "", description="Directory of FT2 files, or a URL template formatted with the signal time ({time:%Y%m%d})"
    )
    cache_dir: str = Field(default=..., description="Where fetched element sets and FT2 files are kept")
    tle_max_age_days: float = Field(default=7.0, description="Older element sets (from the signal) are not used")
    tle_refresh_days: float = Field(
        default=1.0, description="Fetch from a URL source when the nearest cached set is older"
    )
    fetch_timeout_s: float = Field(default=10.0, description="Timeout of one fetch")
    fetch_interval_s: float = Field(default=600.0, description="At most one fetch per source per interval")

    def _cache(self, kind: str) -> Path:
        path = Path(self.cache_dir) / kind
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _fetch(self, url: str, destination: Path) -> bool:
        """Download ``url`` to ``destination`` (atomic); False, logged, on failure or within the fetch interval."""
        stamp = destination.parent / ".last-fetch"
        if stamp.exists() and timer.time() - stamp.stat().st_mtime < self.fetch_interval_s:
            return False
        stamp.touch()
        try:
            response = requests.get(url, timeout=self.fetch_timeout_s)
            response.raise_for_status()
        except requests.RequestException as exc:
            logger.warning("Fermi: cannot fetch %s (%s); using the cache %s", url, exc, destination.parent)
            return False
        staging = destination.with_name(destination.name + ".part")
        staging.write_bytes(response.content)
        staging.replace(destination)
        return True

    def _local_element_sets(self) -> list[ElementSet]:
        paths = list(self._cache("tle").glob("*.tle"))
        if self.tle_source and not _is_url(self.tle_source):
            source = Path(self.tle_source)
            paths += sorted(source.glob("*")) if source.is_dir() else [source]
        sets = []
        for path in paths:
            try:
                sets += parse_element_sets(path.read_text(errors="replace"))
            except OSError as exc:
                logger.warning("Fermi: cannot read element sets from %s: %s", path, exc)
        return sets

    def element_set(self, time: datetime) -> ElementSet | None:
        """Fermi's element set nearest ``time`` (UTC) within ``tle_max_age_days``; None (logged) when there is none."""
        nearest = nearest_element_set(self._local_element_sets(), time)
        stale = nearest is None or abs((nearest.epoch - time).total_seconds()) > self.tle_refresh_days * 86400
        if stale and _is_url(self.tle_source):
            fetched_at = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
            if self._fetch(self.tle_source, self._cache("tle") / f"fermi-{fetched_at}.tle"):
                nearest = nearest_element_set(self._local_element_sets(), time)
        if nearest is None:
            logger.warning("Fermi: no element set for %s (FERMI_TLE_SOURCE=%r)", time.isoformat(), self.tle_source)
            return None
        age_days = abs((nearest.epoch - time).total_seconds()) / 86400
        if age_days > self.tle_max_age_days:
            logger.warning(
                "Fermi: nearest element set (epoch %s) is %.1f days from %s, over %.1f; not used",
                nearest.epoch.isoformat(),
                age_days,
                time.isoformat(),
                self.tle_max_age_days,
            )
            return None
        return nearest

    def _ft2_files(self) -> list[Path]:
        paths = list(self._cache("ft2").iterdir())
        if self.ft2_source and not _is_url(self.ft2_source):
            source = Path(self.ft2_source)
            paths += sorted(source.iterdir()) if source.is_dir() else [source]
        return [p for p in paths if p.name.lower().endswith(_FT2_SUFFIXES)]

    def pointing(self, time: datetime) -> Pointing | None:
        """LAT's pointing at ``time`` (UTC) from an FT2 file covering it; None (logged) without one."""
        if not self.ft2_source:
            logger.warning("Fermi: FERMI_FT2_SOURCE is not set; no LAT pointing")
            return None
        met = fermi_met(time)
        found = _pointing_from_files(self._ft2_files(), met)
        if found is None and _is_url(self.ft2_source):
            url = self.ft2_source.format(time=time, met=met)
            name = url.rstrip("/").rsplit("/", 1)[-1] or "ft2.fits"
            if self._fetch(url, self._cache("ft2") / name):
                found = _pointing_from_files(self._ft2_files(), met)
        if found is None:
            logger.warning("Fermi: no FT2 interval covers %s (MET %.1f) in %r", time.isoformat(), met, self.ft2_source)
        return found


def _pointing_from_files(paths: list[Path], met: float) -> Pointing | None:
    from astropy.io import fits

    for path in paths:
        try:
            with fits.open(path, memmap=True) as hdus:
                table = hdus["SC_DATA"]
                header = table.header
                if not header.get("TSTART", -np.inf) <= met <= header.get("TSTOP", np.inf):
                    continue
                data = table.data
                row = np.flatnonzero((data["START"] <= met) & (met < data["STOP"]))
                if not len(row):
                    continue
                i = int(row[0])
                return Pointing(float(data["RA_SCZ"][i]), float(data["DEC_SCZ"][i]), bool(data["IN_SAA"][i]), path.name)
        except (OSError, KeyError, ValueError) as exc:
            logger.warning("Fermi: cannot read FT2 file %s: %s", path, exc)
    return None
