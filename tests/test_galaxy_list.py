"""Galaxy ranking (Arcavi et al. 2017) on real sample maps, against a direct, unoptimised evaluation of the formulas."""

import math
from dataclasses import replace

import healpy as hp
import numpy as np
import pytest
from dagster import DagsterInstance, materialize

from gwtm_assets.assets import LIGO_ASSETS
from gwtm_assets.definitions import build_definitions
from gwtm_assets.devtools.catalogs import synthetic_galaxies, write_galaxy_ini, write_nedlvs_fits
from gwtm_assets.ingest import ingest_files
from gwtm_assets.io.galaxy_catalog import GalaxyCatalogError, cache_dirs, load_catalog
from gwtm_assets.resources.builders import build_resources
from gwtm_assets.science.galaxies import GalaxyConfigError, rank_galaxies, read_galaxy_config
from gwtm_assets.science.skymap import MultiOrderSkyMap, skymap_statistics, uniq_to_order_ipix
from gwtm_assets.settings import ConfigurationError

from .conftest import load_sky, sample


def direct_ranking(sky: MultiOrderSkyMap, columns: dict, config) -> list[tuple[str, float]]:
    """The formulas of the module docstring, galaxy by galaxy, with no index and no vectorised shortcut."""
    order, ipix = uniq_to_order_ipix(sky.uniq)
    cell_of = {(int(o), int(p)): i for i, (o, p) in enumerate(zip(order, ipix, strict=True))}
    density = [float(x) for x in sky.probdensity]
    area = [4 * math.pi / (12 * 4 ** int(o)) for o in order]
    has_distance = "DISTMU" in sky.distance and sky.header.get("DISTMEAN")
    mu = sky.distance["DISTMU"] if has_distance else [10.0] * len(density)
    sigma = sky.distance["DISTSIGMA"] if has_distance else [10.0] * len(density)
    norm = sky.distance["DISTNORM"] if has_distance else [1.0] * len(density)

    def cutoff(credzone: float) -> float:
        total = sum(d * a for d, a in zip(density, area, strict=True))
        running = 0.0
        for i in sorted(range(len(density)), key=lambda i: -density[i]):
            running += density[i] * area[i]
            if running >= credzone * total:
                return density[i]
        return 0.0

    orders = sorted({int(x) for x in order})
    galaxies = []
    for row in range(len(columns["ra"])):
        d, m = float(columns["DistMpc"][row]), float(columns["Mstar"][row])
        if not (d > 0) or math.isnan(m):
            continue
        for o in orders:
            p = int(hp.ang2pix(2**o, float(columns["ra"][row]), float(columns["dec"][row]), nest=True, lonlat=True))
            if (o, p) in cell_of:
                galaxies.append((row, cell_of[(o, p)], d, m))
                break

    for credzone, nsigmas in ((config.credzone, config.nsigmas_in_d), (0.99995, 5.0)):
        limit = cutoff(credzone)
        kept = [g for g in galaxies if density[g[1]] >= limit and abs(g[2] - mu[g[1]]) < nsigmas * sigma[g[1]]]
        if kept:
            break
    weights = []
    for _row, cell, d, m in kept:
        pdf = math.exp(-0.5 * ((d - mu[cell]) / sigma[cell]) ** 2) / (sigma[cell] * math.sqrt(2 * math.pi))
        weights.append(density[cell] * norm[cell] * pdf * m)
    total = sum(weights)
    ranked = []
    for (row, _cell, d, _m), w in zip(kept, weights, strict=True):
        limit_mag = config.sensitivity_mag - 5 * math.log10(d * 1e5)
        luminosity = 4e33 * 10 ** (0.4 * (4.74 - limit_mag))
        factor = (config.maxl_erg_s - luminosity) / (config.maxl_erg_s - config.minl_erg_s)
        factor = min(max(factor, config.mindistfactor), 1.0)
        ranked.append((-(w / total) * factor, str(columns["objname"][row]), w / total))
    ranked.sort()
    return [(name, score) for _key, name, score in ranked[: config.ngalaxies]]


