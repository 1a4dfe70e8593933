"""The contour check's integrator (science/enclosed.py) against analytic caps, annuli and islands, and mocpy."""

import json

import numpy as np
import pytest

from gwtm_assets.assets.checks import check_contours
from gwtm_assets.science.contours import contours_geojson, probability_inside_rings
from gwtm_assets.science.enclosed import EnclosedProbabilityError, probability_in_rings
from gwtm_assets.science.skymap import MultiOrderSkyMap, order_ipix_to_uniq

from .conftest import SKYMAP_SAMPLES, load_sky


def uniform_multiorder_map(seed: int = 1) -> MultiOrderSkyMap:
    """The uniform sky (density 1/4pi) as a multi-order map of cells at orders 3 to 7 mixed at random."""
    rng = np.random.default_rng(seed)
    uniq = []
    stack = [(3, i) for i in range(12 * 4**3)]
    while stack:
        order, ipix = stack.pop()
        if order < 7 and rng.random() < 0.3:
            stack.extend((order + 1, 4 * ipix + k) for k in range(4))
        else:
            uniq.append(int(order_ipix_to_uniq(order, np.array([ipix]))[0]))
    uniq_array = np.sort(np.asarray(uniq, dtype=np.int64))
    return MultiOrderSkyMap(uniq=uniq_array, probdensity=np.full(uniq_array.size, 1 / (4 * np.pi)))


def cap_ring(ra_deg: float, dec_deg: float, radius_deg: float, vertices: int = 2000) -> list[list[float]]:
    """A closed GeoJSON ring on the small circle ``radius_deg`` around (ra, dec), poles included."""
    radius = np.radians(radius_deg)
    bearing = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    around_z = np.column_stack(
        [np.sin(radius) * np.cos(bearing), np.sin(radius) * np.sin(bearing), np.full(vertices, np.cos(radius))]
    )
    theta, phi = np.radians(90 - dec_deg), np.radians(ra_deg)  # rotate z onto (ra, dec): about y by theta, z by phi
    about_y = np.array([[np.cos(theta), 0, np.sin(theta)], [0, 1, 0], [-np.sin(theta), 0, np.cos(theta)]])
    about_z = np.array([[np.cos(phi), -np.sin(phi), 0], [np.sin(phi), np.cos(phi), 0], [0, 0, 1]])
    x, y, z = about_z @ about_y @ around_z.T
    points = np.column_stack([np.degrees(np.arctan2(y, x)) % 360, np.degrees(np.arcsin(np.clip(z, -1, 1)))])
    return points.tolist() + points[:1].tolist()


def cap_fraction(radius_deg: float) -> float:
    return (1 - np.cos(np.radians(radius_deg))) / 2


@pytest.fixture(scope="module")
def uniform():
    return uniform_multiorder_map()


@pytest.mark.parametrize("ra,dec", [(0.05, 10.0), (359.9, -30.0), (123.0, 89.9), (300.0, -90.0), (180.0, 0.0)])
@pytest.mark.parametrize("radius", [0.7, 6.0, 40.0])
def test_a_cap_of_the_uniform_sky_holds_its_area_across_ra0_and_the_poles(uniform, ra, dec, radius):
    assert probability_in_rings(uniform, [cap_ring(ra, dec, radius)]) == pytest.approx(cap_fraction(radius), abs=5e-5)


def test_an_annulus_holds_the_difference_and_islands_the_sum(uniform):
    annulus = [cap_ring(200, -40, 12), cap_ring(200, -40, 5)]
    assert probability_in_rings(uniform, annulus) == pytest.approx(cap_fraction(12) - cap_fraction(5), abs=2e-5)
    islands = [cap_ring(100, 20, 4), cap_ring(130, -10, 3)]
    assert probability_in_rings(uniform, islands) == pytest.approx(cap_fraction(4) + cap_fraction(3), abs=2e-5)


def test_a_ring_in_one_cell_holds_that_cells_share(uniform):
    """Far under a cell's size: only the exact intersection can see it."""
    assert probability_in_rings(uniform, [cap_ring(45, 45, 0.05, 200)]) == pytest.approx(cap_fraction(0.05), rel=1e-3)


def test_rings_around_the_whole_sphere_are_refused_not_guessed(uniform):
    equator = [[ra, 0.0] for ra in np.linspace(0, 360, 721)[:-1]]
    with pytest.raises(EnclosedProbabilityError):
        probability_in_rings(uniform, [equator + equator[:1]])


@pytest.mark.parametrize("path", SKYMAP_SAMPLES, ids=lambda p: p.stem)
def test_sample_contours_agree_with_mocpy_at_depth_14(path):
    """mocpy, rasterising the rings at depth 14 (13 arcsec), over-counts by half its border cells at most."""
    sky, _ = load_sky(path)
    for feature in contours_geojson(sky)["features"]:
        rings = feature["geometry"]["coordinates"]
        assert probability_in_rings(sky, rings) == pytest.approx(probability_inside_rings(sky, rings, 14), abs=2e-3)


def test_the_contour_check_fails_rings_that_do_not_hold_their_level(uniform):
    geojson = {
        "features": [
            {"properties": {"credible_level": 50}, "geometry": {"coordinates": [cap_ring(10, 10, 90.0)]}},
            {"properties": {"credible_level": 90}, "geometry": {"coordinates": [cap_ring(10, 10, 100.0)]}},
        ]
    }
    result = check_contours({"map": (json.dumps(geojson).encode(), uniform)})
    assert not result.passed
    assert list(result.metadata["outside_tolerance"].value) == ["map@90"]


def test_the_contour_check_fails_rings_it_cannot_integrate(uniform):
    equator = [[ra, 0.0] for ra in np.linspace(0, 360, 721)[:-1]]
    geojson = {
        "features": [{"properties": {"credible_level": 50}, "geometry": {"coordinates": [equator + equator[:1]]}}]
    }
    result = check_contours({"map": (json.dumps(geojson).encode(), uniform)})
    assert not result.passed and "map@50" in result.metadata["not_integrable"].value
