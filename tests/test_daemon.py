"""The listeners as operators run them: a real broker (Tansu), the daemon as deployed (``gwtm-cron daemon``), the API double.

Each test publishes real sample notices and checks the effects the users see:
every record posted exactly once with its contract name, every product
written, nothing lost across a killed daemon or an API outage.
"""

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dagster import DagsterRunStatus
from dagster._daemon.monitoring import RESUME_RUN_LOG_MESSAGE

from gwtm_assets.devtools.daemon import REPO, DagsterDaemon, engine_messages, wait_for
from gwtm_assets.devtools.tansu import TansuBroker
from gwtm_assets.io.object_store import LocalObjectStore
from gwtm_assets.notices.ligo import parse_ligo_notice
from gwtm_assets.run_tags import PRODUCTS_STAGE, REPLAY_TAG, STAGE_TAG

from .conftest import ADMIN_TOKEN, ICECUBE_SAMPLES, TIME_ORDER, sample
from .gracedb_server import GraceDBTestServer
from .site_checks import assert_records_usable_by_the_site


def parse_icecube_key(ref: str) -> str:
    from gwtm_assets.notices.icecube import parse_icecube_notice

    return next(parse_icecube_notice(p.read_bytes()).partition_key for p in ICECUBE_SAMPLES if ref in p.name)


pytestmark = pytest.mark.timeout(900)

#: Alert records of the LIGO samples in TIME_ORDER, per event in posting order, one per sky map (the ext-update carries two).
EXPECTED_ALERT_TYPES = {
    "MS181101ab": ["EarlyWarning", "Preliminary", "Initial", "Update", "Update", "Update-ExtCoinc", "Retraction"],
    "S230518h": ["Preliminary"],
}
EXPECTED_RECORDS = sum(len(types) for types in EXPECTED_ALERT_TYPES.values())
LIGO_ASSETS = ("raw_alert", "skymap", "api_record", "alert_files", "contours", "moc")
#: Every product of each named record (products.md); the retraction has only its raw notice.
PRODUCT_SUFFIXES = ("_alert.json", ".fits.gz", "_moc.fits.gz", "-contours-smooth.json", "-moc50.fits", "-moc90.fits")


@pytest.fixture(scope="module")
def broker():
    broker = TansuBroker()
    yield broker
    broker.stop()


POOL_TOKEN = "daemon-test-pool-token"


@pytest.fixture
def stream(broker, api_server, tmp_path, request, monkeypatch):
    """Fresh topics, storage and DAGSTER_HOME; yields (daemon, ligo topic, icecube topic)."""
    name = request.node.name.replace("test_", "")[:40]
    ligo_topic, icecube_topic = f"gw.{name}", f"ic.{name}"
    broker.create_topic(ligo_topic)
    broker.create_topic(icecube_topic)
    api_server.state.storage = LocalObjectStore(tmp_path / "storage")  # where the site opens the maps
    daemon = DagsterDaemon(
        tmp_path / "dagster_home",
        {
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
            "KAFKA_OFFSET_RESET": "earliest",
            "KAFKA_GROUP_ID": f"gwtm-{name}",
            "KAFKA_LIGO_TOPIC": ligo_topic,
            "KAFKA_ICECUBE_TOPIC": icecube_topic,
            "API_BASE": api_server.base,
            "API_TOKEN": ADMIN_TOKEN,
            "STORAGE_BUCKET_SOURCE": "local",
            "LOCAL_STORAGE_DIR": str(tmp_path / "storage"),
            "DRY_RUN": "false",
            "WRITE_TO_STORAGE": "true",
            # The pool refuses requests without it: the runs reaching warm workers show the launcher carries it.
            "RUN_WORKERS_TOKEN": POOL_TOKEN,
        },
    )
    # This process's launcher too (it terminates runs, as the webserver does): as deployed, every process has it.
    monkeypatch.setenv("RUN_WORKERS_TOKEN", POOL_TOKEN)
    yield daemon, ligo_topic, icecube_topic
    daemon.stop_group()


def ligo_notices() -> list[bytes]:
    return [sample(name).read_bytes() for name in TIME_ORDER]


