"""Compute time of every LIGO product per bundled sample, and the earlier GWTM contour method.

Prints, per sample, the median over repeats of each step (decode + statistics,
flat map, multi-order map gzip, contours, MOCs, the quick-look picture with every
layer) and of all products together;
then, on MS181101ab-preliminary, the earlier listener's contour method
(flatten at full resolution with ligo.skymap, then
``ligo.skymap.postprocess.contour``) and the ratio.

    python benchmarks/bench_ligo_products.py [--repeats 7] [--skip-baseline]
"""

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import astropy.units as u
from mocpy import MOC

from gwtm_assets.science.contours import contours_geojson
from gwtm_assets.science.moc import credible_region_moc, moc_fits_bytes
from gwtm_assets.science.quicklook import skymap_png
from gwtm_assets.science.skymap import (
    decode_notice_skymap,
    flat_fits_bytes,
    gzip_bytes,
    read_multiorder_fits,
    skymap_statistics,
)

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "ligo"
# The picture with every layer: a GBM visible sky and LAT field as the visibility asset makes them, 10 galaxies.
GBM_VISIBLE = json.loads(
    MOC.from_cone(240 * u.deg, 0 * u.deg, radius=113 * u.deg, max_depth=8).to_string(format="json")
)
LAT_FIELD = json.loads(MOC.from_cone(200 * u.deg, -20 * u.deg, radius=65 * u.deg, max_depth=8).to_string(format="json"))
GALAXIES = [{"ra": 190.0 + i, "dec": -20.0 + i} for i in range(10)]


def products_of(encoded: str) -> dict[str, float]:
    """Make every product of one sky map; return the seconds each step took."""
    times = {}
    t = time.perf_counter()
    data = decode_notice_skymap(encoded)
    sky = read_multiorder_fits(data)
    stats = skymap_statistics(sky)
    times["skymap"] = time.perf_counter() - t
    t = time.perf_counter()
    flat_fits_bytes(sky, 512)
    gzip_bytes(data)
    times["alert_files"] = time.perf_counter() - t
    t = time.perf_counter()
    json.dumps(contours_geojson(sky, (0.5, 0.9), (stats.area_50, stats.area_90)))
    times["contours"] = time.perf_counter() - t
    t = time.perf_counter()
    for level in (0.5, 0.9):
        moc_fits_bytes(credible_region_moc(sky, level))
    times["moc"] = time.perf_counter() - t
    t = time.perf_counter()
    skymap_png(sky, stats, "bench", gbm_visible=GBM_VISIBLE, lat_field=LAT_FIELD, galaxies=GALAXIES)
    times["skymap_plot"] = time.perf_counter() - t
    return times


def notice_products(path: Path) -> dict[str, float]:
    content = json.loads(path.read_bytes())
    maps = [
        m
        for m in (
            (content.get("event") or {}).get("skymap"),
            (content.get("external_coinc") or {}).get("combined_skymap"),
        )
        if m
    ]
    total: dict[str, float] = {}
    for encoded in maps:
        for step, seconds in products_of(encoded).items():
            total[step] = total.get(step, 0.0) + seconds
    # The picture is drawn last, off the products' path (its own column): not in the products' target.
    total["all_products"] = sum(seconds for step, seconds in total.items() if step != "skymap_plot")
    return total


def earlier_contour_method(path: Path) -> float:
    """Seconds for the earlier listener's contours: full-resolution flat map, then ligo.skymap contour."""
    from ligo.skymap.io import read_sky_map
    from ligo.skymap.postprocess import contour, find_greedy_credible_levels

    data = decode_notice_skymap(json.loads(path.read_bytes())["event"]["skymap"])
    with tempfile.NamedTemporaryFile(suffix=".fits") as tmp:
        tmp.write(data)
        tmp.flush()
        started = time.perf_counter()
        prob, _ = read_sky_map(tmp.name, nest=True)  # flattened at the map's finest order
        levels = 100 * find_greedy_credible_levels(prob)
        contour(levels, [50, 90], nest=True, degrees=True, simplify=True)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    steps = ["skymap", "alert_files", "contours", "moc", "skymap_plot", "all_products"]
    print(f"median of {args.repeats} runs, milliseconds")
    print(f"{'sample':<28}" + "".join(f"{s:>14}" for s in steps))
    medians = {}
    for path in sorted(SAMPLES.glob("*.json")):
        if "retraction" in path.name:
            continue
        notice_products(path)  # warm-up: imports and caches
        runs = [notice_products(path) for _ in range(args.repeats)]
        medians[path.stem] = {s: 1000 * statistics.median(r[s] for r in runs) for s in steps}
        print(f"{path.stem:<28}" + "".join(f"{medians[path.stem][s]:>14.1f}" for s in steps))
    worst = max(m["all_products"] for m in medians.values())
    print(f"worst median of all products over samples: {worst:.1f} ms (target <= 500 ms)")
    picture = statistics.median(m["skymap_plot"] for m in medians.values())
    print(f"quick-look picture per notice: median {picture:.1f} ms, worst "
          f"{max(m['skymap_plot'] for m in medians.values()):.1f} ms (target well under 1 s per map)")  # fmt: skip
    if args.skip_baseline:
        return
    target = SAMPLES / "MS181101ab-preliminary.json"
    ours = medians[target.stem]["contours"]
    baseline = 1000 * earlier_contour_method(target)
    print(f"earlier contour method on {target.stem}: {baseline:.0f} ms (one run)")
    print(f"our contours: {ours:.1f} ms median -> {baseline / ours:.0f}x faster (target >= 20x)")
    ours_all = medians[target.stem]["all_products"]
    print(f"all our products: {ours_all:.1f} ms -> {baseline / ours_all:.0f}x faster than the earlier contours alone")


if __name__ == "__main__":
    main()
