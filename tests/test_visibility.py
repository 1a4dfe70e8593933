"""The ``visibility`` asset and the Fermi ephemeris resource, offline, with element sets and FT2 files the tests build."""

import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.time import Time
from dagster import AssetKey, DagsterEventType, DagsterInstance
from mocpy import MOC

from gwtm_assets.assets.visibility import gbm_visibility, lat_visibility
from gwtm_assets.ingest import ingest_files
from gwtm_assets.io.object_store import LocalObjectStore
from gwtm_assets.resources.fermi import FermiEphemerisResource, fermi_met
from gwtm_assets.science.moc import moc_area_deg2
from gwtm_assets.science.saa import gbm_saa_boundary
from gwtm_assets.science.visibility import (
    parse_element_sets,
    spacecraft_position_gcrs_km,
    subsatellite_point_deg,
)

from .conftest import SAMPLES, sample
from .fermi_fixtures import element_set_at_epoch, write_ft2

FERMI_TLE = SAMPLES / "fermi" / "fermi-2017-08-17.tle"
GW170817 = datetime(2017, 8, 17, 12, 41, 4, 400000, tzinfo=UTC)
S230518H = datetime(2023, 5, 18, 12, 59, 8, 167000, tzinfo=UTC)
MS181101AB = datetime(2018, 11, 1, 22, 22, 46, 654000, tzinfo=UTC)
LAT_CAP_DEG2 = 2 * np.pi * (1 - np.cos(np.radians(65))) * np.degrees(1) ** 2


def real_element_set():
    return parse_element_sets(FERMI_TLE.read_text())[0]


def write_element_sets(path: Path, epochs: list[datetime]) -> Path:
    real = real_element_set()
    lines = []
    for epoch in epochs:
        lines += ["FERMI", *element_set_at_epoch(real.line1, real.line2, epoch)]
    path.write_text("\n".join(lines) + "\n")
    return path


def moc_of(data: bytes) -> MOC:
    return MOC.from_json(json.loads(data))


def test_element_sets_from_a_directory_nearest_epoch_wins_and_old_ones_are_refused(tmp_path, caplog):
    sets = tmp_path / "tle"
    sets.mkdir()
    write_element_sets(sets / "a.tle", [S230518H - timedelta(days=3), S230518H + timedelta(hours=5)])
    write_element_sets(sets / "b.txt", [S230518H - timedelta(hours=20)])
    fermi = FermiEphemerisResource(tle_source=str(sets), cache_dir=str(tmp_path / "cache"))
    chosen = fermi.element_set(S230518H)
    assert chosen is not None and abs(chosen.epoch - (S230518H + timedelta(hours=5))) < timedelta(seconds=1)
    with caplog.at_level(logging.WARNING):
        assert fermi.element_set(S230518H + timedelta(days=30)) is None
    assert "not used" in caplog.text


def test_element_sets_fetched_from_a_url_are_cached_and_an_unreachable_url_falls_back_to_the_cache(tmp_path, caplog):
    served = tmp_path / "served"
    served.mkdir()
    write_element_sets(served / "gp.tle", [S230518H])
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cache = tmp_path / "cache"
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/gp.tle"
        assert FermiEphemerisResource(tle_source=url, cache_dir=str(cache)).element_set(S230518H) is not None
    finally:
        server.shutdown()
        server.server_close()
    assert len(list((cache / "tle").glob("*.tle"))) == 1
    # The server is gone: the cached set still answers, with no new fetch (it is fresh).
    again = FermiEphemerisResource(tle_source=url, cache_dir=str(cache), fetch_interval_s=0)
    assert again.element_set(S230518H) is not None
    # A signal the cache cannot serve tries the (dead) URL, logs, and returns None instead of raising.
    with caplog.at_level(logging.WARNING):
        assert again.element_set(S230518H + timedelta(days=60)) is None
    assert "cannot fetch" in caplog.text and "not used" in caplog.text