def alert_types(api_server) -> dict[str, list[str]]:
    """Posted alert types per event, in posting order (events run side by side, so only per-event order is fixed)."""
    types: dict[str, list[str]] = {}
    for request in api_server.state.posted("post_alert"):
        types.setdefault(request.body["graceid"], []).append(request.body["alert_type"])
    return types


def records_posted(api_server) -> int:
    return len(api_server.state.posted("post_alert"))


def assert_products_complete(daemon: DagsterDaemon) -> None:
    store = LocalObjectStore(daemon.env["LOCAL_STORAGE_DIR"])
    for name in ("MS181101ab-EarlyWarning", "MS181101ab-Preliminary", "MS181101ab-Initial", "MS181101ab-Update",
                 "MS181101ab-Update1", "MS181101ab-Update-ExtCoinc"):  # fmt: skip
        for suffix in PRODUCT_SUFFIXES:
            if not (
                name.endswith("ExtCoinc") and suffix == "_alert.json"
            ):  # the raw notice is stored once, under the GW name
                assert store.exists(f"test/{name}{suffix}"), f"test/{name}{suffix}"
    assert store.exists("test/MS181101ab-Retraction_alert.json")
    for suffix in PRODUCT_SUFFIXES:
        assert store.exists(f"fit/S230518h-Preliminary{suffix}")


