"""Fermi visibility science against physical facts: GW170817 seen by GBM, the Earth's size from Fermi's altitude."""

from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.time import Time

from gwtm_assets.science.moc import moc_area_deg2
from gwtm_assets.science.visibility import (
    EARTH_RADIUS_KM,
    earth_disk,
    gbm_visible_moc,
    lat_fov_moc,
    spacecraft_position_gcrs_km,
)

FERMI_TLE = Path(__file__).resolve().parent.parent / "samples" / "fermi" / "fermi-2017-08-17.tle"
GW170817 = Time("2017-08-17T12:41:04.4", scale="utc")
NGC4993 = (197.4504, -23.3815)
FULL_SKY_DEG2 = 4 * np.pi * np.degrees(1) ** 2


@pytest.fixture(scope="module")
def disk_at_merger():
    _, line1, line2 = FERMI_TLE.read_text().splitlines()[:3]
    return earth_disk(spacecraft_position_gcrs_km(line1, line2, GW170817))


def test_fermi_altitude_gives_an_earth_disk_of_about_67_degrees(disk_at_merger):
    assert 500 < disk_at_merger.altitude_km < 560  # Fermi's orbit: ~530 km
    assert disk_at_merger.radius_deg == pytest.approx(
        np.degrees(np.arcsin(EARTH_RADIUS_KM / (EARTH_RADIUS_KM + disk_at_merger.altitude_km)))
    )
    assert 66.5 < disk_at_merger.radius_deg < 68.0


def test_gw170817_host_was_visible_to_gbm_at_the_merger(disk_at_merger):
    assert not disk_at_merger.occults(*NGC4993)
    moc = gbm_visible_moc(disk_at_merger)
    assert moc.contains_lonlat(NGC4993[0] * u.deg, NGC4993[1] * u.deg)[0]
    # The Earth's disk is a cap of 2 pi (1 - cos r) sr; the visible sky is the rest, to MOC resolution.
    cap = 2 * np.pi * (1 - np.cos(np.radians(disk_at_merger.radius_deg))) * np.degrees(1) ** 2
    assert moc_area_deg2(moc) == pytest.approx(FULL_SKY_DEG2 - cap, rel=0.01)
    # The Earth's centre direction itself is not visible.
    assert disk_at_merger.occults(disk_at_merger.ra_deg, disk_at_merger.dec_deg)


def test_lat_field_of_view_is_a_65_degree_cone():
    moc = lat_fov_moc(10.0, 89.0)  # across the pole
    cap = 2 * np.pi * (1 - np.cos(np.radians(65))) * np.degrees(1) ** 2
    assert moc_area_deg2(moc) == pytest.approx(cap, rel=0.01)
