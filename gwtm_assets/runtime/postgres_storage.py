"""The production instance's PostgreSQL storage: Dagster's, with the schema's columns remembered (``known_columns``)
and the connections of every instance a process makes kept open in one pool.

Dagster's PostgreSQL storages each make an engine that opens a new connection for every query (``NullPool``), and
connect once more when made, to check their tables. The code server makes a new instance, so three new engines, for
every sensor tick: each engine's first connection also runs SQLAlchemy's dialect set-up queries, and the server forks
a backend for every connection. Here the storages of every instance in a process share one engine per database
(``process_engines``), whose connections stay open (pinged before use after 10 s unused, renewed hourly); the table check
Dagster's constructor makes runs on them. A storage given its own pooled engine by ``optimize_for_webserver`` (the
webserver's statement timeout) keeps that one.

Configured in ``deploy/dagster.production.yaml`` and the Helm chart's instance as ``storage: custom:`` with this
class and the same ``postgres_db`` (or ``postgres_url``) block that ``storage: postgres:`` takes.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.run_storage import PostgresRunStorage
from dagster_postgres.schedule_storage import PostgresScheduleStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry, NullPool

from .known_columns import KnownEventLogSchema, KnownRunColumns
from .process_engines import ProcessEngines

#: Connections a process keeps open per database (more are opened, and closed after use, while its threads overlap).
KEPT_CONNECTIONS = 2
#: Seconds after which a kept connection is closed and opened anew (as ``dagster-webserver``'s pool).
POOL_RECYCLE_S = 3600
#: A kept connection unused for longer than this is pinged before it is handed out (a server restart, a proxy's idle
#: timeout); one in steady use is not, so a burst of queries pays no extra round trip each.
PING_AFTER_IDLE_S = 10.0


def _checked_in(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
    """Before a kept connection is handed out after ``PING_AFTER_IDLE_S`` unused: one that no longer answers is
    replaced by a new one (SQLAlchemy's pool retries a checkout that raises ``DisconnectionError``)."""
    idle_since = record.info.get("checked_in_at")
    if idle_since is None or time.monotonic() - idle_since <= PING_AFTER_IDLE_S:
        return
    try:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - psycopg2's errors for a closed or broken connection vary
        raise DisconnectionError(f"kept PostgreSQL connection no longer answers: {exc}") from exc


def postgres_engine(url: str, token_provider: Any = None) -> Engine:
    """An engine keeping ``KEPT_CONNECTIONS`` open, in autocommit as Dagster's storages use it; a connection left
    unused for ``PING_AFTER_IDLE_S`` is pinged before use and replaced if the server or network dropped it. The most
    recently used connection is handed out first, so a quiet process uses one and the others age out."""
    engine = create_pg_engine(
        url,
        token_provider,
        isolation_level="AUTOCOMMIT",
        pool_size=KEPT_CONNECTIONS,
        max_overflow=-1,
        pool_recycle=POOL_RECYCLE_S,
        pool_use_lifo=True,
    )
    event.listen(engine, "checkin", _checked_in)
    event.listen(engine, "checkout", _ping_if_idle)
    return engine


#: The engines of this process, shared by every instance it makes (the code server makes one per sensor tick).
PROCESS_ENGINES = ProcessEngines(postgres_engine, capacity=4)


class ProcessPooledEngine:
    """For a Dagster PostgreSQL storage: ``_engine`` is this process's kept engine for the database, unless
    ``optimize_for_webserver`` gave the storage a pooled engine of its own. Dagster's constructor assigns a
    ``NullPool`` engine that is then never used (making one opens no connection)."""

    #: Read by the daemon and run workers, which otherwise give Dagster's storages pools of their own.
    keeps_connections: ClassVar[bool] = True
    postgres_url: str
    _token_provider: Any
    _pooled_engine: Engine | None = None

    @property
    def _engine(self) -> Engine:
        if self._pooled_engine is not None:
            return self._pooled_engine
        return PROCESS_ENGINES.get(self.postgres_url, lambda url: postgres_engine(url, self._token_provider))

    @_engine.setter
    def _engine(self, engine: Engine) -> None:
        self._pooled_engine = None if isinstance(engine.pool, NullPool) else engine

    def release_connections(self) -> None:
        """Close the connections this process keeps (``run_workers.release_connections``); reopened when used."""
        if self._pooled_engine is not None:
            self._pooled_engine.dispose()
        PROCESS_ENGINES.dispose()


class KnownColumnsPostgresEventLogStorage(ProcessPooledEngine, KnownEventLogSchema, PostgresEventLogStorage):
    """``PostgresEventLogStorage`` on the process's kept connections, asking about each ``asset_keys`` column and each
    table until it has found it once."""


class KnownColumnsPostgresRunStorage(ProcessPooledEngine, KnownRunColumns, PostgresRunStorage):
    """``PostgresRunStorage`` on the process's kept connections, reflecting each ``runs`` column until it has found
    it once."""


class KeptConnectionsPostgresScheduleStorage(ProcessPooledEngine, PostgresScheduleStorage):
    """``PostgresScheduleStorage`` on the process's kept connections."""


class KnownColumnsPostgresStorage(DagsterPostgresStorage):
    """``DagsterPostgresStorage`` (same configuration, same database) with the storages above."""

    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: ConfigurableClassData | None = None,
        token_provider: Any = None,
    ) -> None:
        # DagsterPostgresStorage.__init__ with these classes: each storage connects and checks its tables when made.
        self.postgres_url = postgres_url
        self.should_autocreate_tables = should_autocreate_tables
        self._inst_data = inst_data
        self._run_storage = KnownColumnsPostgresRunStorage(
            postgres_url, should_autocreate_tables, token_provider=token_provider
        )
        self._event_log_storage = KnownColumnsPostgresEventLogStorage(
            postgres_url, should_autocreate_tables, token_provider=token_provider
        )
        self._schedule_storage = KeptConnectionsPostgresScheduleStorage(
            postgres_url, should_autocreate_tables, token_provider=token_provider
        )
        super(DagsterPostgresStorage, self).__init__()  # what DagsterPostgresStorage.__init__ calls after its own

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Any
    ) -> KnownColumnsPostgresStorage:
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )
