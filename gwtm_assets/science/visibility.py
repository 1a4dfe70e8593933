"""Fermi's view of the sky at the time of a signal: GBM's Earth-unocculted sky and the LAT field of view.

Pure functions; the ``visibility`` asset (issue: visibility and galaxy_list)
will feed them cached element sets and spacecraft pointing. Positions come
from a two-line element set propagated with SGP4 (TEME frame, km) and turned
into GCRS with astropy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from astropy.time import Time
    from mocpy import MOC

#: Equatorial radius of the Earth, km (WGS84). GBM's occultation uses the solid Earth's disk.
EARTH_RADIUS_KM = 6378.137
#: LAT's field of view modelled as a cone of this half-angle around the pointing, degrees.
LAT_FOV_RADIUS_DEG = 65.0


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