def test_every_notice_materialized_once_garbage_quarantined_and_sigterm_is_clean(stream, broker, api_server):
    daemon, ligo_topic, icecube_topic = stream
    daemon.start()
    notices = ligo_notices()
    broker.produce(ligo_topic, [*notices[:2], b'{"superevent_id": "MS181101ab", "oops": true}', *notices[2:]])
    broker.produce(icecube_topic, [p.read_bytes() for p in ICECUBE_SAMPLES])

    wait_for(lambda: records_posted(api_server) >= EXPECTED_RECORDS and len(api_server.state.posted("post_icecube_notice")) >= 2,
             360, "every record posted")  # fmt: skip
    wait_for(daemon.idle, 120, "all runs finished")
    assert alert_types(api_server) == EXPECTED_ALERT_TYPES
    assert len(api_server.state.posted("post_icecube_notice")) == 2
    keys = sorted(parse_ligo_notice(raw).partition_key for raw in notices)
    for asset in ("incoming_gw_notice", *LIGO_ASSETS):  # the landing too: the UI shows the source filled
        assert sorted(daemon.materialized_partitions(asset)) == keys, asset
    assert len(daemon.materialized_partitions("icecube_record")) == 2
    assert {r.status for r in daemon.runs()} == {DagsterRunStatus.SUCCESS}, daemon.failed_runs()
    assert_products_complete(daemon)
    assert_records_usable_by_the_site(api_server)

    store = LocalObjectStore(daemon.env["LOCAL_STORAGE_DIR"])
    quarantined = [o.key for o in store.list("fit/quarantine/")]
    assert len(quarantined) == 2, quarantined
    reason = store.get(next(k for k in quarantined if k.endswith(".reason.txt"))).decode()
    assert f"{ligo_topic}[0]@2" in reason

    # Replay all of it through the running daemon: every partition re-run in time order, nothing posted again.
    cli = Path(sys.executable).parent / "gwtm-cron"
    launched = subprocess.run([str(cli), "replay", "--launch", "--workspace", str(REPO / "workspace.yaml")],
                              env=daemon.env, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert launched.returncode == 0, launched.stderr[-2000:]

    def replayed() -> list:
        return [r for r in daemon.runs(DagsterRunStatus.SUCCESS) if REPLAY_TAG in r.tags]

    # The API's del_test_alerts swept the files of the mock IceCube event MS230427r (not named for today +-1 day)
    # from test/, its landed notice too, as the real server does: every notice still stored is replayed.
    assert not store.exists(f"test/incoming/{parse_icecube_key('MS230427r')}.json")
    wait_for(lambda: len(replayed()) == len(notices) + 1, 300, "every stored notice replayed")
    wait_for(daemon.idle, 120, "the replay runs to finish")
    assert {r.status for r in daemon.runs()} == {DagsterRunStatus.SUCCESS}, daemon.failed_runs()
    assert alert_types(api_server) == EXPECTED_ALERT_TYPES
    # IceCube notices are re-sent; the API keeps one per reference ("event already exists").
    assert len(api_server.state.icecube_notices) == 2

    assert daemon.terminate(timeout_s=60) == 0, daemon.log()[-3000:]


def test_daemon_killed_while_a_record_is_posted_loses_nothing_posts_nothing_twice_and_keeps_the_order(
    stream, broker, api_server
):
    """Killed (daemon, pool, workers) while the event's second record is on its way: after the restart run monitoring
    resumes that run in place, so it posts before the event's later notices, which queued behind it meanwhile. A
    fresh run (Dagster's run retries) would queue behind them and post the Preliminary after the Retraction."""
    daemon, ligo_topic, _ = stream
    # The Preliminary's post: stalls, and is cut off unstored after the kill.
    api_server.cut_post("post_alert", 20, graceid="MS181101ab", alert_type="Preliminary")
    daemon.start()
    broker.produce(ligo_topic, ligo_notices())
    wait_for(lambda: api_server.posts_cut("post_alert"), 240, "the second record on its way")
    # Not while another run (S230518h's, its own lane; a products run) is being launched: a run the daemon dies
    # launching has no worker to check and waits out Dagster's start timeout (README, "Faults"), then is retried
    # whole. The post stalls 20 s meanwhile.
    daemon.kill_when_no_run_is_being_launched()
    assert alert_types(api_server).get("MS181101ab") == ["EarlyWarning"]

    daemon.start()
    wait_for(lambda: records_posted(api_server) >= EXPECTED_RECORDS, 420, "every record posted after the restart")
    wait_for(daemon.idle, 240, "all runs finished")
    assert alert_types(api_server) == EXPECTED_ALERT_TYPES
    assert_products_complete(daemon)
    keys = {parse_ligo_notice(raw).partition_key for raw in ligo_notices()}
    assert set(daemon.materialized_partitions("moc")) == keys
    # Resumed, not failed and run again: one run per notice and stage, each a success.
    assert {r.status for r in daemon.runs()} == {DagsterRunStatus.SUCCESS}, daemon.failed_runs()
    assert not [r for r in daemon.runs() if "dagster/parent_run_id" in r.tags]
    resumed = [r for r in daemon.runs() if RESUME_RUN_LOG_MESSAGE in engine_messages(daemon.instance, r.run_id)]
    records_resumed = [r.tags["dagster/partition"] for r in resumed if r.tags.get(STAGE_TAG) != PRODUCTS_STAGE]
    # (S230518h's may be too: its own lane, killed before or after its steps finished)
    assert "MS181101ab-Preliminary" in {key.rsplit("-", 1)[0] for key in records_resumed}, records_resumed


def test_api_outage_delays_records_but_loses_none(stream, broker, api_server):
    daemon, ligo_topic, _ = stream
    api_server.outage(40)
    api_server.drop_reply_after_commit("post_alert", 2)  # and two replies lost once it is back: still once each
    daemon.start()
    broker.produce(ligo_topic, ligo_notices()[:3])
    wait_for(lambda: records_posted(api_server) >= 3, 420, "records posted once the API is back")
    wait_for(daemon.idle, 120, "all runs finished")
    assert alert_types(api_server) == {"MS181101ab": EXPECTED_ALERT_TYPES["MS181101ab"][:3]}
    assert len(api_server.state.alerts) == 3 and api_server.state.dropped_replies["post_alert"] == 0
    refused = [r for r in api_server.state.requests if r.status == 503]
    assert refused, "the outage was never hit"
    assert {r.status for r in daemon.runs()} <= {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE}


def test_an_outage_longer_than_every_retry_recovers_by_itself(stream, broker, api_server):
    """A 10-minute maintenance window, time compressed: the runs' own retries give up after ~45 s; the recovery
    sensor re-launches each notice (first try 5 s after the failure, doubling to 20 s) once the API answers."""
    daemon, ligo_topic, _ = stream
    daemon.env |= {"RECOVERY_FIRST_DELAY_S": "5", "RECOVERY_MAX_DELAY_S": "20", "RECOVERY_MAX_ATTEMPTS": "20"}
    api_server.outage(150)
    daemon.start()
    notices = [sample("MS181101ab-preliminary").read_bytes(), sample("S230518h-preliminary").read_bytes()]
    broker.produce(ligo_topic, notices)
    wait_for(lambda: any(r.status == DagsterRunStatus.FAILURE for r in daemon.runs()), 240, "a run to give up")
    wait_for(lambda: records_posted(api_server) >= 2, 420, "records posted after the outage, without an operator")
    wait_for(daemon.idle, 120, "all runs finished")
    assert alert_types(api_server) == {"MS181101ab": ["Preliminary"], "S230518h": ["Preliminary"]}
    recovered = [r for r in daemon.runs(DagsterRunStatus.SUCCESS) if "gwtm/recovery" in r.tags]
    assert {r.tags["dagster/partition"] for r in recovered} == {parse_ligo_notice(n).partition_key for n in notices}


def test_a_hostile_corpus_blocks_nothing_and_the_valid_notice_behind_it_comes_through(stream, broker, api_server):
    """Everything the adversarial run sent, published to the real broker ahead of one valid notice, in one daemon run."""
    from confluent_kafka import Producer

    from .test_sensors import _hostile_ligo_messages

    daemon, ligo_topic, icecube_topic = stream
    daemon.start()
    producer = Producer({"bootstrap.servers": broker.bootstrap, "message.max.bytes": 30_000_000})
    hostile = [*_hostile_ligo_messages(), b"x" * 21_000_000]
    for message in hostile:
        producer.produce(ligo_topic, message)
    valid_icecube = json.loads(ICECUBE_SAMPLES[0].read_bytes())
    for ref in ("../../x", "S230518h\x00"):
        producer.produce(icecube_topic, json.dumps(dict(valid_icecube, ref_ID=ref)).encode())
    assert producer.flush(60) == 0
    time.sleep(10)  # the sensors have met the corpus
    published = time.monotonic()
    broker.produce(ligo_topic, [sample("S230518h-preliminary").read_bytes()])
    wait_for(lambda: records_posted(api_server) >= 1, 120, "the valid notice's record")
    latency = time.monotonic() - published
    assert latency < 60, f"{latency:.0f} s"
    store = LocalObjectStore(daemon.env["LOCAL_STORAGE_DIR"])
    reasons = [o.key for o in store.list("fit/quarantine/") if o.key.endswith(".reason.txt")]
    assert len(reasons) == len(set(hostile)) + 2
    assert all(".." not in o.key and "\x00" not in o.key for o in store.list(""))
    assert alert_types(api_server) == {"S230518h": ["Preliminary"]}


def test_a_long_outage_is_caught_up_from_gracedb_every_notice_once_in_order(stream, broker, api_server):
    """Down past the buffer: what is still in the topic comes back by itself, what left it comes from GraceDB."""
    daemon, ligo_topic, _ = stream
    files = {  # GraceDB's file name of each notice, as GWCelery uploads them (a second Update: the next version)
        "MS181101ab-earlywarning": "MS181101ab-earlywarning.json", "MS181101ab-preliminary": "MS181101ab-preliminary.json",
        "MS181101ab-initial": "MS181101ab-initial.json", "MS181101ab-update": "MS181101ab-update.json",
        "MS181101ab-ext-update": "MS181101ab-update.json",
    }  # fmt: skip
    raw = {name: sample(name).read_bytes() for name in files}
    cli = Path(sys.executable).parent / "gwtm-cron"
    with GraceDBTestServer() as gracedb:
        gracedb.add_superevent("MS181101ab", datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=1))
        for name, filename in files.items():
            gracedb.upload("MS181101ab", filename, raw[name])
        env = {**daemon.env, "GRACEDB_URL": gracedb.url}

        daemon.start()
        broker.produce(ligo_topic, [raw["MS181101ab-earlywarning"]])
        wait_for(lambda: records_posted(api_server) >= 1, 240, "the first record")
        wait_for(daemon.idle, 120, "its products")
        daemon.stop_all()
        # While we are down, LVK sends four notices; by the time we are back the Preliminary and the Initial have
        # left the topic's retention (Tansu keeps every message, so they are simply not in it), the Updates have not.
        broker.produce(ligo_topic, [raw["MS181101ab-update"], raw["MS181101ab-ext-update"]])
        daemon.start()
        wait_for(lambda: records_posted(api_server) >= 4, 300, "the buffered Updates, resumed from the offsets")
        wait_for(daemon.idle, 180, "their runs")

        since = (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
        caught = subprocess.run(
            [str(cli), "catch-up", "--since", since, "--include-mock", "--launch", "--workspace", str(REPO / "workspace.yaml")],
            env=env, cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert caught.returncode == 0, caught.stdout[-2000:] + caught.stderr[-2000:]
        assert caught.stdout.count("already landed as") == 3 and caught.stdout.count(": landed as") == 2, caught.stdout
        wait_for(lambda: records_posted(api_server) >= 6, 300, "the caught-up notices posted through the daemon")
        wait_for(daemon.idle, 180, "their runs")

        again = subprocess.run([str(cli), "catch-up", "MS181101ab", "--dry-run"], env=env, cwd=REPO,
                               capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
        assert again.returncode == 0 and again.stdout.count("already landed as") == 5, again.stdout

    posted = alert_types(api_server)["MS181101ab"]
    assert posted == ["EarlyWarning", "Update", "Update", "Update-ExtCoinc", "Preliminary", "Initial"], posted
    assert {r.status for r in daemon.runs()} == {DagsterRunStatus.SUCCESS}, daemon.failed_runs()
    ledgers = (Path(daemon.env["LOCAL_STORAGE_DIR"]) / "test" / "ledger").glob("MS181101ab-*.json")
    names = sorted(entry["name"] for path in ledgers for entry in json.loads(path.read_text()).values())
    assert names == sorted(["MS181101ab-EarlyWarning", "MS181101ab-Preliminary", "MS181101ab-Initial",
                            "MS181101ab-Update", "MS181101ab-Update1", "MS181101ab-Update-ExtCoinc"])  # fmt: skip
    # On the site the event's records are in the order of their notices; its face is the newest notice.
    records = sorted((a for a in api_server.state.alerts if a["graceid"] == "MS181101ab"),
                     key=lambda a: datetime.fromisoformat(a["datecreated"]))  # fmt: skip
    assert [a["alert_type"] for a in records] == [
        "EarlyWarning",
        "Preliminary",
        "Initial",
        "Update",
        "Update",
        "Update-ExtCoinc",
    ]
    order = {"EarlyWarning": 0, "Preliminary": 1, "Initial": 2, "Update": 3}  # the samples' notices, oldest first
    assert_records_usable_by_the_site(api_server, made=lambda record: order[record["alert_type"].split("-")[0]])


def ligo_sensor_ticks(daemon: DagsterDaemon) -> list:
    """The LIGO sensor's ticks, oldest first."""
    return sorted(daemon.sensor_ticks("ligo_alert_sensor"), key=lambda t: t.timestamp)


def test_a_notice_right_after_another_is_read_within_a_sensor_pass_not_dagsters_5_s(stream, broker, api_server):
    """``gwtm-cron daemon`` (as deployed) passes over the sensors every SENSOR_LOOP_S: after a tick returned at its
    notice, the next starts within a pass of its 1 s minimum interval. ``dagster-daemon run`` waits 5 s from the
    previous start, so each tick that lands a notice waiting for it (~0.2 s) is followed by ~4 s unpolled."""
    daemon, ligo_topic, _ = stream
    daemon.start()
    notices = ligo_notices()[:3]
    for raw in notices:  # each right after the tick that landed the previous one returned
        key = parse_ligo_notice(raw).partition_key
        broker.produce(ligo_topic, [raw])
        wait_for(lambda k=key: k in daemon.instance.get_dynamic_partitions("gw_alerts"), 120, f"{key} landed")
        time.sleep(0.3)
    wait_for(lambda: records_posted(api_server) >= len(notices), 120, "every record posted")
    ticks = ligo_sensor_ticks(daemon)
    landing = [i for i, tick in enumerate(ticks) if tick.run_keys and i + 1 < len(ticks)]
    assert len(landing) >= len(notices) - 1, [(t.timestamp, t.run_keys) for t in ticks]
    gaps = [ticks[i + 1].timestamp - max(ticks[i].end_timestamp, ticks[i].timestamp + 1) for i in landing]
    assert max(gaps) < 2.0, gaps
    assert alert_types(api_server) == {"MS181101ab": ["EarlyWarning", "Preliminary", "Initial"]}
