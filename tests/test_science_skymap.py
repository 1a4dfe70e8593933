"""Sky map statistics and flat maps against ligo.skymap, and against analytic Gaussians."""

import gzip
import io

import healpy as hp
import numpy as np
import pytest
from astropy.table import Table
from ligo.skymap import moc as ligo_moc
from ligo.skymap.postprocess.crossmatch import crossmatch

from gwtm_assets.assets.checks import check_flat_maps
from gwtm_assets.science.skymap import (
    SkymapError,
    credible_areas_deg2,
    flat_fits_bytes,
    flat_map,
    rasterize,
    read_multiorder_fits,
    skymap_statistics,
)

from .conftest import SKYMAP_SAMPLES, load_sky
from .skymaps import gaussian_area_deg2, gaussian_blob


def _ligo_table(sky):
    table = Table({"UNIQ": sky.uniq, "PROBDENSITY": sky.probdensity, **sky.distance})
    return table


@pytest.mark.parametrize("path", SKYMAP_SAMPLES, ids=lambda p: p.stem)
def test_credible_areas_match_ligo_skymap_crossmatch(path):
    sky, _ = load_sky(path)
    reference = crossmatch(_ligo_table(sky), contours=(0.5, 0.9))
    area_50, area_90 = credible_areas_deg2(sky, (0.5, 0.9))
    assert area_50 == pytest.approx(reference.contour_areas[0], rel=1e-3)
    assert area_90 == pytest.approx(reference.contour_areas[1], rel=1e-3)


def test_combined_map_of_external_coincidence_is_read():
    from .conftest import sample

    sky, _ = load_sky(sample("MS181101ab-ext-update"), which="combined")
    reference = crossmatch(_ligo_table(sky), contours=(0.9,))
    assert skymap_statistics(sky).area_90 == pytest.approx(reference.contour_areas[0], rel=1e-3)


