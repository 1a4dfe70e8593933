"""The single host's SQLite storage: a run's event database is a copy of the one Dagster builds, made once."""

import shutil
import sqlite3
import time
import uuid
from contextlib import closing
from pathlib import Path

from dagster import DagsterInstance
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log import SqliteEventLogStorage

from gwtm_assets.runtime.sqlite_storage import (
    TEMPLATE_DIR,
    ShardTemplateEventLogStorage,
    StampedSqliteRunStorage,
    StampedSqliteScheduleStorage,
    link_copy,
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
