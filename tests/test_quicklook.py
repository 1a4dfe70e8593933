"""The quick-look picture: its layers are drawn where they belong; its helpers agree with ligo.skymap and mocpy."""

import io
import json
import os
import subprocess
import sys

import astropy.units as u
import numpy as np
import pytest
from ligo.skymap.postprocess import find_greedy_credible_levels
from matplotlib import image
from mocpy import MOC

from gwtm_assets.devtools.daemon import REPO
from gwtm_assets.science import quicklook
from gwtm_assets.science.quicklook import credible_levels_nested, moc_json_to_nested_mask, skymap_png
from gwtm_assets.science.skymap import rasterize, skymap_statistics

from .skymaps import gaussian_blob

YELLOW, NAVY, SKY_BLUE, LIME = (1, 1, 0), (0, 0, 0.5), (0, 0.75, 1), (0, 1, 0)


def cone_moc_json(ra_deg: float, dec_deg: float, radius_deg: float) -> dict:
    moc = MOC.from_cone(ra_deg * u.deg, dec_deg * u.deg, radius=radius_deg * u.deg, max_depth=8)
    return json.loads(moc.to_string(format="json"))


def pixels_of(png: bytes, colour: tuple[float, float, float], tolerance: float = 0.1) -> np.ndarray:
    """(row, column) of the pixels of ``colour``."""
    rgb = image.imread(io.BytesIO(png), format="png")[..., :3]
    return np.argwhere(np.all(np.abs(rgb - np.asarray(colour)) < tolerance, axis=-1))


@pytest.mark.parametrize(("ra", "dec", "radius"), [(10, 20, 110), (350, -80, 30), (180, 0, 2)])
def test_moc_mask_is_the_pixels_mocpy_covers(ra, dec, radius):
    moc_json = cone_moc_json(ra, dec, radius)
    mask = moc_json_to_nested_mask(moc_json, 6)
    expected = np.zeros(12 * 4**6, dtype=bool)
    expected[MOC.from_json(moc_json).degrade_to_order(6).flatten()] = True
    np.testing.assert_array_equal(mask, expected)


def test_credible_levels_match_ligo_skymap():
    probability = rasterize(gaussian_blob(40, -30, 3.0), 6)["PROB"]
    np.testing.assert_allclose(credible_levels_nested(probability), find_greedy_credible_levels(probability), atol=1e-9)


def test_each_layer_is_drawn_and_the_position_sits_inside_the_contours():
    sky = gaussian_blob(60, 10, sigma_deg=8.0)
    statistics = skymap_statistics(sky)
    bare = skymap_png(sky, statistics, "MS000000a-Preliminary")
    assert bare.startswith(b"\x89PNG")
    star, contour = pixels_of(bare, YELLOW), pixels_of(bare, NAVY)
    assert len(star) > 10 and len(contour) > 50
    # The legend sits below the map: compare the star with the contour pixels inside the map only.
    in_map = contour[contour[:, 0] < 0.85 * image.imread(io.BytesIO(bare)).shape[0]]
    assert np.linalg.norm(np.median(star[star[:, 0] < in_map[:, 0].max()], axis=0) - np.median(in_map, axis=0)) < 15
    assert len(pixels_of(bare, SKY_BLUE)) == 0 and len(pixels_of(bare, LIME)) == 0

    galaxies = [{"ra": 20 + 25 * i, "dec": 40 - 10 * i} for i in range(5)]
    full = skymap_png(sky, statistics, "MS000000a-Preliminary", gbm_visible=cone_moc_json(240, 0, 110),
                      lat_field=cone_moc_json(200, -20, 65), galaxies=galaxies)  # fmt: skip
    assert len(pixels_of(full, SKY_BLUE)) > 100
    assert len(pixels_of(full, LIME)) > 40
    before = image.imread(io.BytesIO(bare))[..., :3]
    after = image.imread(io.BytesIO(full))[..., :3]
    # The Earth hides a third of the sky from Fermi (outside a 110 deg cone): that share of the ellipse is greyed.
    assert np.mean(np.any(np.abs(before - after) > 0.05, axis=-1)) > 0.12


def ligo_skymap_reference_png(probability: np.ndarray, statistics, title: str, occulted: np.ndarray) -> bytes:
    """The same picture drawn layer by layer by ligo.skymap's own sky axes (``imshow_hpx``, ``contour_hpx``)."""
    import ligo.skymap.plot  # noqa: F401
    from matplotlib import pyplot as plt

    from gwtm_assets.science.quicklook import AXES_POSITION, FIGURE_SIZE_IN

    figure = plt.figure(figsize=FIGURE_SIZE_IN, dpi=80)
    ax = figure.add_axes(AXES_POSITION, projection="astro hours mollweide")
    ax.grid(linewidth=0.4, alpha=0.5)
    ax.imshow_hpx((probability, "ICRS"), nested=True, cmap="cylon", order="nearest-neighbor")
    ax.contour_hpx((100 * credible_levels_nested(probability), "ICRS"), nested=True, levels=[50, 90],
                   colors="navy", linewidths=1.0, linestyles=["solid", "dashed"], order="nearest-neighbor")  # fmt: skip
    ax.contourf_hpx((occulted.astype(float), "ICRS"), nested=True, levels=[0.5, 1.5], colors="0.5", alpha=0.45,
                    order="nearest-neighbor")  # fmt: skip
    ax.plot([statistics.ra], [statistics.dec], transform=ax.get_transform("world"), marker="*", markersize=12,
            color="yellow", markeredgecolor="black", linestyle="")  # fmt: skip
    ax.set_title(f"{title}   90%: {statistics.area_90:,.0f} deg²   50%: {statistics.area_50:,.0f} deg²", fontsize=10)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    plt.close(figure)
    return buffer.getvalue()


