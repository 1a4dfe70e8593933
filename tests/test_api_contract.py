"""Records the GWTM site can use, posted exactly once, against an API double that behaves as the real server does."""

import json

import pytest
import requests
from dagster import DagsterInstance

from gwtm_assets.cli import main
from gwtm_assets.ingest import ingest_files
from gwtm_assets.io.object_store import LocalObjectStore

from .conftest import ADMIN_TOKEN, TIME_ORDER, TIME_ORDER_NAMES, load_sky, sample
from .lossy_proxy import ReplyDroppingProxy
from .site_checks import assert_records_usable_by_the_site
from .test_galaxy_list import catalog_around


def _with_catalog(settings, tmp_path, name="S230518h-preliminary"):
    sky, _ = load_sky(sample(name))
    catalog_around(sky, tmp_path, n=3000)
    return settings.model_copy(update={"path_to_galaxy_catalog_config": str(tmp_path / "galaxies.ini")})


def _posts(api_server) -> list[str]:
    return [r.path for r in api_server.state.requests if r.method == "POST"]


@pytest.mark.slow
def test_every_record_carries_its_flat_map_key_and_the_site_opens_it(settings, api_server):
    results = ingest_files([sample(n) for n in TIME_ORDER], settings, DagsterInstance.ephemeral())
    assert [r.names for r in results] == TIME_ORDER_NAMES, [r.error for r in results]
    urls = {a["alert_type"] + "#" + str(a["id"]): a.get("skymap_fits_url") for a in api_server.state.alerts}
    assert sorted(u for u in urls.values() if u) == sorted(
        [f"test/{n}.fits.gz" for names in TIME_ORDER_NAMES[:5] for n in names.values()]
        + ["fit/S230518h-Preliminary.fits.gz"]
    )
    store = LocalObjectStore(settings.local_storage_dir)
    assert all(store.exists(u) for u in urls.values() if u)
    assert_records_usable_by_the_site(api_server)
    # Three samples share time_created; the site still shows the last one posted: the retraction.
    assert api_server.state.latest_alert("MS181101ab")["alert_type"] == "Retraction"


@pytest.mark.slow
def test_a_rerun_posts_nothing_when_nothing_is_new(settings, api_server, tmp_path):
    settings = _with_catalog(settings, tmp_path, "MS181101ab-preliminary")
    paths = [sample(n) for n in TIME_ORDER]
    first = ingest_files(paths, settings, DagsterInstance.ephemeral())
    assert all(r.ok for r in first), [r.line() for r in first]
    posts, dois = _posts(api_server), api_server.state.doi_requests
    assert dois == posts.count("event_galaxies") >= 5  # one list per newly posted record with a map
    again = ingest_files(paths, settings, DagsterInstance.ephemeral())
    assert [r.names for r in again] == TIME_ORDER_NAMES and all(r.ok for r in again)
    assert _posts(api_server) == posts, "a second ingest of the same notices posted again"
    assert api_server.state.doi_requests == dois


@pytest.mark.slow
def test_lost_replies_through_a_proxy_post_each_record_and_list_once(settings, api_server, tmp_path):
    settings = _with_catalog(settings, tmp_path, "MS181101ab-preliminary")
    with ReplyDroppingProxy(api_server.base, {"post_alert": 3, "event_galaxies": 2}) as proxy:
        results = ingest_files(
            [sample(n) for n in TIME_ORDER], settings.model_copy(update={"api_base": proxy.base}),
            DagsterInstance.ephemeral(),
        )  # fmt: skip
    assert proxy.dropped == ["post_alert", "event_galaxies", "post_alert", "event_galaxies", "post_alert"]
    assert [r.names for r in results] == TIME_ORDER_NAMES and all(r.ok for r in results), [r.line() for r in results]
    types = [a["alert_type"] for a in sorted(api_server.state.alerts, key=lambda a: a["id"])]
    assert types == [
        "EarlyWarning", "Preliminary", "Initial", "Update", "Update", "Update-ExtCoinc", "Retraction", "Preliminary"
    ]  # fmt: skip
    assert len(api_server.state.galaxy_lists) == 2  # the group's latest list of each event
    assert api_server.state.doi_requests == _posts(api_server).count("event_galaxies") == 6  # one per record with a map
    assert_records_usable_by_the_site(api_server)


def test_the_doubles_own_lost_reply_mode_commits_then_closes(settings, api_server):
    api_server.drop_reply_after_commit("post_alert", 2)
    [result] = ingest_files([sample("S230518h-preliminary")], settings, DagsterInstance.ephemeral())
    assert result.ok and result.names == {"gw": "S230518h-Preliminary"}
    assert len(api_server.state.alerts) == 1


def test_a_mock_event_of_any_date_succeeds_and_is_deleted_after_its_galaxy_list(settings, api_server, tmp_path):
    raw = sample("MS181101ab-preliminary").read_bytes().replace(b"MS181101ab", b"MS230101b")
    path = tmp_path / "MS230101b.json"
    path.write_bytes(raw)
    settings = _with_catalog(settings, tmp_path, "MS181101ab-preliminary")
    [result] = ingest_files([path], settings, DagsterInstance.ephemeral())
    assert result.ok, result.line()
    order = [p for p in _posts(api_server)]
    assert order == ["post_alert", "event_galaxies", "del_test_alerts"]
    assert api_server.state.doi_requests == 1
    assert api_server.state.alerts == []  # the server deleted the old mock event afterwards, as expected
    store = LocalObjectStore(settings.local_storage_dir)
    assert [o.key for o in store.list("test/MS230101b")] == ["test/MS230101b-Preliminary_alert.json"]


def test_ingest_names_the_failed_step_with_the_servers_message_and_exits_1(settings, api_server, monkeypatch, capsys):
    for name, value in {
        "API_BASE": api_server.base, "API_TOKEN": "not-an-admin", "STORAGE_BUCKET_SOURCE": "local",
        "LOCAL_STORAGE_DIR": settings.local_storage_dir,
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    assert main(["ingest", str(sample("S230518h-preliminary"))]) == 1
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("FAILED") and "api_record" in line
    assert "query_alerts: HTTP 401" in line and "invalid or missing api_token" in line
    assert "not-an-admin" not in line


def test_ingest_names_a_failed_check_and_its_values(settings, api_server, monkeypatch, capsys):
    from gwtm_assets.assets import checks

    monkeypatch.setattr(checks, "PROBABILITY_TOLERANCE", -1.0)  # make the correct contours "fail"
    for name, value in {
        "API_BASE": api_server.base, "API_TOKEN": ADMIN_TOKEN, "STORAGE_BUCKET_SOURCE": "local",
        "LOCAL_STORAGE_DIR": settings.local_storage_dir,
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    assert main(["ingest", str(sample("S230518h-preliminary"))]) == 1
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("CHECK FAILED S230518h Preliminary S230518h-Preliminary")
    assert "contours_enclose_their_probability" in line
    assert json.loads(line.split("contours_enclose_their_probability ", 1)[1])


def test_api_base_defaults_and_examples_name_v1():
    from gwtm_assets.settings import GWTMSettings

    assert "/api/v1/" in GWTMSettings.model_fields["api_base"].description
    with pytest.raises(requests.ConnectionError):
        requests.get("http://127.0.0.1:9/api/v1/query_alerts", timeout=1)
