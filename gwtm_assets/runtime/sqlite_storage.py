"""The single host's SQLite storage, with each run's event database copied from a template instead of built.

Dagster's ``SqliteEventLogStorage`` keeps a run's events in a database of its own. The first time a process touches
one, it loads alembic's migration scripts to read the database's revision, and builds it (tables, indexes, WAL,
stamp) when it is new: ~65 ms in the daemon for every run it creates and ~40 ms in every run worker and webserver
that opens it (``benchmarks/bench_stream_latency.py``: the daemon spent half of creating a run there). Here a new
run's database is a copy of one Dagster built once per Dagster version (under ``.shard-template/``, which Dagster does
not list as a run), made atomically (``os.link``), and a database that exists is checked with one query. A database
that is not complete (another process building it the stock way) goes to Dagster's own code, as before. The run
and schedule databases, and the event log's index, once built, are opened without alembic's check too (Dagster acts
on it only for an unstamped database): making an instance 55 -> 5.5 ms.

Dagster also makes a new SQLAlchemy engine, and a new SQLite connection, for every query and every event it
stores, and disposes of both after it (``NullPool``). Here each process keeps one engine per database with a small
pool of open connections (``process_engines.ProcessEngines``): an event stored 2.6 -> 0.6 ms of CPU, a query 2.3 -> 0.7 ms
(``benchmarks/bench_event_log.py``); the event log was a third of a run worker's CPU. A forked process never uses
its parent's connections (SQLite forbids it): it starts with engines of its own.

Used wherever ``EventTaggingInstance`` runs without a ``storage`` block (``dagster.yaml``); PostgreSQL is unaffected.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, Self

from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._core.storage.runs import SqliteRunStorage
from dagster._core.storage.schedules import SqliteScheduleStorage
from dagster._core.storage.sqlite import create_db_conn_string
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from dagster._serdes import ConfigurableClassData
from dagster.version import __version__ as dagster_version
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from .known_columns import KnownEventLogSchema, KnownRunColumns
from .process_engines import ProcessEngines

TEMPLATE_DIR = ".shard-template"


def sqlite_engine(url: str) -> Engine:
    """An engine keeping up to two connections open; it never waits for one (``max_overflow`` -1): one beyond the
    pool's is opened and closed after use."""
    return create_engine(url, pool_size=2, max_overflow=-1, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})


@contextmanager
def pooled_connection(engines: ProcessEngines, url: str) -> Iterator[Connection]:
    """A connection of ``url``'s kept engine, in a transaction committed at the end (as Dagster's ``connect``)."""
    with engines.get(url).connect() as connection, connection.begin():
        yield connection


def is_built(path: str, *tables: str) -> bool:
    """Whether the SQLite database at ``path`` has Dagster's revision stamp (written last when it is built) and
    ``tables``."""
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return False
    try:
        with closing(sqlite3.connect(path, timeout=5)) as connection:
            stamped = connection.execute("SELECT version_num FROM alembic_version").fetchone() is not None
            names = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            return stamped and set(tables) <= names
    except sqlite3.Error:
        return False


def link_copy(source: str, target: str) -> bool:
    """Copy ``source`` to ``target`` unless ``target`` exists, never overwriting it; whether this call made it."""
    partial = f"{target}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
    shutil.copyfile(source, partial)
    try:
        os.link(partial, target)
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(partial)


