"""Values kept for the life of one process: clients whose set-up costs a token or a handshake.

Dagster builds resources anew for every run and tick, so a client that should live longer (a Kafka consumer
between sensor ticks, a Keystone session between runs of a warm worker) is kept here, by a key of what it was
made from. Keys carry the process id: a forked child never uses its parent's sockets, it makes its own.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class ProcessCache(Generic[V]):
    """``get(key, make)`` makes a value once per process and key; ``discard`` drops (and closes) a broken one."""

    def __init__(self, close: Callable[[V], None] | None = None) -> None:
        self._values: dict[tuple[Hashable, ...], V] = {}
        self._lock = threading.Lock()
        self._close = close
        atexit.register(self.close_all)

    def get(self, key: tuple[Hashable, ...], make: Callable[[], V]) -> V:
        key = (os.getpid(), *key)
        with self._lock:
            if key not in self._values:
                self._values[key] = make()
            return self._values[key]

    def discard(self, key: tuple[Hashable, ...]) -> None:
        with self._lock:
            value = self._values.pop((os.getpid(), *key), None)
        if value is not None and self._close is not None:
            self._close(value)

    def keys(self) -> list[tuple[Hashable, ...]]:
        """This process's keys (without the process id)."""
        with self._lock:
            return [k[1:] for k in self._values if k[0] == os.getpid()]

    def close_all(self) -> None:
        """Forget this process's values, closing each (at exit, and between tests)."""
        with self._lock:
            mine = [k for k in self._values if k[0] == os.getpid()]
            values = [self._values.pop(k) for k in mine]
        if self._close is not None:
            for value in values:
                self._close(value)
