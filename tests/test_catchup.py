"""``gwtm-cron catch-up`` through ligo-gracedb against a GraceDB double: every version of every notice, in time
order, landed once, posted once, late notices kept behind their event's newer records on the site."""

import json
from datetime import datetime
from pathlib import Path

import pytest

from gwtm_assets.catchup import gracedb_client, notice_file_names
from gwtm_assets.cli import main
from gwtm_assets.ingest import ingest_files

from .conftest import ADMIN_TOKEN, sample
from .gracedb_server import GraceDBTestServer

#: The MS181101ab samples as GWCelery would upload them; the ext-coinc Update is the second version of the Update.
UPLOADS = [
    ("MS181101ab-earlywarning.json", "MS181101ab-earlywarning"),
    ("MS181101ab-preliminary.json", "MS181101ab-preliminary"),
    ("MS181101ab-initial.json", "MS181101ab-initial"),
    ("MS181101ab-update.json", "MS181101ab-update"),
    ("MS181101ab-update.json", "MS181101ab-ext-update"),
]
RANKS = {"EarlyWarning": 0, "Preliminary": 1, "Initial": 2, "Update": 3}


@pytest.fixture
def gracedb(monkeypatch):
    with GraceDBTestServer() as server:
        server.add_superevent("MS181101ab", datetime(2026, 11, 28, 10, 0))
        server.add_superevent("S230518h", datetime(2026, 11, 29, 12, 0))
        for name, sample_name in UPLOADS:
            server.upload("MS181101ab", name, sample(sample_name).read_bytes())
        server.upload("MS181101ab", "bayestar.multiorder.fits", b"not a notice file")
        server.upload("S230518h", "S230518h-preliminary.json", sample("S230518h-preliminary").read_bytes())
        monkeypatch.setenv("GRACEDB_URL", server.url)
        monkeypatch.setenv("GRACEDB_TIMEOUT_S", "2")
        yield server


