"""The ephemeral instance's in-memory storages on the one connection each already holds.

``gwtm-cron ingest`` without ``DAGSTER_HOME`` (and the tests and benchmarks that use an ephemeral instance) keeps its
runs and events in Dagster's in-memory SQLite storages. Each holds a connection for its life, to keep its database,
but opens a new one for every query and stored event, with two PRAGMAs each: ~590 statements and ~300 connections of
a notice's ~950, ~10% of its CPU (``benchmarks/bench_notice_cost.py``). Here every query runs on the held connection,
one transaction at a time from any thread (a lock of each storage's own), and the
columns, tables and indexes found are remembered (``known_columns``): the schema is the one the storage made, and
nothing migrates it.

A transaction opened inside another of the same storage joins it (the held connection has one at a time); Dagster's
in-memory storages would have opened a second connection there, which SQLite's shared cache would have blocked on the
outer transaction's table locks.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dagster._core.storage.event_log import InMemoryEventLogStorage
from dagster._core.storage.runs import InMemoryRunStorage
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from .known_columns import KnownEventLogSchema, KnownRunColumns


@contextmanager
def held_transaction(connection: Connection) -> Iterator[Connection]:
    """A transaction on ``connection``, or the one it is in (its caller holds the storage's lock)."""
    if connection.in_transaction():
        yield connection
        return
    with connection.begin():
        yield connection


def held_across_threads(held: Connection) -> Connection:
    """A connection to ``held``'s database that any thread may use (one at a time), with foreign keys on (what Dagster's
    in-memory storages set on every connection they open), in place of ``held``, which only its thread may use."""
    engine = create_engine(held.engine.url, poolclass=NullPool, connect_args={"check_same_thread": False})
    connection = engine.connect()
    with held_transaction(connection):
        connection.execute(text("PRAGMA foreign_keys=ON"))
    held.close()  # the database lives on: a shared-cache database lasts while any connection to it is open
    return connection


class HeldConnection:
    """For an in-memory storage: ``held()``, a transaction on its held connection, one thread at a time."""

    _held_conn: Connection

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._held_lock = threading.RLock()
        super().__init__(*args, **kwargs)
        self._held_conn = held_across_threads(self._held_conn)

    @contextmanager
    def held(self) -> Iterator[Connection]:
        with self._held_lock, held_transaction(self._held_conn) as connection:
            yield connection


class HeldConnectionEventLogStorage(HeldConnection, KnownEventLogSchema, InMemoryEventLogStorage):
    """``InMemoryEventLogStorage`` whose queries run on its held connection (module docstring)."""

    _connect = HeldConnection.held


class HeldConnectionRunStorage(HeldConnection, KnownRunColumns, InMemoryRunStorage):
    """``InMemoryRunStorage`` whose queries run on its held connection (module docstring)."""

    connect = HeldConnection.held
