"""Galaxy list per bundled sample with a 2,000,000-galaxy catalog, against the earlier method; GBM and LAT times.

Builds a synthetic NED-LVS-style catalog (uniform in volume, 2% without a
stellar mass, 1% without a distance) once under ``--workdir``, then prints:

- the one-off index build, and the catalog load from its cache (what a run
  process pays), with the process RSS once the catalog is loaded and used;
- per sample with a GW map, the median time of our galaxy list (credible zone
  on the multi-order map, HEALPix-indexed memory-mapped catalog, ranking and
  the API entries), and of the earlier method in the same run: ``healpy``
  reads the flat nside-512 ``.fits.gz``, the whole catalog is read as a table,
  every galaxy gets a pixel, and the same formulas rank them; with the ratio;
- GBM and LAT products (element set / FT2 read from a local cache, MOC, JSON).

    python benchmarks/bench_galaxy_list.py [--galaxies 2000000] [--repeats 7] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from pathlib import Path

import numpy as np

from gwtm_assets.assets.visibility import gbm_visibility, lat_visibility, signal_time
from gwtm_assets.io.galaxy_catalog import load_catalog
from gwtm_assets.notices.ligo import parse_ligo_notice
from gwtm_assets.resources.fermi import FermiEphemerisResource, fermi_met
from gwtm_assets.science.galaxies import GalaxyRankingConfig, rank_galaxies, read_galaxy_config
from gwtm_assets.science.skymap import decode_notice_skymap, flat_fits_bytes, read_multiorder_fits
from gwtm_assets.science.visibility import parse_element_sets

# Test doubles live in tests/ (not in the package): the repository root on the path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from gwtm_assets.devtools.catalogs import synthetic_galaxies, write_galaxy_ini, write_nedlvs_fits
from tests.fermi_fixtures import element_set_at_epoch, write_ft2  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "ligo"


def rss_mb() -> tuple[float, float]:
    """Current and peak resident set size of this process, MB."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def earlier_method(flat_map: Path, config: GalaxyRankingConfig) -> list[str]:
    """The earlier listener's ranking: flat map via healpy, the whole catalog as a table, a pixel per galaxy."""
    import healpy as hp
    from astropy.table import Table

    prob, distmu, distsigma, distnorm = hp.read_map(flat_map, field=[0, 1, 2, 3], dtype=np.float64)
    nside = hp.npix2nside(len(prob))
    table = Table.read(config.catalog_path)
    ra, dec = np.asarray(table["ra"], float), np.asarray(table["dec"], float)
    dist, mstar = np.asarray(table["DistMpc"], float), np.asarray(table["Mstar"], float)
    names = np.char.decode(np.asarray(table["objname"]).astype(bytes), "ascii")
    ipix = hp.ang2pix(nside, np.radians(90 - dec), np.radians(ra))
    ordered = np.sort(prob)[::-1]
    good = np.isfinite(dist) & (dist > 0) & np.isfinite(mstar)
    for credzone, nsigmas in ((config.credzone, config.nsigmas_in_d), (0.99995, 5.0)):
        cutoff = ordered[np.searchsorted(np.cumsum(ordered), credzone * ordered.sum())]
        mu, sigma = distmu[ipix], distsigma[ipix]
        keep = good & (prob[ipix] >= cutoff) & (np.abs(dist - mu) < nsigmas * sigma)
        if keep.any():
            break
    kept = np.flatnonzero(keep)
    d, mu, sigma = dist[kept], distmu[ipix[kept]], distsigma[ipix[kept]]
    pdf = np.exp(-0.5 * ((d - mu) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
    weight = prob[ipix[kept]] * distnorm[ipix[kept]] * pdf * mstar[kept]
    score = weight / weight.sum()
    luminosity = 4e33 * 10 ** (0.4 * (4.74 - (config.sensitivity_mag - 5 * np.log10(d * 1e5))))
    factor = np.clip(
        (config.maxl_erg_s - luminosity) / (config.maxl_erg_s - config.minl_erg_s), config.mindistfactor, 1
    )
    order = np.argsort(-score * factor, kind="stable")[: config.ngalaxies]
    return [str(n) for n in names[kept[order]]]


def median_ms(function, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times), result


def build_catalog(workdir: Path, galaxies: int) -> Path:
    catalog = workdir / f"synthetic-nedlvs-{galaxies}.fits"
    if not catalog.exists():
        started = time.perf_counter()
        write_nedlvs_fits(catalog, synthetic_galaxies(galaxies, seed=2026))
        print(f"Synthetic catalog: {galaxies:,} galaxies, {catalog.stat().st_size / 1e6:.0f} MB, "
              f"written in {time.perf_counter() - started:.1f} s")  # fmt: skip
    return write_galaxy_ini(workdir / "galaxies.ini", catalog, ngalaxies=1000)


def prepare_catalog(workdir: Path, galaxies: int) -> tuple[Path, float]:
    """The catalog's ``.ini``, and the seconds its first load took (index built and cached; fast if already cached)."""
    ini = build_catalog(workdir, galaxies)
    started = time.perf_counter()
    load_catalog(read_galaxy_config(ini).catalog_path)
    return ini, time.perf_counter() - started


def fermi_cache(workdir: Path, when) -> FermiEphemerisResource:
    """Element sets and an FT2 file around ``when`` in local directories: the inputs as the cache holds them."""
    real = parse_element_sets((ROOT / "samples" / "fermi" / "fermi-2017-08-17.tle").read_text())[0]
    tle, ft2 = workdir / "tle", workdir / "ft2"
    tle.mkdir(exist_ok=True)
    ft2.mkdir(exist_ok=True)
    lines = []
    for hours in range(-72, 1, 12):  # a few days of element sets, as a cache holds them
        lines += ["FERMI", *element_set_at_epoch(real.line1, real.line2, when + timedelta(hours=hours))]
    (tle / "fermi.tle").write_text("\n".join(lines) + "\n")
    met = fermi_met(when)
    write_ft2(ft2 / "ft2_week.fits", met - 3.5 * 86400, met + 3.5 * 86400, 200.0, 30.0)  # a weekly file, 30 s rows
    return FermiEphemerisResource(tle_source=str(tle), ft2_source=str(ft2), cache_dir=str(workdir / "cache"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--galaxies", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the catalog here between runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        workdir = args.workdir or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        # Made and indexed in another process, so this one's RSS is what a run holding the catalog holds.
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            ini, first_load = pool.submit(prepare_catalog, workdir, args.galaxies).result()
        config = read_galaxy_config(ini)
        before_mb, _ = rss_mb()
        started = time.perf_counter()
        catalog = load_catalog(config.catalog_path)
        cached_load = time.perf_counter() - started
        print(f"Catalog: {len(catalog):,} indexed galaxies; first load (index built and cached unless it was) {first_load:.2f} s, "
              f"load from cache {1000 * cached_load:.1f} ms")  # fmt: skip

        rows = []
        for path in sorted(SAMPLES.glob("*.json")):
            notice = parse_ligo_notice(path.read_bytes())
            encoded = (json.loads(path.read_bytes()).get("event") or {}).get("skymap")
            if not encoded:
                continue
            sky = read_multiorder_fits(decode_notice_skymap(encoded))
            started = time.perf_counter()
            rank_galaxies(sky, catalog, config).entries(catalog)
            first_ms = 1000 * (time.perf_counter() - started)
            ours_ms, ranked = median_ms(lambda s=sky: rank_galaxies(s, catalog, config).entries(catalog), args.repeats)
            rows.append((notice, path.stem, first_ms, sky, ours_ms, ranked))
        current, peak = rss_mb()
        print(
            f"RSS with the catalog loaded and every sample ranked: {current:.0f} MB (peak so far {peak:.0f} MB; "
            f"{before_mb:.0f} MB before the catalog was loaded)\n"
        )

        print(
            "| sample | galaxies | ours first call ms | ours median ms | earlier method ms | ratio | top-100 overlap |"
        )
        print("|---|---|---|---|---|---|---|")
        ratios, ours_all = [], []
        for _notice, name, first_ms, sky, ours_ms, ranked in rows:
            flat = workdir / f"{name}.fits.gz"  # the earlier method's input, the flat product
            flat.write_bytes(flat_fits_bytes(sky, 512)[0])
            earlier_ms, earlier = median_ms(lambda f=flat: earlier_method(f, config), max(1, args.repeats // 3))
            overlap = len({g["name"] for g in ranked[:100]} & set(earlier[:100]))
            ratios.append(earlier_ms / ours_ms)
            ours_all.append(ours_ms)
            print(
                f"| {name} | {len(ranked)} | {first_ms:.1f} | {ours_ms:.1f} | {earlier_ms:.0f} | {earlier_ms / ours_ms:.0f}x | {overlap} |"
            )
        print(f"\nGalaxy list: median {statistics.median(ours_all):.1f} ms, worst {max(ours_all):.1f} ms "
              f"(target <= 200 ms); ratio median {statistics.median(ratios):.0f}x, least {min(ratios):.0f}x (target >= 10x)")  # fmt: skip

        when = signal_time(rows[-1][0])
        fermi = fermi_cache(workdir, when)
        gbm_visibility(when, fermi), lat_visibility(when, fermi)  # warm imports
        gbm_ms, (gbm, gbm_info) = median_ms(lambda: gbm_visibility(when, fermi), args.repeats)
        lat_ms, (lat, lat_info) = median_ms(lambda: lat_visibility(when, fermi), args.repeats)
        assert gbm is not None and lat is not None, (gbm_info, lat_info)
        print(f"GBM visibility at {when:%Y-%m-%dT%H:%M:%S} ({gbm_info['gbm']}, {len(json.dumps(gbm)):,} bytes of JSON): "
              f"median {gbm_ms:.1f} ms; LAT ({lat_info['lat']}): median {lat_ms:.1f} ms (targets <= 100 ms each)")  # fmt: skip
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"Peak RSS of the whole benchmark (the earlier method's full table included): {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