@pytest.mark.parametrize(("ra", "dec"), [(60, 10), (359, -75), (180, 80)])
def test_the_picture_is_what_ligo_skymaps_sky_axes_draw(ra, dec):
    """Drawn once per process (grid) and by index (map layers), the picture is ligo.skymap's own, pixel for pixel
    but for antialiasing at the edges of lines: a shifted, flipped or mis-ordered index fails this."""
    sky = gaussian_blob(ra, dec, sigma_deg=8.0)
    statistics = skymap_statistics(sky)
    gbm_visible = cone_moc_json(240, 0, 110)
    ours = skymap_png(sky, statistics, "MS000000a-Preliminary", gbm_visible=gbm_visible)
    occulted = ~moc_json_to_nested_mask(gbm_visible, 6)
    reference = ligo_skymap_reference_png(rasterize(sky, 6)["PROB"], statistics, "MS000000a-Preliminary", occulted)
    ours_rgb = image.imread(io.BytesIO(ours))[..., :3]
    reference_rgb = image.imread(io.BytesIO(reference))[..., :3]
    map_rows = slice(0, int(0.88 * ours_rgb.shape[0]))  # the legend (ours only) is below the map
    differs = np.any(np.abs(ours_rgb[map_rows] - reference_rgb[map_rows]) > 0.1, axis=-1)
    assert differs.mean() < 0.005, differs.mean()
    # The most probable position (the star, placed by world coordinates) at the same place.
    star, reference_star = pixels_of(ours, YELLOW), pixels_of(reference, YELLOW)
    assert len(reference_star) and np.linalg.norm(np.median(star, 0) - np.median(reference_star, 0)) <= 3


def _fresh_canvas(order: int = 6, dpi: int = 80):
    quicklook.canvas.cache_clear()
    return quicklook.canvas(order, dpi)


def test_a_kept_canvas_is_the_drawn_one_and_a_new_process_draws_without_ligo_skymaps_axes(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = quicklook.canvas_cache_path(6, 80)
    assert not path.exists()
    drawn = _fresh_canvas()
    assert path.is_file() and path.parent == tmp_path / "gwtm" / "quicklook-canvas"
    kept = _fresh_canvas()
    np.testing.assert_array_equal(kept.grid, drawn.grid)
    np.testing.assert_array_equal(kept.nested_index, drawn.nested_index)
    assert (kept.xlim, kept.ylim) == (drawn.xlim, drawn.ylim)
    ra, dec = np.array([0.0, 120.0, 359.9, 200.0]), np.array([0.0, 45.0, -89.0, 89.0])
    np.testing.assert_allclose(kept.world_to_pixel(ra, dec), drawn.world_to_pixel(ra, dec))

    sky = gaussian_blob(300, -20, sigma_deg=5.0)
    here = skymap_png(sky, skymap_statistics(sky), "MS000000a-Initial")
    script = (
        "import sys\n"
        "from gwtm_assets.science.quicklook import skymap_png\n"
        "from gwtm_assets.science.skymap import skymap_statistics\n"
        "from tests.skymaps import gaussian_blob\n"
        "sky = gaussian_blob(300, -20, sigma_deg=5.0)\n"
        "sys.stdout.buffer.write(skymap_png(sky, skymap_statistics(sky), 'MS000000a-Initial'))\n"
        "assert 'ligo.skymap.plot' not in sys.modules, 'imported ligo.skymap.plot'\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, check=False, cwd=REPO,
                          env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)})  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert done.stdout == here  # the same picture, byte for byte


def test_an_unreadable_kept_canvas_is_drawn_again_and_an_unwritable_cache_only_costs_time(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    drawn = _fresh_canvas()
    path = quicklook.canvas_cache_path(6, 80)
    path.write_bytes(b"not an npz")
    again = _fresh_canvas()
    np.testing.assert_array_equal(again.grid, drawn.grid)
    with np.load(path) as kept:  # replaced by a whole one
        np.testing.assert_array_equal(kept["nested_index"], drawn.nested_index)
    blocked = tmp_path / "a-file"
    blocked.write_text("where the cache directory would be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    np.testing.assert_array_equal(_fresh_canvas().nested_index, drawn.nested_index)
    quicklook.canvas.cache_clear()