def test_statistics_of_the_O4_sample():
    from .conftest import sample

    sky, _ = load_sky(sample("S230518h-preliminary"))
    stats = skymap_statistics(sky)
    assert stats.distance == pytest.approx(sky.header["DISTMEAN"])
    assert stats.distance_error == pytest.approx(sky.header["DISTSTD"])
    assert stats.time_of_signal == sky.header["DATE-OBS"]
    # The most probable position is the centre of the densest pixel.
    i = np.argmax(sky.probdensity)
    order = int(np.log2(sky.uniq[i] // 4) // 2)
    ra, dec = hp.pix2ang(1 << order, int(sky.uniq[i] - 4 * 4**order), nest=True, lonlat=True)
    assert (stats.ra, stats.dec) == pytest.approx((ra, dec))
    assert 0 <= stats.ra < 360 and -90 <= stats.dec <= 90


@pytest.mark.parametrize("ra,dec", [(0.3, 10.0), (359.8, -20.0), (120.0, 85.0), (250.0, -85.0), (180.0, 0.0)])
def test_gaussian_blob_has_analytic_credible_areas(ra, dec):
    sky = gaussian_blob(ra, dec, sigma_deg=2.0)
    stats = skymap_statistics(sky)
    assert stats.area_90 == pytest.approx(2 * np.pi * np.log(10) * 4.0, rel=0.01)  # 57.9 deg2
    assert stats.area_50 == pytest.approx(gaussian_area_deg2(0.5), rel=0.01)
    assert hp.rotator.angdist((stats.ra, stats.dec), (ra, dec), lonlat=True)[0] < np.radians(0.1)


@pytest.mark.parametrize("order", [6, 9, pytest.param(11, marks=pytest.mark.slow)])
def test_rasterize_matches_ligo_skymap(order):
    sky, _ = load_sky(SKYMAP_SAMPLES[0])
    ours = rasterize(sky, order)
    ref = ligo_moc.rasterize(_ligo_table(sky), order)
    pixel_area = hp.nside2pixarea(1 << order)
    np.testing.assert_allclose(ours["PROB"], ref["PROBDENSITY"] * pixel_area, rtol=1e-10, atol=1e-300)
    finite = np.isfinite(ref["DISTMU"])
    np.testing.assert_allclose(ours["DISTMU"][finite], ref["DISTMU"][finite], rtol=1e-10)


@pytest.mark.parametrize("path", SKYMAP_SAMPLES[:1] + SKYMAP_SAMPLES[-1:], ids=lambda p: p.stem)
def test_flat_map_is_read_by_healpy(tmp_path, path):
    sky, _ = load_sky(path)
    data, nside = flat_fits_bytes(sky, 512)
    assert nside == min(512, 1 << sky.max_order)
    assert data[:2] == b"\x1f\x8b"
    target = tmp_path / "map.fits.gz"
    target.write_bytes(data)
    prob, distmu, distsigma, distnorm = hp.read_map(str(target), field=None, nest=True)
    assert hp.get_nside(prob) == nside
    assert prob.sum() == pytest.approx(1.0, abs=1e-5)
    ref = ligo_moc.rasterize(_ligo_table(sky), 9)
    finite = np.isfinite(ref["DISTMU"])
    np.testing.assert_allclose(distmu[finite], ref["DISTMU"][finite], rtol=1e-6)
    np.testing.assert_allclose(distsigma[finite], ref["DISTSIGMA"][finite], rtol=1e-6)
    np.testing.assert_allclose(distnorm[finite], ref["DISTNORM"][finite], rtol=1e-6)
    # Read in RING order (healpy's default) the map is the same sky.
    ring = hp.read_map(str(target))
    assert np.argmax(ring) == hp.nest2ring(nside, np.argmax(prob))


def test_the_flat_map_check_sees_the_column_the_file_holds_and_fails_a_map_that_lost_probability(tmp_path):
    """The check sums FlatMap.prob in memory; that column is exactly what healpy reads back from the bytes."""
    sky, _ = load_sky(SKYMAP_SAMPLES[0])
    flat = flat_map(sky, 512)
    target = tmp_path / "map.fits.gz"
    target.write_bytes(flat.fits_gz)
    np.testing.assert_array_equal(hp.read_map(str(target), nest=True), flat.prob.astype(np.float64))
    assert check_flat_maps({"map": flat.prob}).passed
    failed = check_flat_maps({"map": flat.prob * np.float32(0.999)})
    assert not failed.passed and list(failed.metadata["outside_tolerance"].value) == ["map"]


def test_flat_map_blocks_cut_cells_anywhere(tmp_path, monkeypatch):
    """Rows are laid out from the cells a block at a time: blocks that split coarse cells (order 1 cells span 16,384
    rows at order 8; blocks of 1,000 rows) give the same FITS bytes, and they hold ligo.skymap's rasterisation."""
    from gwtm_assets.science import skymap as skymap_module

    sky = gaussian_blob(355.0, -80.0, fine_order=8, coarse_order=1)
    whole = flat_map(sky, 256)
    monkeypatch.setattr(skymap_module, "FLAT_ROWS_PER_BLOCK", 1000)
    split = flat_map(sky, 256)
    assert gzip.decompress(split.fits_gz) == gzip.decompress(whole.fits_gz)
    assert np.array_equal(split.prob, whole.prob)
    target = tmp_path / "map.fits.gz"
    target.write_bytes(split.fits_gz)
    ref = ligo_moc.rasterize(_ligo_table(sky), 8)["PROBDENSITY"] * hp.nside2pixarea(256)
    np.testing.assert_allclose(hp.read_map(str(target), nest=True), ref, rtol=1e-6, atol=1e-30)


def test_flat_map_is_never_finer_than_the_map():
    sky = gaussian_blob(10, 10, fine_order=7)
    assert flat_fits_bytes(sky, 1024)[1] == 128


def test_bad_fits_is_a_clear_error():
    with pytest.raises(SkymapError, match="not a readable FITS"):
        read_multiorder_fits(b"SIMPLE  = this is not a FITS file" + b" " * 3000)
    with pytest.raises(SkymapError):
        read_multiorder_fits(gzip.compress(b"garbage"))


def test_map_not_covering_the_sky_is_rejected(tmp_path):
    from astropy.io import fits

    table = fits.BinTableHDU.from_columns(
        [fits.Column("UNIQ", "K", array=np.arange(4, 15)), fits.Column("PROBDENSITY", "D", array=np.ones(11))]
    )
    path = tmp_path / "partial.fits"
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    with pytest.raises(SkymapError, match="of the sky"):
        read_multiorder_fits(path.read_bytes())


@pytest.mark.parametrize("order", [0, 1, 3, 10, 16, 29])
def test_nested_pixel_centres_match_healpy(order):
    from gwtm_assets.science.skymap import nest_pixel_centres_deg

    nside = 1 << order
    ipix = np.random.default_rng(order).integers(0, 12 * nside * nside, 20_000)
    ra, dec = nest_pixel_centres_deg(order, ipix)
    ra_hp, dec_hp = hp.pix2ang(nside, ipix, nest=True, lonlat=True)
    np.testing.assert_allclose(dec, dec_hp, atol=1e-9)
    np.testing.assert_allclose(((ra - ra_hp + 180) % 360 - 180) * np.cos(np.radians(dec)), 0, atol=1e-9)


@pytest.mark.parametrize("path", SKYMAP_SAMPLES, ids=lambda p: p.stem)
def test_numpy_fits_reader_matches_astropy(path):
    from astropy.io import fits

    from gwtm_assets.science.fits_table import read_bintable

    _, raw = load_sky(path)
    data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    header, columns = read_bintable(data)
    with fits.open(io.BytesIO(data)) as hdus:
        expected = {k: v for k, v in hdus[1].header.items() if k not in ("COMMENT", "HISTORY", "")}
        assert header == expected
        assert list(columns) == list(hdus[1].data.names)
        for name in columns:
            np.testing.assert_array_equal(columns[name], hdus[1].data[name])


def test_numpy_fits_reader_refuses_what_it_does_not_handle():
    from astropy.io import fits

    from gwtm_assets.science.fits_table import UnsupportedFITS, read_bintable

    buffer = io.BytesIO()
    table = fits.BinTableHDU.from_columns([fits.Column(name="PROBDENSITY", format="J", array=np.arange(12))])
    table.header["TSCAL1"], table.header["TZERO1"] = 0.5, 1.0
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(buffer)
    with pytest.raises(UnsupportedFITS, match="scaled"):
        read_bintable(buffer.getvalue())
    with pytest.raises(UnsupportedFITS):
        read_bintable(b"not a FITS file")
