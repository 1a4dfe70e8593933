"""Contours enclose their probability; MOC areas match credible areas (mocpy as the independent reference)."""

import json

import numpy as np
import pytest

from gwtm_assets.assets.checks import check_contours
from gwtm_assets.science.contours import contours_geojson, probability_inside_rings
from gwtm_assets.science.moc import credible_region_moc, moc_area_deg2, moc_fits_bytes, moc_from_fits_bytes, moc_json
from gwtm_assets.science.skymap import skymap_statistics

from .conftest import SKYMAP_SAMPLES, load_sky
from .skymaps import gaussian_blob, gaussian_density, multiorder_map

POSITIONS = [(0.2, 5.0), (359.7, -30.0), (45.0, 85.0), (300.0, -85.0), (180.0, 89.0)]


def _assert_geojson_shape(geojson):
    assert geojson["type"] == "FeatureCollection"
    assert [f["properties"]["credible_level"] for f in geojson["features"]] == [50, 90]
    for feature in geojson["features"]:
        assert feature["geometry"]["type"] == "MultiLineString"
        for ring in feature["geometry"]["coordinates"]:
            assert ring[0] == ring[-1] and len(ring) >= 4
            coords = np.asarray(ring)
            assert np.all((coords[:, 0] >= 0) & (coords[:, 0] <= 360)) and np.all(np.abs(coords[:, 1]) <= 90)
    json.dumps(geojson)


@pytest.mark.parametrize("ra,dec", POSITIONS)
def test_gaussian_contours_enclose_their_probability_across_ra0_and_poles(ra, dec):
    sky = gaussian_blob(ra, dec)
    geojson = contours_geojson(sky)
    _assert_geojson_shape(geojson)
    for feature in geojson["features"]:
        level = feature["properties"]["credible_level"] / 100
        inside = probability_inside_rings(sky, feature["geometry"]["coordinates"], depth=11)
        assert inside == pytest.approx(level, abs=0.01)


@pytest.mark.parametrize("path", SKYMAP_SAMPLES, ids=lambda p: p.stem)
def test_sample_contours_enclose_their_probability(path):
    sky, _ = load_sky(path)
    geojson = contours_geojson(sky)
    _assert_geojson_shape(geojson)
    for feature in geojson["features"]:
        level = feature["properties"]["credible_level"] / 100
        inside = probability_inside_rings(sky, feature["geometry"]["coordinates"], depth=min(sky.max_order + 1, 12))
        assert inside == pytest.approx(level, abs=0.01)


def test_contours_of_a_bimodal_map_have_a_ring_per_mode():
    sky = _mixture([(30, 20), (70, 20)])
    geojson = contours_geojson(sky)
    rings = geojson["features"][1]["geometry"]["coordinates"]
    assert len(rings) == 2
    assert probability_inside_rings(sky, rings, depth=11) == pytest.approx(0.9, abs=0.01)


def _mixture(centres):
    import healpy as hp

    from gwtm_assets.science.skymap import MultiOrderSkyMap, order_ipix_to_uniq

    order = 9
    ipix = np.arange(12 * 4**order)
    vec = np.column_stack(hp.pix2vec(1 << order, ipix, nest=True))
    density = np.zeros(ipix.size)
    for ra, dec in centres:
        theta = np.arccos(np.clip(vec @ hp.ang2vec(ra, dec, lonlat=True), -1, 1))
        density += np.exp(-0.5 * (theta / np.radians(2)) ** 2)
    density /= density.sum() * hp.nside2pixarea(1 << order)
    return MultiOrderSkyMap(uniq=order_ipix_to_uniq(order, ipix), probdensity=density)


@pytest.mark.parametrize("ra,dec", POSITIONS[:3])
def test_gaussian_moc_areas(ra, dec):
    sky = gaussian_blob(ra, dec)
    stats = skymap_statistics(sky)
    for level, area in ((0.5, stats.area_50), (0.9, stats.area_90)):
        assert moc_area_deg2(credible_region_moc(sky, level)) == pytest.approx(area, rel=0.01)


@pytest.mark.parametrize("path", SKYMAP_SAMPLES, ids=lambda p: p.stem)
def test_sample_moc_areas_and_fits_round_trip(path):
    sky, _ = load_sky(path)
    stats = skymap_statistics(sky)
    region = credible_region_moc(sky, 0.9)
    assert moc_area_deg2(region) == pytest.approx(stats.area_90, rel=0.01)
    assert moc_from_fits_bytes(moc_fits_bytes(region)) == region
    serialised = moc_json(region)
    assert all(k.isdigit() and all(isinstance(i, int) for i in v) for k, v in serialised.items())
    # The MOC holds about 90% of the probability, by mocpy's own integration.
    from astropy.table import Table

    held = region.probability_in_multiordermap(Table({"UNIQ": sky.uniq, "PROBDENSITY": sky.probdensity}))
    assert held == pytest.approx(0.9, abs=0.01)


SHAPES = {
    # name: (map, rings expected at 50% and 90%)
    "across RA 0": (lambda: multiorder_map(gaussian_density(0.3, 10, 1.3), [(0.3, 10)], 12), 1),
    "over a pole": (lambda: multiorder_map(gaussian_density(40, 89.2, 1.3), [(40, 89.2)], 12), 1),
    "two islands": (
        lambda: multiorder_map(
            lambda v: gaussian_density(100, 20, 2)(v) + 0.7 * gaussian_density(130, -10, 1.5)(v),
            [(100, 20), (130, -10)],
            16,
        ),
        2,
    ),
    "annulus with a hole": (lambda: multiorder_map(gaussian_density(200, -40, 1.0, radius_deg=6), [(200, -40)], 14), 2),
    "under 10 deg2": (lambda: multiorder_map(gaussian_density(250, 30, 0.8), [(250, 30)], 8), 1),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_contour_check_passes_correct_contours_of_hard_shapes_to_a_tenth_of_its_tolerance(shape):
    make, rings = SHAPES[shape]
    sky = make()
    s = skymap_statistics(sky)
    geojson = contours_geojson(sky, (0.5, 0.9), (s.area_50, s.area_90))
    assert [len(f["geometry"]["coordinates"]) for f in geojson["features"]] == [rings, rings]
    if shape == "under 10 deg2":
        assert s.area_50 < 10
    result = check_contours({"map": (json.dumps(geojson).encode(), sky)})
    assert result.passed, result.metadata
    for key, value in result.metadata["enclosed_probability"].value.items():
        level = int(key.rsplit("@", 1)[1]) / 100
        assert value == pytest.approx(level, abs=0.002), key