def test_ft2_pointing_the_saa_flag_and_times_no_file_covers(tmp_path, caplog):
    ft2 = tmp_path / "ft2"
    ft2.mkdir()
    met = fermi_met(S230518H)
    write_ft2(ft2 / "ft2_a.fits", met - 600, met + 600, 123.4, -45.6)
    write_ft2(ft2 / "ft2_saa.fits", met + 600, met + 1200, 10.0, 20.0, in_saa=True)
    (ft2 / "broken.fits").write_bytes(b"SIMPLE  = garbage")
    fermi = FermiEphemerisResource(ft2_source=str(ft2), cache_dir=str(tmp_path / "cache"))
    pointing = fermi.pointing(S230518H)
    assert (pointing.ra_deg, pointing.dec_deg, pointing.in_saa) == (pytest.approx(123.4), pytest.approx(-45.6), False)
    assert fermi.pointing(S230518H + timedelta(seconds=900)).in_saa
    with caplog.at_level(logging.WARNING):
        assert fermi.pointing(S230518H + timedelta(days=1)) is None
        assert FermiEphemerisResource(cache_dir=str(tmp_path / "c2")).pointing(S230518H) is None
    assert "no FT2 interval covers" in caplog.text and "FERMI_FT2_SOURCE is not set" in caplog.text


def test_fermi_met_matches_the_mission_definition():
    # GRB 170817A triggered GBM at 2017-08-17T12:41:06.47 UTC; its trigger number is the integer MET, 524666471
    # (the gcn_notice_id of the sample ext-coinc notice). Five leap seconds fell in between: they count.
    met = fermi_met(datetime(2017, 8, 17, 12, 41, 6, 470000, tzinfo=UTC))
    assert int(met) == 524666471 and met == pytest.approx(524666471.47, abs=0.01)


def test_gbm_was_on_at_gw170817_and_is_off_in_the_south_atlantic_anomaly(tmp_path):
    fermi = FermiEphemerisResource(tle_source=str(FERMI_TLE), cache_dir=str(tmp_path))
    moc, info = gbm_visibility(GW170817, fermi)
    assert info["gbm"] == "on" and 66.5 < info["earth_radius_deg"] < 68.0
    assert info["saa_boundary"] == "GBM SAA polygon 5"
    assert moc_of(json.dumps(moc).encode()).contains_lonlat(197.45 * u.deg, -23.38 * u.deg)[0]  # NGC 4993
    # Find a moment, within the orbit the element set describes, when Fermi flew over the SAA.
    real = real_element_set()
    minutes = [GW170817 + timedelta(minutes=m) for m in range(0, 24 * 60, 2)]
    inside = next(
        t
        for t in minutes
        if gbm_saa_boundary(fermi_met(t)).contains(
            *subsatellite_point_deg(spacecraft_position_gcrs_km(real.line1, real.line2, Time(t)), Time(t))
        )
    )
    moc, info = gbm_visibility(inside, fermi)
    assert info["gbm"] == "in the SAA: off"
    assert moc_area_deg2(moc_of(json.dumps(moc).encode())) == 0


def test_lat_is_a_cone_around_the_ft2_pointing_and_empty_in_the_saa(tmp_path):
    met = fermi_met(S230518H)
    write_ft2(tmp_path / "on.fits", met - 60, met + 60, 200.0, 30.0)
    fermi = FermiEphemerisResource(ft2_source=str(tmp_path / "on.fits"), cache_dir=str(tmp_path / "cache"))
    moc, info = lat_visibility(S230518H, fermi)
    fov = moc_of(json.dumps(moc).encode())
    assert info["lat"] == "on" and moc_area_deg2(fov) == pytest.approx(LAT_CAP_DEG2, rel=0.01)
    assert fov.contains_lonlat(200.0 * u.deg, 30.0 * u.deg)[0]
    assert not fov.contains_lonlat(20.0 * u.deg, -30.0 * u.deg)[0]
    write_ft2(tmp_path / "on.fits", met - 60, met + 60, 200.0, 30.0, in_saa=True)
    moc, info = lat_visibility(S230518H, fermi)
    assert info["lat"] == "in the SAA: off" and moc_area_deg2(moc_of(json.dumps(moc).encode())) == 0


