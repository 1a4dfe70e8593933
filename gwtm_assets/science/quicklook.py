"""A quick-look all-sky picture of one sky map (``<name>-skymap.png``).

Mollweide in equatorial coordinates (ligo.skymap's ``astro hours mollweide``
axes on matplotlib): the probability per pixel, the 50% and 90% credible
contours, the most probable position, and, when known, the sky occulted by the
Earth for Fermi GBM, the Fermi LAT field of view and the top-ranked galaxies.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .skymap import MultiOrderSkyMap, SkymapStatistics, rasterize

#: HEALPix order the picture is drawn at (nside 64, 0.84 deg pixels): finer than a 800 px wide Mollweide shows.
PICTURE_ORDER = 6
#: Order the coverage MOCs (GBM visible sky, LAT field) are rasterized at.
COVERAGE_ORDER = 6
TOP_GALAXIES = 10


def moc_json_to_nested_mask(moc: Mapping[str, Sequence[int]], order: int) -> np.ndarray:
    """A NESTED boolean HEALPix map at ``order``: the pixels a MOC (IVOA JSON, ``{"order": [ipix, ...]}``) touches."""
    mask = np.zeros(12 << (2 * order), dtype=bool)
    for moc_order, cells in moc.items():
        ipix = np.asarray(cells, dtype=np.int64)
        shift = 2 * (order - int(moc_order))
        if ipix.size == 0:
            continue
        if shift >= 0:
            starts = ipix << shift
            mask[(starts[:, None] + np.arange(1 << shift)).ravel()] = True
        else:
            mask[ipix >> -shift] = True
    return mask


def credible_levels_nested(probability: np.ndarray) -> np.ndarray:
    """Per pixel, the smallest credible level (0-1) of the region that contains it (greedy, equal-area pixels)."""
    order = np.argsort(probability)[::-1]
    levels = np.empty_like(probability)
    levels[order] = np.cumsum(probability[order])
    return levels


FIGURE_SIZE_IN = (8, 4.6)
AXES_POSITION = (0.03, 0.12, 0.94, 0.78)


@dataclass(frozen=True)
class Canvas:
    """What every picture at one order and resolution shares, computed once per process (the pool's warm-up).

    ``grid`` is the sky's frame, grid and coordinate labels drawn by ligo.skymap's ``astro hours mollweide`` axes
    on a transparent figure (their ticks cost ~0.3 s per draw); ``nested_index`` the NESTED HEALPix pixel at
    ``order`` under each image pixel of those axes (-1 off the sky): a map is drawn as ``values[nested_index]``,
    the nearest-neighbour reprojection ligo.skymap's ``imshow_hpx`` does, without repeating it per layer.
    """

    grid: np.ndarray
    nested_index: np.ndarray
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    world_to_pixel: Any


@functools.lru_cache(maxsize=8)
def canvas(order: int, dpi: int) -> Canvas:
    import healpy
    import matplotlib

    matplotlib.use("Agg")
    import ligo.skymap.plot  # noqa: F401  (registers the astro projections)
    from astropy.wcs import WCS
    from matplotlib import pyplot as plt

    figure = plt.figure(figsize=FIGURE_SIZE_IN, dpi=dpi)
    try:
        figure.patch.set_alpha(0)
        ax: Any = figure.add_axes(AXES_POSITION, projection="astro hours mollweide")
        ax.patch.set_alpha(0)
        ax.grid(linewidth=0.4, alpha=0.5)
        agg: Any = figure.canvas  # Agg (above): it has buffer_rgba
        agg.draw()
        grid = np.asarray(agg.buffer_rgba()).copy()
        wcs = WCS(ax.header)
        xlim, ylim = ax.get_xlim(), ax.get_ylim()
    finally:
        plt.close(figure)
    rows, columns = ax.header["NAXIS2"], ax.header["NAXIS1"]
    x, y = np.meshgrid(np.arange(columns), np.arange(rows))
    with np.errstate(invalid="ignore"):
        ra_deg, dec_deg = wcs.pixel_to_world_values(x, y)
    on_sky = np.isfinite(ra_deg) & np.isfinite(dec_deg)
    nested_index = np.full((rows, columns), -1, dtype=np.int64)
    nested_index[on_sky] = healpy.ang2pix(1 << order, ra_deg[on_sky], dec_deg[on_sky], nest=True, lonlat=True)
    return Canvas(grid, nested_index, xlim, ylim, wcs.world_to_pixel_values)


def sky_image(canvas: Canvas, nested: np.ndarray) -> np.ndarray:
    """A NESTED map as the canvas's image: NaN off the sky."""
    image = nested[canvas.nested_index].astype(float)
    image[canvas.nested_index < 0] = np.nan
    return image


def skymap_png(
    sky: MultiOrderSkyMap,
    statistics: SkymapStatistics,
    title: str,
    *,
    gbm_visible: Mapping[str, Sequence[int]] | None = None,
    lat_field: Mapping[str, Sequence[int]] | None = None,
    galaxies: Sequence[Mapping[str, object]] = (),
    dpi: int = 80,
) -> bytes:
    """The quick-look PNG of one sky map (see the module docstring); ``galaxies`` are ``event_galaxies`` entries."""
    import matplotlib

    matplotlib.use("Agg")
    import ligo.skymap.plot  # noqa: F401  (registers the "cylon" colour map)
    from matplotlib import pyplot as plt

    order = min(PICTURE_ORDER, sky.max_order)
    sky_canvas = canvas(order, dpi)
    coverage_canvas = canvas(COVERAGE_ORDER, dpi)
    probability = rasterize(sky, order)["PROB"]
    figure = plt.figure(figsize=FIGURE_SIZE_IN, dpi=dpi)
    try:
        ax: Any = figure.add_axes(AXES_POSITION)
        ax.set_axis_off()
        ax.imshow(sky_image(sky_canvas, probability), cmap="cylon", origin="lower", interpolation="nearest")
        levels = credible_levels_nested(probability)
        ax.contour(sky_image(sky_canvas, 100 * levels), levels=[50, 90], colors="navy", linewidths=1.0,
                   linestyles=["solid", "dashed"])  # fmt: skip
        handles: list[Any] = [plt.Line2D([], [], color="navy", label="50%"),
                   plt.Line2D([], [], color="navy", linestyle="dashed", label="90%")]  # fmt: skip
        if gbm_visible is not None:
            occulted = ~moc_json_to_nested_mask(gbm_visible, COVERAGE_ORDER)
            ax.contourf(sky_image(coverage_canvas, occulted), levels=[0.5, 1.5], colors="0.5", alpha=0.45)
            handles.append(matplotlib.patches.Patch(color="0.5", alpha=0.45, label="Earth-occulted (GBM)"))
        if lat_field is not None and any(len(p) for p in lat_field.values()):
            in_field = moc_json_to_nested_mask(lat_field, COVERAGE_ORDER)
            ax.contour(sky_image(coverage_canvas, in_field), levels=[0.5], colors="deepskyblue", linewidths=1.2)
            handles.append(plt.Line2D([], [], color="deepskyblue", label="LAT field"))
        top = list(galaxies)[:TOP_GALAXIES]
        if top:
            x, y = sky_canvas.world_to_pixel([g["ra"] for g in top], [g["dec"] for g in top])
            ax.scatter(x, y, s=30, marker="o", facecolors="none", edgecolors="lime", linewidths=1.4)
            handles.append(plt.Line2D([], [], color="lime", marker="o", linestyle="", fillstyle="none",
                                      label=f"top {len(top)} galaxies"))  # fmt: skip
        x, y = sky_canvas.world_to_pixel(statistics.ra, statistics.dec)
        ax.plot([x], [y], marker="*", markersize=12, color="yellow", markeredgecolor="black", linestyle="")
        handles.append(plt.Line2D([], [], color="yellow", marker="*", markeredgecolor="black", linestyle="",
                                  label=f"max ({statistics.ra:.1f}, {statistics.dec:+.1f}) deg"))  # fmt: skip
        ax.set_xlim(sky_canvas.xlim)
        ax.set_ylim(sky_canvas.ylim)
        ax.set_title(
            f"{title}   90%: {statistics.area_90:,.0f} deg²   50%: {statistics.area_50:,.0f} deg²", fontsize=10
        )
        figure.figimage(sky_canvas.grid, zorder=3)  # the frame and grid over the map, as the sky axes draw them
        figure.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=dpi)
    finally:
        plt.close(figure)
    return buffer.getvalue()


def warm_up() -> None:
    """Draw one picture of a uniform sky: matplotlib's first figure pays ~0.5 s of imports, fonts and parsers."""
    uniform = MultiOrderSkyMap(uniq=np.arange(4, 16, dtype=np.int64), probdensity=np.full(12, 1 / (4 * np.pi)))
    statistics = SkymapStatistics(41253.0, 41253.0, 0.0, 0.0, None, None, None, None, 0, 1.0)
    skymap_png(uniform, statistics, "warm-up")
    canvas(PICTURE_ORDER, 80)  # the common case, inherited by every forked run worker
