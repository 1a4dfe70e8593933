"""A quick-look all-sky picture of one sky map (``<name>-skymap.png``).

Mollweide in equatorial coordinates (ligo.skymap's ``astro hours mollweide``
axes on matplotlib): the probability per pixel, the 50% and 90% credible
contours, the most probable position, and, when known, the sky occulted by the
Earth for Fermi GBM, the Fermi LAT field of view and the top-ranked galaxies.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
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
    import ligo.skymap.plot  # noqa: F401  (registers the astro projections)
    from matplotlib import pyplot as plt

    order = min(PICTURE_ORDER, sky.max_order)
    probability = rasterize(sky, order)["PROB"]
    figure = plt.figure(figsize=(8, 4.6), dpi=dpi)
    try:
        ax: Any = figure.add_axes((0.03, 0.12, 0.94, 0.78), projection="astro hours mollweide")
        ax.grid(linewidth=0.4, alpha=0.5)
        ax.imshow_hpx((probability, "ICRS"), nested=True, cmap="cylon", order="nearest-neighbor")
        levels = credible_levels_nested(probability)
        ax.contour_hpx((100 * levels, "ICRS"), nested=True, levels=[50, 90], colors="navy",
                       linewidths=1.0, linestyles=["solid", "dashed"], order="nearest-neighbor")  # fmt: skip
        world = ax.get_transform("world")
        handles: list[Any] = [plt.Line2D([], [], color="navy", label="50%"),
                   plt.Line2D([], [], color="navy", linestyle="dashed", label="90%")]  # fmt: skip
        if gbm_visible is not None:
            occulted = ~moc_json_to_nested_mask(gbm_visible, COVERAGE_ORDER)
            ax.contourf_hpx((occulted.astype(float), "ICRS"), nested=True, levels=[0.5, 1.5], colors="0.5",
                            alpha=0.45, order="nearest-neighbor")  # fmt: skip
            handles.append(matplotlib.patches.Patch(color="0.5", alpha=0.45, label="Earth-occulted (GBM)"))
        if lat_field is not None and any(len(p) for p in lat_field.values()):
            in_field = moc_json_to_nested_mask(lat_field, COVERAGE_ORDER)
            ax.contour_hpx((in_field.astype(float), "ICRS"), nested=True, levels=[0.5], colors="deepskyblue",
                           linewidths=1.2, order="nearest-neighbor")  # fmt: skip
            handles.append(plt.Line2D([], [], color="deepskyblue", label="LAT field"))
        top = list(galaxies)[:TOP_GALAXIES]
        if top:
            ax.scatter([g["ra"] for g in top], [g["dec"] for g in top], transform=world, s=30, marker="o",
                       facecolors="none", edgecolors="lime", linewidths=1.4)  # fmt: skip
            handles.append(plt.Line2D([], [], color="lime", marker="o", linestyle="", fillstyle="none",
                                      label=f"top {len(top)} galaxies"))  # fmt: skip
        ax.plot([statistics.ra], [statistics.dec], transform=world, marker="*", markersize=12,
                color="yellow", markeredgecolor="black", linestyle="")  # fmt: skip
        handles.append(plt.Line2D([], [], color="yellow", marker="*", markeredgecolor="black", linestyle="",
                                  label=f"max ({statistics.ra:.1f}, {statistics.dec:+.1f}) deg"))  # fmt: skip
        ax.set_title(
            f"{title}   90%: {statistics.area_90:,.0f} deg²   50%: {statistics.area_50:,.0f} deg²", fontsize=10
        )
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
