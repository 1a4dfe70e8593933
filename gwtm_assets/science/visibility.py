"""Fermi's view of the sky at the time of a signal: GBM's Earth-unocculted sky and the LAT field of view.

Pure functions; the ``visibility`` asset feeds them cached element sets and
spacecraft pointing (the SAA boundaries are in :mod:`.saa`). Positions come
from a two-line element set propagated with SGP4 (TEME frame, km) and turned
into GCRS with astropy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from astropy.time import Time
    from mocpy import MOC

#: Equatorial radius of the Earth, km (WGS84). GBM's occultation uses the solid Earth's disk.
EARTH_RADIUS_KM = 6378.137
#: LAT's field of view modelled as a cone of this half-angle around the pointing, degrees.
LAT_FOV_RADIUS_DEG = 65.0
#: Fermi's NORAD catalogue number (TLE line 1, columns 3-7).
FERMI_NORAD_ID = 33053


@dataclass(frozen=True)
class ElementSet:
    """One two-line element set: its lines and epoch (UTC)."""

    line1: str
    line2: str
    epoch: datetime

    @property
    def norad_id(self) -> int:
        return int(self.line1[2:7])


def tle_epoch(line1: str) -> datetime:
    """Epoch of a TLE from line 1 columns 19-32 (two-digit year, fractional day of year), UTC."""
    year = int(line1[18:20])
    day = float(line1[20:32])
    start = datetime(2000 + year if year < 57 else 1900 + year, 1, 1, tzinfo=UTC)
    return start + timedelta(days=day - 1)


def parse_element_sets(text: str) -> list[ElementSet]:
    """Every ``1 ...``/``2 ...`` line pair of a TLE/3LE text (names and blank lines skipped)."""
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    sets = []
    for first, second in pairwise(lines):
        if first.startswith("1 ") and second.startswith("2 ") and first[2:7] == second[2:7]:
            sets.append(ElementSet(first, second, tle_epoch(first)))
    return sets


def nearest_element_set(
    sets: Iterable[ElementSet], time: datetime, norad_id: int = FERMI_NORAD_ID
) -> ElementSet | None:
    """The element set of ``norad_id`` whose epoch is closest to ``time`` (UTC), or None."""
    candidates = [s for s in sets if s.norad_id == norad_id]
    return min(candidates, key=lambda s: abs((s.epoch - time).total_seconds()), default=None)


def subsatellite_point_deg(position_gcrs_km: np.ndarray, time: Time) -> tuple[float, float]:
    """Geocentric latitude and longitude (degrees, east positive in (-180, 180]) below a GCRS position at ``time``.

    The Earth's rotation angle is applied to the celestial position; the
    ~0.3 deg left out (precession, nutation, geodetic vs geocentric latitude)
    is far below the resolution of the SAA boundary.
    """
    import erfa

    x, y, z = np.asarray(position_gcrs_km, dtype=np.float64)
    ut1 = time.utc  # UT1 - UTC < 0.9 s: 0.004 deg of rotation
    longitude = np.degrees(np.arctan2(y, x) - erfa.gmst06(ut1.jd1, ut1.jd2, time.tt.jd1, time.tt.jd2))
    latitude = np.degrees(np.arctan2(z, np.hypot(x, y)))
    return float(latitude), float((longitude + 180.0) % 360.0 - 180.0)


@dataclass(frozen=True)
class EarthDisk:
    """The Earth as seen from the spacecraft: centre (RA, Dec in degrees, GCRS) and angular radius (degrees)."""

    ra_deg: float
    dec_deg: float
    radius_deg: float
    altitude_km: float

    def occults(self, ra_deg: np.ndarray | float, dec_deg: np.ndarray | float) -> np.ndarray:
        """Whether directions (degrees) are behind the Earth."""
        ra, dec = np.radians(ra_deg), np.radians(dec_deg)
        ra0, dec0 = np.radians(self.ra_deg), np.radians(self.dec_deg)
        cos_sep = np.sin(dec) * np.sin(dec0) + np.cos(dec) * np.cos(dec0) * np.cos(ra - ra0)
        return np.degrees(np.arccos(np.clip(cos_sep, -1, 1))) < self.radius_deg


def spacecraft_position_gcrs_km(tle_line1: str, tle_line2: str, time: Time) -> np.ndarray:
    """Geocentric position (x, y, z) in km, GCRS, of the satellite of a TLE at ``time`` (SGP4, then TEME -> GCRS)."""
    import astropy.units as u
    from astropy.coordinates import GCRS, TEME, CartesianRepresentation
    from sgp4.api import Satrec

    satellite = Satrec.twoline2rv(tle_line1, tle_line2)
    error, position_teme, _ = satellite.sgp4(time.utc.jd1, time.utc.jd2)
    if error:
        raise ValueError(f"SGP4 could not propagate the element set to {time.isot} (error {error})")
    teme = TEME(CartesianRepresentation(np.asarray(position_teme) * u.km), obstime=time)
    return teme.transform_to(GCRS(obstime=time)).cartesian.xyz.to_value(u.km)


def earth_disk(position_km: np.ndarray) -> EarthDisk:
    """The Earth's disk seen from a geocentric position (km): centre opposite the position, radius asin(R/r)."""
    distance = float(np.linalg.norm(position_km))
    toward_earth = -np.asarray(position_km) / distance
    ra = float(np.degrees(np.arctan2(toward_earth[1], toward_earth[0])) % 360.0)
    dec = float(np.degrees(np.arcsin(toward_earth[2])))
    return EarthDisk(ra, dec, float(np.degrees(np.arcsin(EARTH_RADIUS_KM / distance))), distance - EARTH_RADIUS_KM)


def gbm_visible_moc(disk: EarthDisk, max_depth: int = 8) -> MOC:
    """The sky GBM sees: everything but the Earth's disk, as a MOC (``max_depth`` 8: cells of 0.23 deg)."""
    import astropy.units as u
    from astropy.coordinates import Angle, Latitude, Longitude
    from mocpy import MOC

    earth = MOC.from_cone(
        lon=Longitude(disk.ra_deg * u.deg),
        lat=Latitude(disk.dec_deg * u.deg),
        radius=Angle(disk.radius_deg, u.deg),
        max_depth=max_depth,
    )
    return earth.complement()


def lat_fov_moc(pointing_ra_deg: float, pointing_dec_deg: float, max_depth: int = 8) -> MOC:
    """LAT's field of view: a cone of LAT_FOV_RADIUS_DEG around the pointing (degrees), as a MOC."""
    import astropy.units as u
    from astropy.coordinates import Angle, Latitude, Longitude
    from mocpy import MOC

    return MOC.from_cone(
        lon=Longitude(pointing_ra_deg * u.deg),
        lat=Latitude(pointing_dec_deg * u.deg),
        radius=Angle(LAT_FOV_RADIUS_DEG, u.deg),
        max_depth=max_depth,
    )
