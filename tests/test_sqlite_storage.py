"""The single host's SQLite storage: a run's event database is a copy of the one Dagster builds, made once."""

import os
import shutil
import sqlite3
import time
import uuid
from contextlib import closing
from pathlib import Path

import pytest
from dagster import DagsterInstance
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log import SqliteEventLogStorage
from sqlalchemy import event
from sqlalchemy.engine import Engine

from gwtm_assets.runtime.process_engines import ProcessEngines
from gwtm_assets.runtime.sqlite_storage import (
    TEMPLATE_DIR,
    ShardTemplateEventLogStorage,
    StampedSqliteRunStorage,
    StampedSqliteScheduleStorage,
    link_copy,
    sqlite_engine,
)

REPO = Path(__file__).resolve().parents[1]


def _event(run_id: str, message: str = "x") -> EventLogEntry:
    return EventLogEntry(error_info=None, level=20, user_message=message, run_id=run_id, timestamp=time.time())


def _schema(path: Path) -> tuple[list, list]:
    with closing(sqlite3.connect(path)) as db:
        objects = db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").fetchall()
        return objects, db.execute("SELECT version_num FROM alembic_version").fetchall()


def test_a_new_runs_database_is_what_dagster_builds(tmp_path):
    stock, templated = SqliteEventLogStorage(str(tmp_path / "stock")), ShardTemplateEventLogStorage(str(tmp_path / "t"))
    run_id = str(uuid.uuid4())
    for storage in (stock, templated):
        storage.store_event(_event(run_id))
    built, copied = tmp_path / "stock" / f"{run_id}.db", tmp_path / "t" / f"{run_id}.db"
    assert _schema(copied) == _schema(built)
    with closing(sqlite3.connect(copied)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert (tmp_path / "t" / TEMPLATE_DIR).is_dir()
    assert templated.get_all_run_ids() == [run_id]  # the template is not taken for a run
    assert [e.user_message for e in templated.get_logs_for_run(run_id)] == ["x"]


def test_a_database_another_process_made_is_kept(tmp_path):
    first, second = ShardTemplateEventLogStorage(str(tmp_path)), ShardTemplateEventLogStorage(str(tmp_path))
    run_id = str(uuid.uuid4())
    first.store_event(_event(run_id, "first"))
    second.store_event(_event(run_id, "second"))  # another process's first touch of the same run: no new copy
    assert [e.user_message for e in first.get_logs_for_run(run_id)] == ["first", "second"]
    assert not link_copy(str(tmp_path / f"{run_id}.db"), str(tmp_path / f"{run_id}.db"))  # never overwrites


def test_an_empty_or_unbuilt_file_is_built_the_stock_way(tmp_path):
    storage = ShardTemplateEventLogStorage(str(tmp_path))
    run_id = str(uuid.uuid4())
    (tmp_path / f"{run_id}.db").touch()  # what a bare SQLite connect leaves
    storage.store_event(_event(run_id))
    assert _schema(tmp_path / f"{run_id}.db")[1]
    assert len(storage.get_logs_for_run(run_id)) == 1


def test_the_instance_of_dagster_yaml_uses_it_and_keeps_dagsters_layout(tmp_path, monkeypatch):
    shutil.copy(REPO / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, ShardTemplateEventLogStorage)
        assert isinstance(instance.run_storage, StampedSqliteRunStorage)
        run_id = str(uuid.uuid4())
        instance.event_log_storage.store_event(_event(run_id))
        reopened = DagsterInstance.from_ref(instance.get_ref())  # what a run worker opens
        assert isinstance(reopened.event_log_storage, ShardTemplateEventLogStorage)
        assert len(reopened.all_logs(run_id)) == 1
    assert (tmp_path / "history" / "runs" / f"{run_id}.db").exists()  # where Dagster's own storage keeps it
    assert (tmp_path / "history" / "runs.db").exists() and (tmp_path / "schedules" / "schedules.db").exists()


def test_run_and_schedule_databases_are_built_once_then_opened_as_they_are(tmp_path):
    fresh = StampedSqliteRunStorage.from_local(str(tmp_path))  # a new home: Dagster's own build
    assert {"runs", "instance_info", "alembic_version"} <= _tables(tmp_path / "runs.db")
    fresh.set_cursor_values({"seen": "1"})
    assert StampedSqliteRunStorage.from_local(str(tmp_path)).get_cursor_values({"seen"}) == {"seen": "1"}
    with closing(sqlite3.connect(tmp_path / "runs.db")) as db:  # a database from before instance_info existed
        db.execute("DROP TABLE instance_info")
        db.commit()
    StampedSqliteRunStorage.from_local(str(tmp_path))
    assert "instance_info" in _tables(tmp_path / "runs.db")  # made by Dagster's path, as before
    StampedSqliteScheduleStorage.from_local(str(tmp_path))
    assert "job_ticks" in _tables(tmp_path / "schedules.db")


def _tables(path: Path) -> set[str]:
    with closing(sqlite3.connect(path)) as db:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _rows(path: Path) -> int:
    with closing(sqlite3.connect(path)) as db:
        return db.execute("SELECT COUNT(*) FROM event_logs").fetchone()[0]


@pytest.fixture
def connections_opened():
    """SQLite connections any SQLAlchemy engine opens while the test runs."""
    opened: list[object] = []

    def count(*_: object) -> None:
        opened.append(None)

    event.listen(Engine, "connect", count)
    yield opened
    event.remove(Engine, "connect", count)


def test_a_process_keeps_its_connections_open(tmp_path, connections_opened):
    storage = ShardTemplateEventLogStorage(str(tmp_path))
    runs = StampedSqliteRunStorage.from_local(str(tmp_path / "runs"))
    run_id = str(uuid.uuid4())

    def calls() -> None:
        storage.store_event(_event(run_id))
        storage.get_records_for_run(run_id, limit=1)
        runs.get_cursor_values({"seen"})

    calls()  # opens the run's database (built from the template), and the runs database
    before = len(connections_opened)
    for _ in range(20):
        calls()
    # Dagster's own storages open one for every call: 60 here.
    assert len(connections_opened) == before
    assert _rows(tmp_path / f"{run_id}.db") == 21  # committed, visible to another connection


def test_a_forked_process_opens_its_own_connections_and_leaves_the_parents_alone(tmp_path):
    storage = ShardTemplateEventLogStorage(str(tmp_path))
    run_id = str(uuid.uuid4())
    storage.store_event(_event(run_id, "parent"))
    parents_engine = storage._engines.get(storage.conn_string_for_shard(run_id))
    pid = os.fork()
    if pid == 0:  # the child: a new engine, and the parent's never closed
        code = 1
        try:
            child_engine = storage._engines.get(storage.conn_string_for_shard(run_id))
            storage.store_event(_event(run_id, "child"))
            code = 0 if child_engine is not parents_engine else 2
        finally:
            os._exit(code)
    assert os.waitpid(pid, 0)[1] == 0
    storage.store_event(_event(run_id, "parent again"))  # on the parent's connection, still open
    assert [e.user_message for e in storage.get_logs_for_run(run_id)] == ["parent", "child", "parent again"]
    assert storage._engines.get(storage.conn_string_for_shard(run_id)) is parents_engine


def test_the_least_recently_used_engine_is_closed_beyond_the_capacity(tmp_path):
    engines = ProcessEngines(sqlite_engine, capacity=2)
    urls = [f"sqlite:///{tmp_path / name}.db" for name in "abc"]
    first, second = engines.get(urls[0]), engines.get(urls[1])
    engines.get(urls[0])  # used again: b is now the oldest
    engines.get(urls[2])
    assert engines.get(urls[0]) is first
    assert engines.get(urls[1]) is not second  # closed, made again


def test_events_after_a_wipe_go_to_the_new_files(tmp_path):
    storage = ShardTemplateEventLogStorage(str(tmp_path))
    run_id = str(uuid.uuid4())
    storage.store_event(_event(run_id))
    storage.wipe()  # deletes the run's database while this process has it open
    storage.store_event(_event(run_id, "after"))
    assert _rows(tmp_path / f"{run_id}.db") == 1
    assert [e.user_message for e in storage.get_logs_for_run(run_id)] == ["after"]
