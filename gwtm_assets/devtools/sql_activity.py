"""What the SQLAlchemy engines of this process do: connections opened and statements executed (tests, benchmarks).

Counted by SQLAlchemy's ``connect`` and ``before_cursor_execute`` events on every engine, from ``__enter__`` (or
``start``) to ``__exit__`` (or ``stop``).
"""

from __future__ import annotations

from typing import Any, Self

from sqlalchemy import event
from sqlalchemy.engine import Engine


class SqlActivity:
    """``connections``: new DBAPI connections opened; ``statements``: the SQL executed, in order."""

    def __init__(self) -> None:
        self.connections = 0
        self.statements: list[str] = []

    def start(self) -> Self:
        event.listen(Engine, "connect", self._connected)
        event.listen(Engine, "before_cursor_execute", self._executed)
        return self

    def stop(self) -> None:
        event.remove(Engine, "connect", self._connected)
        event.remove(Engine, "before_cursor_execute", self._executed)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _connected(self, *_: Any) -> None:
        self.connections += 1

    def _executed(self, _connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.statements.append(statement)