class ShardTemplateEventLogStorage(KnownEventLogSchema, SqliteEventLogStorage):
    """``SqliteEventLogStorage`` whose run databases start as copies of a template, whose connections are kept open
    (module docstring) and which remembers the columns, tables and indexes it found (``known_columns``)."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines = ProcessEngines(sqlite_engine)
        super().__init__(base_dir, inst_data)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        # Dagster's _connect, on the process's kept engine: one transaction at a time per storage (its lock).
        with self._db_lock:
            url = self.conn_string_for_shard(shard)
            if shard not in self._initialized_dbs:
                self._initdb(self._engines.get(url))
                self._initialized_dbs.add(shard)
            with pooled_connection(self._engines, url) as connection:
                yield connection

    def wipe(self) -> None:
        self.release_connections()  # before Dagster deletes the files they have open
        super().wipe()

    def release_connections(self) -> None:
        """Close the connections this process keeps (``run_workers.release_connections``); reopened when used."""
        with self._db_lock:
            self._engines.dispose()

    def dispose(self) -> None:
        self._engines.dispose()
        super().dispose()

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Any
    ) -> ShardTemplateEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _template(self) -> str:
        """The template for this Dagster version, built by Dagster's own ``_initdb`` the first time it is asked."""
        template = os.path.join(self._base_dir, TEMPLATE_DIR, f"dagster-{dagster_version}.db")
        if not is_built(template):
            os.makedirs(os.path.dirname(template), exist_ok=True)
            building = f"{template}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
            engine = create_engine(f"sqlite:///{building}", poolclass=NullPool)
            try:
                super()._initdb(engine)
            finally:
                engine.dispose()
            os.replace(building, template)  # concurrent builders write the same template
        return template

    def _initdb(self, engine: Engine, for_index_shard: bool = False) -> None:
        path = engine.url.database
        if path and not for_index_shard and Path(path).stem != INDEX_SHARD_NAME and not os.path.exists(path):
            link_copy(self._template(), path)
        if not path or not is_built(path):
            super()._initdb(engine, for_index_shard)


class KeptConnections:
    """For a SQLite storage of one database (``_conn_string``): ``connect`` on the process's kept engine."""

    _conn_string: str

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._engines = ProcessEngines(sqlite_engine, capacity=1)
        super().__init__(*args, **kwargs)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with pooled_connection(self._engines, self._conn_string) as connection:
            yield connection

    def release_connections(self) -> None:
        """Close the connections this process keeps (``run_workers.release_connections``); reopened when used."""
        self._engines.dispose()

    def dispose(self) -> None:
        self.release_connections()
        super().dispose()  # type: ignore[misc]


class StampedSqliteRunStorage(KeptConnections, KnownRunColumns, SqliteRunStorage):
    """``SqliteRunStorage`` that opens a built database without alembic's revision check (Dagster acts on it only
    when a database has no stamp; migrations are ``dagster instance migrate``'s), with its connections kept open and
    the columns it found remembered."""

    @classmethod
    def from_local(cls, base_dir: str, inst_data: ConfigurableClassData | None = None) -> Self:
        if is_built(os.path.join(base_dir, "runs.db"), "instance_info"):
            return cls(create_db_conn_string(base_dir, "runs"), inst_data)
        return super().from_local(base_dir, inst_data)


class StampedSqliteScheduleStorage(KeptConnections, SqliteScheduleStorage):
    """``SqliteScheduleStorage`` that opens a built database without alembic's revision check, with its connections
    kept open (as above)."""

    @classmethod
    def from_local(cls, base_dir: str, inst_data: ConfigurableClassData | None = None) -> SqliteScheduleStorage:
        if is_built(os.path.join(base_dir, "schedules.db")):
            return cls(create_db_conn_string(base_dir, "schedules"), inst_data)
        return super().from_local(base_dir, inst_data)


class ShardTemplateSqliteStorage(DagsterSqliteStorage):
    """``DagsterSqliteStorage`` (the same directories under ``base_dir``): ``ShardTemplateEventLogStorage`` and run
    and schedule storages that open a built database without alembic's check (~30 ms each time an instance is made:
    the code server makes one for every sensor tick)."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self.base_dir = base_dir
        self._run_storage = StampedSqliteRunStorage.from_local(_runs_directory(base_dir))
        self._event_log_storage = ShardTemplateEventLogStorage(_event_logs_directory(base_dir))
        self._schedule_storage = StampedSqliteScheduleStorage.from_local(_schedule_directory(base_dir))
        self._inst_data = inst_data
        super(DagsterSqliteStorage, self).__init__()  # what DagsterSqliteStorage.__init__ calls after its own

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Any) -> ShardTemplateSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)
