"""Cost of the science checks that run inside the product assets, per bundled sample (they count in per-notice time).

Prints the median over repeats, milliseconds, of each check on the products a
partition makes: the contour check as it is now (mocpy at two depths,
extrapolated) and as it was (one depth, which over-counted small maps by ~0.01),
the MOC-area check and the flat-map sum.

    python benchmarks/bench_checks.py [--repeats 5]
"""

import argparse
import json
import statistics
import time
from pathlib import Path

from gwtm_assets.assets.checks import CHECK_MAX_DEPTH, check_contours, check_flat_maps, check_mocs
from gwtm_assets.science.contours import contours_geojson, probability_inside_rings
from gwtm_assets.science.moc import credible_region_moc, moc_fits_bytes
from gwtm_assets.science.skymap import decode_notice_skymap, flat_fits_bytes, read_multiorder_fits, skymap_statistics

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "ligo"


def median_ms(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times)


def row(name: str, sky, geojson: bytes, mocs: dict, flat: bytes, repeats: int) -> str:
    depth = min(sky.max_order + 1, CHECK_MAX_DEPTH)  # the single depth the check used before
    rings = [f["geometry"]["coordinates"] for f in json.loads(geojson)["features"]]
    now = check_contours({"c": (geojson, sky)}).metadata["enclosed_probability"].value
    before = [round(probability_inside_rings(sky, r, depth), 4) for r in rings]
    return (
        f"| {name} | {sky.max_order} "
        f"| {median_ms(lambda: check_contours({'c': (geojson, sky)}), repeats):.0f} "
        f"| {median_ms(lambda: [probability_inside_rings(sky, r, depth) for r in rings], repeats):.0f} "
        f"| {median_ms(lambda: check_mocs(mocs), repeats):.1f} "
        f"| {median_ms(lambda: check_flat_maps({'f': flat}), repeats):.1f} "
        f"| {' / '.join(f'{v:.4f}' for v in now.values())} | {' / '.join(f'{v:.4f}' for v in before)} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(
        "| sample | max order | contours (now) | contours (one depth, before) | MOC areas | flat sum | enclosed 50/90 now | before |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for path in sorted(SAMPLES.glob("*.json")):
        notice = json.loads(path.read_bytes())
        if not (notice.get("event") or {}).get("skymap"):
            continue
        sky = read_multiorder_fits(decode_notice_skymap(notice["event"]["skymap"]))
        s = skymap_statistics(sky)
        geojson = json.dumps(contours_geojson(sky, (0.5, 0.9), (s.area_50, s.area_90))).encode()
        mocs = {
            f"m{lvl}": (moc_fits_bytes(credible_region_moc(sky, lvl / 100)), a)
            for lvl, a in ((50, s.area_50), (90, s.area_90))
        }
        flat, _ = flat_fits_bytes(sky, 512)
        print(row(path.stem, sky, geojson, mocs, flat, args.repeats), flush=True)


if __name__ == "__main__":
    main()