@pytest.fixture
def fermi_inputs(tmp_path, monkeypatch):
    """Element sets and FT2 files covering the two sample events, as a local directory source each."""
    tle, ft2 = tmp_path / "fermi-tle", tmp_path / "fermi-ft2"
    tle.mkdir()
    ft2.mkdir()
    write_element_sets(tle / "fermi.tle", [S230518H - timedelta(hours=6), MS181101AB - timedelta(hours=6)])
    for when, (ra, dec) in ((S230518H, (200.0, 30.0)), (MS181101AB, (80.0, -10.0))):
        write_ft2(ft2 / f"ft2_{when:%Y%m%d}.fits", fermi_met(when) - 3600, fermi_met(when) + 3600, ra, dec)
    return tle, ft2


@pytest.mark.slow
def test_visibility_is_stored_once_per_event_beside_the_alert_products(settings, fermi_inputs):
    tle, ft2 = fermi_inputs
    settings = settings.model_copy(update={"fermi_tle_source": str(tle), "fermi_ft2_source": str(ft2)})
    store = LocalObjectStore(settings.local_storage_dir)
    instance = DagsterInstance.ephemeral()
    first = ingest_files([sample("S230518h-preliminary"), sample("MS181101ab-preliminary")], settings, instance)
    assert all(r.success for r in first), [r.error for r in first]
    gbm = moc_of(store.get("fit/S230518h-Fermi.json"))
    assert 4 * np.pi * np.degrees(1) ** 2 * 0.6 < moc_area_deg2(gbm) < 4 * np.pi * np.degrees(1) ** 2 * 0.75
    lat = moc_of(store.get("fit/S230518h-LAT.json"))
    assert lat.contains_lonlat(200.0 * u.deg, 30.0 * u.deg)[0]
    assert moc_of(store.get("test/MS181101ab-LAT.json")).contains_lonlat(80.0 * u.deg, -10.0 * u.deg)[0]
    # A later notice of the event keeps the stored files, even if the inputs changed meanwhile.
    stored = store.get("test/MS181101ab-LAT.json")
    write_ft2(ft2 / "ft2_20181101.fits", fermi_met(MS181101AB) - 3600, fermi_met(MS181101AB) + 3600, 300.0, 60.0)
    later = ingest_files([sample("MS181101ab-update")], settings, instance)
    assert later[0].success
    assert store.get("test/MS181101ab-LAT.json") == stored
    materialization = instance.get_latest_materialization_event(AssetKey("visibility")).asset_materialization
    assert materialization.partition == later[0].partition_key
    assert materialization.metadata["kept_existing"].value == ["test/MS181101ab-Fermi.json", "test/MS181101ab-LAT.json"]


def test_coverage_and_galaxies_wait_for_the_alert_record_in_the_run(settings, fermi_inputs):
    tle, ft2 = fermi_inputs
    settings = settings.model_copy(update={"fermi_tle_source": str(tle), "fermi_ft2_source": str(ft2)})
    instance = DagsterInstance.ephemeral()
    [result] = ingest_files([sample("S230518h-preliminary")], settings, instance)
    assert result.success
    [run] = instance.get_runs()
    started = [
        event.step_key for event in instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_START) if event.step_key
    ]
    assert started.index("api_record") < started.index("visibility")
    assert started.index("api_record") < started.index("galaxy_list")


def test_missing_fermi_inputs_skip_the_products_and_never_fail_the_partition(settings, caplog):
    settings = settings.model_copy(update={"fermi_tle_source": str(SAMPLES / "fermi"), "fermi_ft2_source": ""})
    with caplog.at_level(logging.WARNING):
        results = ingest_files([sample("S230518h-preliminary")], settings, DagsterInstance.ephemeral())
    assert results[0].success
    store = LocalObjectStore(settings.local_storage_dir)
    assert not store.exists("fit/S230518h-Fermi.json") and not store.exists("fit/S230518h-LAT.json")
    assert store.exists("fit/S230518h-Preliminary.fits.gz")