def catalog_around(sky: MultiOrderSkyMap, tmp_path, n: int = 20000, seed: int = 1):
    stats = skymap_statistics(sky)
    columns = synthetic_galaxies(n, seed=seed, clusters=[(stats.ra, stats.dec, stats.distance or 10.0, 400)])
    catalog = write_nedlvs_fits(tmp_path / "nedlvs.fits", columns)
    return columns, read_galaxy_config(write_galaxy_ini(tmp_path / "galaxies.ini", catalog, ngalaxies=200))


def names_and_scores(ranked, catalog):
    return [(e["name"], e["score"]) for e in ranked.entries(catalog)]


@pytest.mark.parametrize("name", ["S230518h-preliminary", "MS181101ab-preliminary", "MS181101ab-ext-update"])
def test_ranking_agrees_with_the_direct_evaluation(name, tmp_path):
    sky, _ = load_sky(sample(name))
    columns, config = catalog_around(sky, tmp_path)
    catalog = load_catalog(config.catalog_path)
    ours = names_and_scores(rank_galaxies(sky, catalog, config), catalog)
    reference = direct_ranking(sky, columns, config)
    assert len(ours) == len(reference) > 50
    assert [n for n, _ in ours] == [n for n, _ in reference]
    np.testing.assert_allclose([s for _, s in ours], [s for _, s in reference], rtol=1e-9)


def test_scores_of_all_kept_galaxies_sum_to_one_and_the_list_is_capped(tmp_path):
    sky, _ = load_sky(sample("S230518h-preliminary"))
    _, config = catalog_around(sky, tmp_path)
    catalog = load_catalog(config.catalog_path)
    everything = rank_galaxies(sky, catalog, replace(config, ngalaxies=10**9))
    assert everything.score.sum() == pytest.approx(1.0)
    assert len(rank_galaxies(sky, catalog, config).rows) == config.ngalaxies < everything.candidates


def test_a_map_without_distance_uses_the_documented_10_mpc_fallback(tmp_path):
    sky, _ = load_sky(sample("MS181101ab-preliminary"))
    flat = MultiOrderSkyMap(sky.uniq, sky.probdensity, {}, {k: v for k, v in sky.header.items() if k != "DISTMEAN"})
    columns, config = catalog_around(sky, tmp_path, seed=3)
    catalog = load_catalog(config.catalog_path)
    ranked = rank_galaxies(flat, catalog, config)
    assert ranked.used_distance_fallback
    assert np.all(catalog.distance_mpc[ranked.rows] < 40.0)  # within 3 sigma of 10 +- 10 Mpc
    ours, reference = names_and_scores(ranked, catalog), direct_ranking(flat, columns, config)
    assert [n for n, _ in ours] == [n for n, _ in reference]
    np.testing.assert_allclose([s for _, s in ours], [s for _, s in reference], rtol=1e-9)


def test_an_empty_zone_widens_to_99995_percent_and_5_sigma(tmp_path):
    sky, _ = load_sky(sample("MS181101ab-preliminary"))
    stats = skymap_statistics(sky)
    # A few galaxies 4 sigma-ish away in distance: none within 3 sigma of the 50% zone.
    columns = synthetic_galaxies(0, clusters=[(stats.ra, stats.dec, 4.0 * stats.distance, 30)], seed=5)
    config = read_galaxy_config(
        write_galaxy_ini(tmp_path / "g.ini", write_nedlvs_fits(tmp_path / "c.fits", columns), ngalaxies=50)
    )
    catalog = load_catalog(config.catalog_path)
    ranked = rank_galaxies(sky, catalog, config)
    assert ranked.credzone == 0.99995
    assert [n for n, _ in names_and_scores(ranked, catalog)] == [n for n, _ in direct_ranking(sky, columns, config)]


