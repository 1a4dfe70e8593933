"""GBM's South Atlantic Anomaly boundary: the one in force at each time, and points inside and outside it."""

from datetime import UTC, datetime

import pytest

from gwtm_assets.resources.fermi import fermi_met
from gwtm_assets.science.saa import GBM_SAA_BOUNDARIES, gbm_saa_boundary, inside_polygon


def met(*date: int) -> float:
    return fermi_met(datetime(*date, tzinfo=UTC))


@pytest.mark.parametrize(
    ("when", "number"),
    [
        ((2008, 8, 1), 1),  # GBM's first years: the original boundary
        ((2010, 6, 10, 12), 2),
        ((2017, 8, 17, 12, 41, 4), 5),  # GW170817
        ((2022, 6, 8), 6),
        ((2022, 8, 5), 8),
        ((2023, 5, 18, 12, 59, 8), 9),  # S230518h
        ((2023, 11, 16), 10),
        ((2024, 8, 1), 12),  # O4b: the smaller boundary of July to September 2024
        ((2024, 8, 7), 13),
        ((2024, 9, 1), 14),
        ((2024, 9, 30, 19, 20, 46), 15),
        ((2026, 11, 25), 15),  # in force since
    ],
)
def test_the_boundary_in_force_at_each_time(when, number):
    assert gbm_saa_boundary(met(*when)).number == number


def test_boundaries_are_in_time_order_with_a_latitude_for_every_longitude():
    starts = [b.start_met for b in GBM_SAA_BOUNDARIES]
    assert starts == sorted(starts) and len(set(starts)) == len(starts) == 15
    assert all(len(b.latitude_deg) == len(b.longitude_deg) >= 12 for b in GBM_SAA_BOUNDARIES)
    # 2024-09-30: a 225 s gap between polygon 14's end and polygon 15's start keeps polygon 14.
    assert gbm_saa_boundary(749416700.0).number == 14
    assert gbm_saa_boundary(-1.0).number == 1


@pytest.mark.parametrize("boundary", GBM_SAA_BOUNDARIES, ids=lambda b: b.name)
def test_every_boundary_holds_the_anomalys_core_and_not_far_away_places(boundary):
    assert boundary.contains(-20.0, -50.0)  # over southern Brazil, the anomaly's core at Fermi's altitude
    assert not boundary.contains(25.0, -50.0)  # north of every boundary
    assert not boundary.contains(-20.0, 100.0)  # Indian Ocean
    assert not boundary.contains(-20.0, -120.0)  # Pacific, west of every boundary


def test_the_time_decides_whether_gbm_was_on():
    # East of the smaller 2023/2024 boundary, inside the 2010 one.
    lat, lon = -20.0, -5.0
    assert gbm_saa_boundary(met(2023, 5, 18)).contains(lat, lon)
    assert not gbm_saa_boundary(met(2024, 8, 1)).contains(lat, lon)
    assert gbm_saa_boundary(met(2024, 10, 15)).contains(lat, lon)


def test_an_open_polygon_is_closed():
    # A triangle given without repeating its first vertex.
    assert inside_polygon(1.0, 1.0, (0.0, 0.0, 5.0), (0.0, 5.0, 0.0))
    assert not inside_polygon(4.0, 4.0, (0.0, 0.0, 5.0), (0.0, 5.0, 0.0))
