"""The ephemeral instance's in-memory storages: every query on the connection each holds, from any thread."""

import threading

import pytest
from dagster import AssetMaterialization, DagsterInstance
from sqlalchemy import text

from gwtm_assets.devtools.sql_activity import SqlActivity
from gwtm_assets.runtime.instance import EventTaggingInstance
from gwtm_assets.runtime.memory_storage import HeldConnectionEventLogStorage, HeldConnectionRunStorage


@pytest.fixture
def activity():
    with SqlActivity() as counted:
        yield counted


def store_and_read(instance: DagsterInstance, number: int) -> None:
    instance.report_runless_asset_event(AssetMaterialization(f"asset_{number}", tags={"gwtm/tag": "x"}))
    instance.get_run_records(limit=1)
    instance.event_log_storage.get_asset_records()


def test_the_ephemeral_instance_opens_no_connection_per_query(activity):
    instance = EventTaggingInstance.ephemeral_instance()
    assert isinstance(instance.event_log_storage, HeldConnectionEventLogStorage)
    assert isinstance(instance.run_storage, HeldConnectionRunStorage)
    store_and_read(instance, 0)
    connections, statements = activity.connections, len(activity.statements)
    for number in range(1, 11):
        store_and_read(instance, number)
    assert activity.connections == connections
    asked = activity.statements[statements:]
    assert not [s for s in asked if "PRAGMA" in s or "secondary_indexes" in s]  # the schema is asked once at most
    assert len(instance.event_log_storage.get_asset_records()) == 11

    stock = DagsterInstance.ephemeral()  # Dagster's own: a connection and two PRAGMAs for every query
    store_and_read(stock, 0)
    connections, statements = activity.connections, len(activity.statements)
    store_and_read(stock, 1)
    assert activity.connections - connections >= 3
    assert sum("PRAGMA" in s for s in activity.statements[statements:]) >= 6


def test_the_held_connections_serve_every_thread_one_at_a_time():
    instance = EventTaggingInstance.ephemeral_instance()
    failures: list[BaseException] = []

    def work(thread: int) -> None:
        try:
            for number in range(10):
                store_and_read(instance, thread * 100 + number)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(thread,)) for thread in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(instance.event_log_storage.get_asset_records()) == 40


def test_foreign_keys_are_on_and_a_transaction_inside_another_joins_it():
    instance = EventTaggingInstance.ephemeral_instance()
    storage = instance.run_storage
    with storage.connect() as outer:  # type: ignore[attr-defined]
        assert outer.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
        with storage.connect() as inner:  # type: ignore[attr-defined]
            assert inner is outer
    with instance.event_log_storage._connect() as connection:  # type: ignore[attr-defined]
        assert connection.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
    assert instance.get_runs_count() == 0  # the storage still answers after both