def test_the_index_is_cached_beside_the_catalog_memory_mapped_and_rebuilt_when_the_catalog_changes(tmp_path):
    sky, _ = load_sky(sample("S230518h-preliminary"))
    columns, config = catalog_around(sky, tmp_path, n=2000)
    first = load_catalog(config.catalog_path)
    index_dir = cache_dirs(config.catalog_path)[0]
    assert (index_dir / "meta.json").exists()
    again = load_catalog(config.catalog_path)
    assert isinstance(again.nest29, np.memmap) and len(again) == len(first)
    assert np.all(np.diff(again.nest29.astype(np.int64)) >= 0)
    write_nedlvs_fits(config.catalog_path, {k: v[:500] for k, v in columns.items()})
    assert len(load_catalog(config.catalog_path)) < 500


def test_a_catalog_directory_that_cannot_hold_the_index_caches_in_the_user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    sky, _ = load_sky(sample("S230518h-preliminary"))
    _, config = catalog_around(sky, tmp_path, n=1000)
    beside, user_cache = cache_dirs(config.catalog_path)
    # A file where the index directory would go blocks it even for root, unlike a read-only mode.
    beside.write_text("not a directory")
    catalog = load_catalog(config.catalog_path)
    assert len(catalog) > 0
    assert (user_cache / "meta.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["galaxies.ini", "nedlvs.fits", beside.name, "xdg"])


def test_glade_plus_text_gives_the_same_ranking_as_the_same_galaxies_in_ned_lvs_fits(tmp_path):
    sky, _ = load_sky(sample("S230518h-preliminary"))
    columns, config = catalog_around(sky, tmp_path, n=3000)
    lines = []
    for i in range(len(columns["ra"])):
        fields = ["null"] * 40
        fields[0], fields[2] = str(i), str(columns["objname"][i]).replace(" ", "_")
        fields[8], fields[9] = repr(float(columns["ra"][i])), repr(float(columns["dec"][i]))
        d, m = columns["DistMpc"][i], columns["Mstar"][i]
        fields[32] = "null" if np.isnan(d) else repr(float(d))
        fields[35] = "null" if np.isnan(m) else repr(float(m) / 1e10)
        lines.append(" ".join(fields))
    glade = tmp_path / "GLADE+.txt"
    glade.write_text("\n".join(lines) + "\n")
    from_fits = load_catalog(config.catalog_path)
    from_text = load_catalog(glade)
    a = names_and_scores(rank_galaxies(sky, from_fits, config), from_fits)
    b = names_and_scores(rank_galaxies(sky, from_text, replace(config, catalog_path=glade)), from_text)
    assert [n.replace(" ", "_") for n, _ in a] == [n for n, _ in b]
    np.testing.assert_allclose([s for _, s in a], [s for _, s in b], rtol=1e-9)


def test_configuration_errors_name_the_file_and_the_key(tmp_path):
    with pytest.raises(GalaxyConfigError, match="cannot read"):
        read_galaxy_config(tmp_path / "missing.ini")
    ini = tmp_path / "partial.ini"
    ini.write_text("[GALAXIES]\nCATALOG_PATH = x.fits\nCREDZONE = 0.5\n")
    with pytest.raises(GalaxyConfigError, match="lacks NSIGMAS_IN_D"):
        read_galaxy_config(ini)
    with pytest.raises(GalaxyCatalogError, match="does not exist"):
        load_catalog(tmp_path / "nope.fits")
    garbage = tmp_path / "garbage.fits"
    garbage.write_bytes(b"not a FITS file at all" * 10)
    with pytest.raises(GalaxyCatalogError, match="garbage.fits"):
        load_catalog(garbage)


@pytest.mark.slow
def test_galaxy_list_is_posted_once_per_record_after_it_and_an_operator_may_repost(settings, api_server, tmp_path):
    sky, _ = load_sky(sample("S230518h-preliminary"))
    _, config = catalog_around(sky, tmp_path, n=5000)
    settings = settings.model_copy(update={"path_to_galaxy_catalog_config": str(tmp_path / "galaxies.ini")})
    instance = DagsterInstance.ephemeral()
    results = ingest_files([sample("S230518h-preliminary")] * 2, settings, instance)
    assert all(r.success for r in results), [r.error for r in results]
    routes = [
        r.path for r in api_server.state.requests if r.method == "POST" and r.path in ("post_alert", "event_galaxies")
    ]
    assert routes == ["post_alert", "event_galaxies"]  # the second ingest posts nothing: nothing is new
    assert api_server.state.doi_requests == 1
    # An operator may ask for the list again: the group's list is replaced, and one more DOI requested.
    forced = materialize(
        LIGO_ASSETS,
        selection=["galaxy_list"],
        partition_key=results[0].partition_key,
        instance=instance,
        resources=build_resources(settings),
        run_config={"ops": {"galaxy_list": {"config": {"repost": True}}}},
    )
    assert forced.success
    calls = [(r.method, r.path) for r in api_server.state.posted("event_galaxies")]
    assert calls == [("POST", "event_galaxies"), ("DELETE", "remove_event_galaxies"), ("POST", "event_galaxies")]
    assert api_server.state.doi_requests == 2
    [held] = api_server.state.galaxy_lists
    assert held["graceid"] == "S230518h" and held["groupname"] == "LCOGT"
    galaxies = held["galaxies"]
    assert [g["rank"] for g in galaxies] == list(range(len(galaxies))) and len(galaxies) == config.ngalaxies
    catalog = load_catalog(config.catalog_path)
    assert [g["name"] for g in galaxies] == [
        n for n, _ in names_and_scores(rank_galaxies(sky, catalog, config), catalog)
    ]


def test_a_bad_galaxy_configuration_stops_the_code_location_from_loading(settings, tmp_path):
    ini = tmp_path / "galaxies.ini"
    write_galaxy_ini(ini, tmp_path / "missing-catalog.fits")
    with pytest.raises(ConfigurationError, match="missing-catalog.fits does not exist"):
        build_definitions(settings.model_copy(update={"path_to_galaxy_catalog_config": str(ini)}))
    with pytest.raises(ConfigurationError, match="cannot read"):
        build_definitions(settings.model_copy(update={"path_to_galaxy_catalog_config": str(tmp_path / "nope.ini")}))


def test_index_catalog_command_builds_the_index_once_and_names_bad_configuration(tmp_path, monkeypatch, capsys):
    from gwtm_assets.cli import main

    sky, _ = load_sky(sample("S230518h-preliminary"))
    _, config = catalog_around(sky, tmp_path, n=1500)
    ini = str(tmp_path / "galaxies.ini")
    index_dir = cache_dirs(config.catalog_path)[0]
    assert not index_dir.exists()
    assert main(["index-catalog", ini]) == 0
    built = capsys.readouterr().out
    assert f"indexed in {index_dir}" in built and (index_dir / "meta.json").exists()
    assert int(built.split()[0].replace(",", "")) == len(load_catalog(config.catalog_path))
    stamp = (index_dir / "meta.json").stat().st_mtime_ns
    monkeypatch.setenv("PATH_TO_GALAXY_CATALOG_CONFIG", ini)
    assert main(["index-catalog"]) == 0  # from the environment; the cached index is found, not rebuilt
    assert (index_dir / "meta.json").stat().st_mtime_ns == stamp

    monkeypatch.delenv("PATH_TO_GALAXY_CATALOG_CONFIG")
    assert main(["index-catalog"]) == 2
    assert "PATH_TO_GALAXY_CATALOG_CONFIG" in capsys.readouterr().err
    assert main(["index-catalog", str(tmp_path / "missing.ini")]) == 2
    assert "missing.ini" in capsys.readouterr().err
