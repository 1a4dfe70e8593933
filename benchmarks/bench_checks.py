"""Cost of the science checks inside the product assets, per bundled sample, against the products they check.

They count in a notice's cost. Prints the median over repeats, milliseconds, of:

- the contour check (the map's own cells against the rings, ``science/enclosed.py``), and with ``--baseline REV``
  the contour check of that commit (its ``enclosed.py`` and ``planar_overlap.py`` loaded beside this one's, same
  inputs, same process);
- the flat-map check (the PROB column in memory) and the MOC-area check;
- the products: decode + statistics, flat map + multi-order gzip, contours, MOCs, and the quick-look picture
  (without the GBM/LAT layers and galaxies, so a lower bound);
- the checks' share of the products, now and at the baseline;
- what the contour check finds at the 50% and 90% levels, now and at the baseline.

    python benchmarks/bench_checks.py [--repeats 5] [--baseline REV]
"""

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from gwtm_assets.assets.checks import check_contours, check_flat_maps, check_mocs
from gwtm_assets.science.contours import contours_geojson
from gwtm_assets.science.moc import credible_region_moc, moc_fits_bytes
from gwtm_assets.science.quicklook import skymap_png
from gwtm_assets.science.skymap import (
    decode_notice_skymap,
    flat_map,
    gzip_bytes,
    read_multiorder_fits,
    skymap_statistics,
)

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples" / "ligo"
#: The contour check's own modules, in import order: a baseline is loaded from all of them at that commit.
CHECK_MODULES = ("planar_overlap", "enclosed")


def enclosed_at(revision: str) -> Callable:
    """``probability_in_rings`` of ``revision``: its ``CHECK_MODULES`` as modules of this package under names of their
    own, importing one another (their other relative imports resolve here, so a baseline needing a module this
    checkout lacks cannot be loaded)."""
    module = None
    for stem in CHECK_MODULES:
        path = f"gwtm_assets/science/{stem}.py"
        source = subprocess.run(
            ["git", "show", f"{revision}:{path}"], cwd=REPO, check=True, capture_output=True, text=True
        ).stdout
        for other in CHECK_MODULES:
            source = source.replace(f"from .{other} import", f"from ._{other}_baseline import")
        name = f"gwtm_assets.science._{stem}_baseline"
        spec = importlib.util.spec_from_loader(name, loader=None)
        assert spec is not None
        module = importlib.util.module_from_spec(spec)
        module.__package__ = "gwtm_assets.science"
        sys.modules[name] = module
        exec(compile(source, f"{revision}:{path}", "exec"), module.__dict__)
    assert module is not None
    return module.probability_in_rings


def median_ms(function: Callable, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times)


def products(encoded: str, picture: bool = True):
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
    if picture:
        skymap_png(sky, s, "bench")
    return sky, geojson, mocs, flat


def contour_check_with(probability_in_rings: Callable, sky, geojson: bytes) -> list[float]:
    """The contour check's integration, as ``check_contours`` does it, with a given integrator."""
    return [probability_in_rings(sky, f["geometry"]["coordinates"]) for f in json.loads(geojson)["features"]]


def row(name: str, encoded: str, r: int, baseline: Callable | None) -> tuple[str, float, float | None]:
    sky, geojson, mocs, flat = products(encoded)
    product_ms = median_ms(lambda: products(encoded), r)
    picture_ms = product_ms - median_ms(lambda: products(encoded, picture=False), r)
    contour_ms = median_ms(lambda: check_contours({"c": (geojson, sky)}), r)
    flat_ms = median_ms(lambda: check_flat_maps({"f": flat.prob}), r)
    moc_ms = median_ms(lambda: check_mocs(mocs), r)
    found = check_contours({"c": (geojson, sky)}).metadata["enclosed_probability"].value.values()
    share = (contour_ms + flat_ms + moc_ms) / product_ms
    cells = [
        name, str(sky.max_order), f"{contour_ms:.0f}", f"{flat_ms:.1f}", f"{moc_ms:.1f}",
        f"{product_ms:.0f}", f"{picture_ms:.0f}", f"{100 * share:.0f}%",
        " / ".join(f"{v:.4f}" for v in found),
    ]  # fmt: skip
    share_before = None
    if baseline is not None:
        before_ms = median_ms(lambda: contour_check_with(baseline, sky, geojson), r)
        share_before = (before_ms + flat_ms + moc_ms) / product_ms
        found_before = contour_check_with(baseline, sky, geojson)
        cells[3:3] = [f"{before_ms:.0f}", f"{before_ms / contour_ms:.2f}x"]
        cells[-1:-1] = [f"{100 * share_before:.0f}%"]
        cells.append(" / ".join(f"{v:.4f}" for v in found_before))
    return "| " + " | ".join(cells) + " |", share, share_before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--baseline", help="a commit whose contour check to measure beside this one's")
    args = parser.parse_args()
    baseline = enclosed_at(args.baseline) if args.baseline else None
    headers = [
        "sample", "max order", "contour check", "flat check", "MOC check", "products", "of which picture",
        "checks / products", "enclosed 50/90",
    ]  # fmt: skip
    if baseline is not None:
        headers[3:3] = [f"contour check at {args.baseline}", "speed-up"]
        headers[-1:-1] = [f"checks / products at {args.baseline}"]
        headers.append(f"enclosed 50/90 at {args.baseline}")
    print("| " + " | ".join(headers) + " |")
    print("|" + "---|" * len(headers))
    shares, shares_before = [], []
    for path in sorted(SAMPLES.glob("*.json")):
        encoded = (json.loads(path.read_bytes()).get("event") or {}).get("skymap")
        if encoded:
            line, share, share_before = row(path.stem, encoded, args.repeats, baseline)
            print(line, flush=True)
            shares.append(share)
            shares_before.append(share_before)
    summary = f"\nmedian checks / products: {100 * statistics.median(shares):.0f}%"
    if baseline is not None:
        summary += f" (at {args.baseline}: {100 * statistics.median(shares_before):.0f}%)"
    print(summary)


if __name__ == "__main__":
    main()