@pytest.fixture
def environment(settings, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    for name, value in {
        "API_BASE": settings.api_base, "API_TOKEN": ADMIN_TOKEN, "STORAGE_BUCKET_SOURCE": "local",
        "LOCAL_STORAGE_DIR": settings.local_storage_dir,
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    return settings


def test_every_version_of_a_notice_file_is_taken_and_the_bare_alias_only_without_versions():
    listing = {
        "MS181101ab-update.json": "u", "MS181101ab-update.json,0": "u", "MS181101ab-update.json,1": "u",
        "MS181101ab-preliminary.json": "u", "bayestar.multiorder.fits,0": "u", "S230518h-initial.json,0": "u",
        "MS181101ab-Initial.json,0": "u", "MS181101ab-update.json.bak": "u",
    }  # fmt: skip
    assert notice_file_names(listing, "MS181101ab") == [
        "MS181101ab-Initial.json,0",
        "MS181101ab-preliminary.json",
        "MS181101ab-update.json,0",
        "MS181101ab-update.json,1",
    ]


@pytest.mark.slow
def test_catch_up_lands_every_notice_once_in_time_order_and_a_second_catch_up_posts_nothing(
    gracedb, environment, api_server, capsys
):
    assert main(["catch-up", "MS181101ab", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("MS181101ab: 5 notice(s): MS181101ab-earlywarning.json,0, ")
    assert out.count("would land as") == 5 and not api_server.state.posted("post_alert")

    assert main(["catch-up", "MS181101ab", "S230518h"]) == 0
    out = capsys.readouterr().out
    posted = api_server.state.posted("post_alert")
    by_event = [(p.body["graceid"], p.body["alert_type"]) for p in posted]
    assert by_event == [
        ("MS181101ab", "EarlyWarning"), ("MS181101ab", "Preliminary"), ("MS181101ab", "Initial"),
        ("MS181101ab", "Update"), ("MS181101ab", "Update"), ("MS181101ab", "Update-ExtCoinc"),
        ("S230518h", "Preliminary"),
    ], out  # fmt: skip
    alerts = api_server.state.alerts
    assert len(alerts) == len(posted)

    # Taken again: everything is landed, nothing runs, nothing is posted.
    assert main(["catch-up", "MS181101ab", "S230518h"]) == 0
    out = capsys.readouterr().out
    assert out.count("already landed as") == 6 and len(api_server.state.posted("post_alert")) == len(posted)


@pytest.mark.slow
def test_a_late_notice_takes_its_place_before_the_newer_records_of_its_event(gracedb, environment, api_server, capsys):
    # Kafka brought the Update while we missed the notices before it; GraceDB has them all.
    [live] = ingest_files([sample("MS181101ab-update")])
    assert live.ok, live.error
    live_created = datetime.fromisoformat(api_server.state.latest_alert("MS181101ab")["datecreated"])

    assert main(["catch-up", "MS181101ab"]) == 0
    out = capsys.readouterr().out
    assert out.count("already landed as") == 1, out

    records = sorted(
        (a for a in api_server.state.alerts if a["graceid"] == "MS181101ab"),
        key=lambda a: datetime.fromisoformat(a["datecreated"]),
    )
    ranks = [RANKS[a["alert_type"].split("-")[0]] for a in records]
    assert ranks == sorted(ranks) == [0, 1, 2, 3, 3, 3], [a["alert_type"] for a in records]
    stamps = [a["datecreated"] for a in records]
    assert len(set(stamps)) == len(stamps)
    assert all(datetime.fromisoformat(a["datecreated"]) < live_created for a in records[:3])
    # The site's face of the event is its newest notice (the ext-coinc Update, made with the Update), not an old map.
    latest = api_server.state.latest_alert("MS181101ab")
    assert latest["alert_type"].startswith("Update") and datetime.fromisoformat(latest["datecreated"]) > live_created
    # Names do not collide with the record already there: the live Update keeps its name, the late ones count on.
    ledgers = (Path(environment.local_storage_dir) / "test" / "ledger").glob("MS181101ab-*.json")
    names = [entry["name"] for path in ledgers for entry in json.loads(path.read_text()).values()]
    assert sorted(names) == sorted([
        "MS181101ab-EarlyWarning", "MS181101ab-Preliminary", "MS181101ab-Initial", "MS181101ab-Update",
        "MS181101ab-Update1", "MS181101ab-Update-ExtCoinc",
    ])  # fmt: skip


def test_since_takes_the_superevents_created_since_without_mock_events(gracedb, environment, api_server, capsys):
    assert main(["catch-up", "--since", "2026-11-28T12:00", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "GraceDB: 1 superevent(s) created since 2026-11-28T12:00:00"
    assert lines[1].startswith("S230518h: 1 notice(s)")
    assert main(["catch-up", "--since", "2026-11-28T00:00", "--include-mock", "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("GraceDB: 2 superevent(s)")


@pytest.mark.slow
def test_a_busy_gracedb_is_retried_and_an_unknown_superevent_is_one_line_and_exit_1(
    gracedb, environment, api_server, capsys
):
    gracedb.unavailable(3)  # transient 503s with Retry-After
    gracedb.stall(1, 4.0)  # an answer slower than GRACEDB_TIMEOUT_S
    assert main(["catch-up", "S999999zz", "S230518h", "--dry-run"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (f"S999999zz: S999999zz is not a (public) superevent at {gracedb.url} (GRACEDB_URL)")
    assert out[1].startswith("S230518h: 1 notice(s)") and "would land as S230518h-Preliminary-" in out[2]
    assert gracedb.state.answered.get(503, 0) == 3
    gracedb.state.rate_limit = 2  # 429 with Retry-After past two requests a second: waited out, nothing lost
    assert main(["catch-up", "MS181101ab", "--dry-run"]) == 0
    assert capsys.readouterr().out.count("would land as") == 5 and gracedb.state.answered.get(429, 0) >= 1


def test_gracedb_down_for_good_names_the_cause_and_the_setting(environment, monkeypatch, capsys):
    monkeypatch.setenv("GRACEDB_URL", "http://127.0.0.1:9/api/")
    monkeypatch.setenv("GRACEDB_TIMEOUT_S", "1")
    assert main(["catch-up", "--since", "2026-11-28"]) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("gwtm-cron catch-up: GraceDB superevent query") and line.endswith("(GRACEDB_URL)")


def test_the_client_is_ligo_gracedb_unauthenticated(gracedb):
    client = gracedb_client(gracedb.url)
    assert client.files("MS181101ab").json()["MS181101ab-update.json,1"].endswith("MS181101ab-update.json%2C1")
    assert [s["superevent_id"] for s in client.superevents(query="S230518h")] == ["S230518h"]


def test_the_same_notice_in_other_bytes_is_found_landed_and_another_notice_is_not(tmp_path):
    from gwtm_assets.io.object_store import LocalObjectStore
    from gwtm_assets.notices.history import land, landed_as, parse_notice
    from gwtm_assets.storage_keys import incoming_notice_key

    store = LocalObjectStore(tmp_path)
    raw = sample("MS181101ab-update").read_bytes()
    _, as_streamed = parse_notice(raw)
    land(store, as_streamed)
    _, as_archived = parse_notice(json.dumps(json.loads(raw), indent=2).encode())  # GraceDB's copy, other bytes
    assert as_archived.partition_key == as_streamed.partition_key  # the key is the content's
    assert landed_as(store, as_archived) == as_streamed.partition_key
    _, other_update = parse_notice(sample("MS181101ab-ext-update").read_bytes())  # same event and type, other content
    assert landed_as(store, other_update) is None

    # A partition made before keys were the content's: found under its old key (the raw bytes' digest).
    old = LocalObjectStore(tmp_path / "old")
    old.put(incoming_notice_key(as_streamed.legacy_partition_key), raw)
    assert as_streamed.legacy_partition_key != as_streamed.partition_key
    assert landed_as(old, as_archived) == as_streamed.legacy_partition_key
    assert as_archived.is_partition(as_streamed.legacy_partition_key) is False  # other bytes, other old key
    assert as_streamed.is_partition(as_streamed.legacy_partition_key)
