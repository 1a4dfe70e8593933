"""A quick-look all-sky picture of one sky map (``<name>-skymap.png``).

Mollweide in equatorial coordinates (ligo.skymap's ``astro hours mollweide``
axes on matplotlib): the probability per pixel, the 50% and 90% credible
contours, the most probable position, and, when known, the sky occulted by the
Earth for Fermi GBM, the Fermi LAT field of view and the top-ranked galaxies.

What every picture shares (the frame, grid and labels those axes draw, and the sky pixel under each image pixel)
is a ``Canvas``, drawn once and kept in the user cache (``$XDG_CACHE_HOME/gwtm/quicklook-canvas``, keyed by the
versions that draw it): importing ligo.skymap's axes costs ~2 s and ~130 MB, so a new process (``gwtm-cron
ingest``, a run pod, the warm pool) that finds the canvas there never imports them.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .skymap import MultiOrderSkyMap, SkymapStatistics, rasterize

#: HEALPix order the picture is drawn at (nside 64, 0.84 deg pixels): finer than a 800 px wide Mollweide shows.
PICTURE_ORDER = 6
#: Order the coverage MOCs (GBM visible sky, LAT field) are rasterized at.
COVERAGE_ORDER = 6
TOP_GALAXIES = 10
#: Bump when what a canvas holds or how it is drawn changes: the cached ones are then drawn again.
CANVAS_FORMAT = 1
#: The packages whose versions decide how a canvas is drawn (its cache key).
CANVAS_DRAWN_BY = ("matplotlib", "ligo.skymap", "astropy", "healpy", "numpy")

logger = logging.getLogger(__name__)


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
    """What every picture at one order and resolution shares: drawn once, kept in the user cache (module docstring).

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


def canvas_cache_path(order: int, dpi: int) -> Path:
    """Where the canvas of ``order`` and ``dpi`` is kept between processes."""
    stamp = {
        "format": CANVAS_FORMAT,
        "order": order,
        "dpi": dpi,
        "figure_in": FIGURE_SIZE_IN,
        "axes": AXES_POSITION,
        **{package: importlib.metadata.version(package) for package in CANVAS_DRAWN_BY},
    }
    digest = hashlib.sha256(json.dumps(stamp, sort_keys=True).encode()).hexdigest()[:16]
    user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return user_cache / "gwtm" / "quicklook-canvas" / f"order{order}-dpi{dpi}-{digest}.npz"


@functools.lru_cache(maxsize=8)
def canvas(order: int, dpi: int) -> Canvas:
    """The canvas of ``order`` and ``dpi``: from the user cache, else drawn (and kept there when it is writable)."""
    path = canvas_cache_path(order, dpi)
    try:
        with np.load(path, allow_pickle=False) as kept:
            grid, nested_index, limits = kept["grid"], kept["nested_index"], kept["limits"]
            header = str(kept["wcs_header"])
    except (OSError, KeyError, ValueError):  # none yet, or unreadable: draw it
        grid, nested_index, limits, header = _draw_canvas(order, dpi)
        _keep_canvas(path, grid=grid, nested_index=nested_index, limits=limits, wcs_header=np.asarray(header))
    from astropy.io.fits import Header
    from astropy.wcs import WCS

    wcs = WCS(Header.fromstring(header))
    return Canvas(grid, nested_index, (limits[0], limits[1]), (limits[2], limits[3]), wcs.world_to_pixel_values)


def _keep_canvas(path: Path, **arrays: Any) -> None:
    staging: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz", delete=False) as file:
            staging = Path(file.name)
            np.savez(file, **arrays)
        os.replace(staging, path)  # whole or not at all, for processes drawing the same canvas at once
    except OSError as exc:
        if staging is not None:
            staging.unlink(missing_ok=True)
        logger.info("quick-look canvas not kept in %s (%s): drawn again by the next process", path.parent, exc)


def _draw_canvas(order: int, dpi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """The frame and grid image, the NESTED index under each image pixel, the axes' limits and their WCS header."""
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
        header = ax.header
        wcs = WCS(header)
        limits = np.array([*ax.get_xlim(), *ax.get_ylim()], dtype=np.float64)
    finally:
        plt.close(figure)
    rows, columns = header["NAXIS2"], header["NAXIS1"]
    x, y = np.meshgrid(np.arange(columns), np.arange(rows))
    with np.errstate(invalid="ignore"):
        ra_deg, dec_deg = wcs.pixel_to_world_values(x, y)
    on_sky = np.isfinite(ra_deg) & np.isfinite(dec_deg)
    nested_index = np.full((rows, columns), -1, dtype=np.int64)
    nested_index[on_sky] = healpy.ang2pix(1 << order, ra_deg[on_sky], dec_deg[on_sky], nest=True, lonlat=True)
    return grid, nested_index, limits, header.tostring()


@functools.cache
def cylon_colormap() -> Any:
    """ligo.skymap's "cylon" colour map, made as ligo.skymap makes it from its data file, without importing its
    plotting package."""
    from matplotlib.colors import LinearSegmentedColormap

    spec = importlib.util.find_spec("ligo.skymap")
    assert spec is not None and spec.submodule_search_locations, "ligo.skymap is not installed"
    data = np.loadtxt(Path(spec.submodule_search_locations[0]) / "plot" / "cylon.csv", delimiter=",")
    return LinearSegmentedColormap.from_list("cylon", data)


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
    from matplotlib import pyplot as plt

    order = min(PICTURE_ORDER, sky.max_order)
    sky_canvas = canvas(order, dpi)
    coverage_canvas = canvas(COVERAGE_ORDER, dpi)
    probability = rasterize(sky, order)["PROB"]
    figure = plt.figure(figsize=FIGURE_SIZE_IN, dpi=dpi)
    try:
        ax: Any = figure.add_axes(AXES_POSITION)
        ax.set_axis_off()
        ax.imshow(sky_image(sky_canvas, probability), cmap=cylon_colormap(), origin="lower", interpolation="nearest")
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
        # y given: placed where the automatic placement puts it on these tickless axes, without that placement's
        # measuring of every tick of the hidden axes at each draw
        ax.set_title(
            f"{title}   90%: {statistics.area_90:,.0f} deg²   50%: {statistics.area_50:,.0f} deg²", fontsize=10, y=1.0
        )
        figure.figimage(sky_canvas.grid, zorder=3)  # the frame and grid over the map, as the sky axes draw them
        figure.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
        buffer = io.BytesIO()
        # zlib level 3 instead of Pillow's 6: a 1% larger PNG for ~10% less CPU per picture (benchmarks/RESULTS.md)
        figure.savefig(buffer, format="png", dpi=dpi, pil_kwargs={"compress_level": 3})
    finally:
        plt.close(figure)
    return buffer.getvalue()


def warm_up() -> None:
    """Draw one picture of a uniform sky: matplotlib's first figure pays ~0.5 s of imports, fonts and parsers."""
    uniform = MultiOrderSkyMap(uniq=np.arange(4, 16, dtype=np.int64), probdensity=np.full(12, 1 / (4 * np.pi)))
    statistics = SkymapStatistics(41253.0, 41253.0, 0.0, 0.0, None, None, None, None, 0, 1.0)
    skymap_png(uniform, statistics, "warm-up")
    canvas(PICTURE_ORDER, 80)  # the common case, inherited by every forked run worker
