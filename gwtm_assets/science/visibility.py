"""Fermi's view of the sky at the time of a signal: GBM's Earth-unocculted sky and the LAT field of view.

Pure functions; the ``visibility`` asset (issue: visibility and galaxy_list)
will feed them cached element sets and spacecraft pointing. Positions come
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
#: GBM's original South Atlantic Anomaly boundary (launch to 2024-07-23), geographic latitude/longitude in
#: degrees; published by the GBM team (Fermi GBM Data Tools, ``GbmSaaPolygon1``). The detectors are off inside.
GBM_SAA_LATITUDE_DEG = (-30.0, -19.867, -9.733, 0.4, 2.0, 2.0, -1.0, -6.155, -8.88, -14.22, -18.404, -30.0, -30.0)
GBM_SAA_LONGITUDE_DEG = (33.9, 12.398, -9.103, -30.605, -38.4, -45.0, -65.0, -84.0, -89.2, -94.3, -94.3, -86.1, 33.9)


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


def inside_polygon(
    latitude_deg: float,
    longitude_deg: float,
    polygon_latitude_deg: Iterable[float] = GBM_SAA_LATITUDE_DEG,
    polygon_longitude_deg: Iterable[float] = GBM_SAA_LONGITUDE_DEG,
) -> bool:
    """Whether a point lies inside a latitude/longitude polygon (even-odd rule; polygons not crossing 180 deg)."""
    lat = np.asarray(tuple(polygon_latitude_deg), dtype=np.float64)
    lon = np.asarray(tuple(polygon_longitude_deg), dtype=np.float64)
    lat0, lat1, lon0, lon1 = lat[:-1], lat[1:], lon[:-1], lon[1:]
    crosses = (lat0 > latitude_deg) != (lat1 > latitude_deg)
    with np.errstate(divide="ignore", invalid="ignore"):
        at_longitude = lon0 + (latitude_deg - lat0) * (lon1 - lon0) / (lat1 - lat0)
    return bool(np.count_nonzero(crosses & (longitude_deg < at_longitude)) % 2)


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
