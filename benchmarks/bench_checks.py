"""Cost of the science checks inside the product assets, per bundled sample, now and before, in one run.

They count in a notice's cost. Prints the median over repeats, milliseconds, of:

- the contour check now (the map's own cells against the rings, ``science/enclosed.py``) and before (mocpy
  rasterising every ring at two depths, ``min(max_order + 1, 13)`` and one deeper, Richardson-extrapolated);
- the flat-map check now (the PROB column in memory) and before (gunzip and re-read with astropy);
- the MOC-area check;
- the products those checks check (decode + statistics, flat map + multi-order gzip, contours, MOCs; the picture
  is left out, so the ratio is an upper bound), and the checks' share of them now and before;
- what each contour method finds at the 50% and 90% levels.

    python benchmarks/bench_checks.py [--repeats 5]
"""

import argparse
import gzip
import io
import json
import statistics
import time
from pathlib import Path

import numpy as np

from gwtm_assets.assets.checks import check_contours, check_flat_maps, check_mocs
from gwtm_assets.science.contours import contours_geojson, probability_inside_rings
from gwtm_assets.science.moc import credible_region_moc, moc_fits_bytes
from gwtm_assets.science.skymap import (
    MultiOrderSkyMap,
    decode_notice_skymap,
    flat_map,
    gzip_bytes,
    read_multiorder_fits,
    skymap_statistics,
)

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "ligo"
BEFORE_MAX_DEPTH = 13


def contour_check_before(sky: MultiOrderSkyMap, geojson: bytes) -> list[float]:
    """The check as it was: mocpy covers of each ring set at two depths, extrapolated (2 fine - coarse)."""
    depth = min(sky.max_order + 1, BEFORE_MAX_DEPTH)
    found = []
    for feature in json.loads(geojson)["features"]:
        rings = feature["geometry"]["coordinates"]
        coarse = probability_inside_rings(sky, rings, depth)
        fine = probability_inside_rings(sky, rings, depth + 1)
        found.append(2 * fine - coarse)
    return found


def flat_check_before(fits_gz: bytes) -> float:
    from astropy.io import fits

    with fits.open(io.BytesIO(gzip.decompress(fits_gz))) as hdus:
        return float(np.sum(hdus[1].data["PROB"], dtype=np.float64))


def median_ms(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times)


def products(encoded: str) -> tuple[MultiOrderSkyMap, bytes, dict, object]:
    data = decode_notice_skymap(encoded)
    sky = read_multiorder_fits(data)
    s = skymap_statistics(sky)
    flat = flat_map(sky, 512)
    gzip_bytes(data)
    geojson = json.dumps(contours_geojson(sky, (0.5, 0.9), (s.area_50, s.area_90))).encode()
    mocs = {
        f"m{lvl}": (moc_fits_bytes(credible_region_moc(sky, lvl / 100)), a)
        for lvl, a in ((50, s.area_50), (90, s.area_90))
    }
    return sky, geojson, mocs, flat


def row(name: str, encoded: str, r: int) -> tuple[str, float, float]:
    sky, geojson, mocs, flat = products(encoded)
    product_ms = median_ms(lambda: products(encoded), r)
    contour_now = median_ms(lambda: check_contours({"c": (geojson, sky)}), r)
    contour_before = median_ms(lambda: contour_check_before(sky, geojson), r)
    flat_now = median_ms(lambda: check_flat_maps({"f": flat.prob}), r)
    flat_before = median_ms(lambda: flat_check_before(flat.fits_gz), r)
    moc_ms = median_ms(lambda: check_mocs(mocs), r)
    found_now = check_contours({"c": (geojson, sky)}).metadata["enclosed_probability"].value.values()
    found_before = contour_check_before(sky, geojson)
    share_now = (contour_now + flat_now + moc_ms) / product_ms
    share_before = (contour_before + flat_before + moc_ms) / product_ms
    line = (
        f"| {name} | {sky.max_order} | {contour_now:.0f} | {contour_before:.0f} | {flat_now:.1f} "
        f"| {flat_before:.1f} | {moc_ms:.1f} | {product_ms:.0f} | {100 * share_now:.0f}% | {100 * share_before:.0f}% "
        f"| {' / '.join(f'{v:.4f}' for v in found_now)} | {' / '.join(f'{v:.4f}' for v in found_before)} |"
    )
    return line, share_now, share_before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    r = args.repeats
    print(
        "| sample | max order | contour check now | before | flat check now | before | MOC check "
        "| products | checks / products now | before | enclosed 50/90 now | before |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    shares_now, shares_before = [], []
    for path in sorted(SAMPLES.glob("*.json")):
        encoded = (json.loads(path.read_bytes()).get("event") or {}).get("skymap")
        if encoded:
            line, share_now, share_before = row(path.stem, encoded, r)
            print(line, flush=True)
            shares_now.append(share_now)
            shares_before.append(share_before)
    print(
        f"\nmedian checks / products: now {100 * statistics.median(shares_now):.0f}%, "
        f"before {100 * statistics.median(shares_before):.0f}%"
    )


if __name__ == "__main__":
    main()
