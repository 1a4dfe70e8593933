"""SQLAlchemy engines kept by a process, one per database URL, each pooling its open connections.

Dagster's SQL storages make an engine per storage object and open a new connection for every query (``NullPool``).
Both storages of this project keep engines here instead: the single host's SQLite storage (``sqlite_storage``) and
the production PostgreSQL storage (``postgres_storage``). A forked child never uses or closes its parent's
connections: neither SQLite nor libpq supports a connection carried across ``fork()`` (closing one in the child may
checkpoint the WAL the parent is using, or end the parent's PostgreSQL session), so the child opens its own.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable

from sqlalchemy.engine import Engine

#: Engines a process keeps at once by default (a run worker needs its run's database and the index; the daemon and
#: webserver go through many runs' databases on SQLite, the least recently used closed first).
ENGINES_PER_PROCESS = 16


class ProcessEngines:
    """This process's SQLAlchemy engines, one per database URL, each made by ``make_engine(url)``.

    At most ``capacity`` engines are kept; the least recently used is disposed of (its connections closed) to make
    room. After a fork the parent's engines are left untouched, never used nor closed, and kept referenced so that
    no garbage collection closes them either; the child makes its own."""

    def __init__(self, make_engine: Callable[[str], Engine], capacity: int = ENGINES_PER_PROCESS) -> None:
        self.capacity = capacity
        self._make_engine = make_engine
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._parents: list[Engine] = []

    def get(self, url: str, make_engine: Callable[[str], Engine] | None = None) -> Engine:
        """The engine for ``url``, made (by ``make_engine`` if given) if this process has none."""
        with self._lock:
            if self._pid != os.getpid():
                self._parents.extend(self._engines.values())
                self._engines.clear()
                self._pid = os.getpid()
            engine = self._engines.get(url)
            if engine is not None:
                self._engines.move_to_end(url)
                return engine
            engine = (make_engine or self._make_engine)(url)
            self._engines[url] = engine
            while len(self._engines) > self.capacity:
                self._engines.popitem(last=False)[1].dispose()
            return engine

    def dispose(self) -> None:
        """Close every connection this process opened (before its files are deleted, or at exit)."""
        with self._lock:
            if self._pid == os.getpid():
                for engine in self._engines.values():
                    engine.dispose()
            self._engines.clear()
