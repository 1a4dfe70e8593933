"""Storages that remember the columns, tables and indexes they have found, instead of asking again for every event.

Dagster's SQL storages serve databases from before and after its schema migrations, and choose the query for each by
asking the database whether a column exists: SQLAlchemy reflection (on PostgreSQL, several catalog queries) on every
asset event stored (``has_asset_key_col``), every run event (``has_run_stats_index_cols``) and many reads. In a run
worker on PostgreSQL that was 14% of its CPU (py-spy, ``benchmarks/RESULTS.md``). Migrations only add columns, and
``dagster instance migrate`` runs with the listeners stopped, so a column found once is there for the life of the
process: these mixins remember each column found and ask again only about one not found (a database not migrated
keeps Dagster's fallback, as before). The same holds for the event log's tables (``has_table``: asked for every asset
event with tags and every check evaluation; on SQLite a new engine each time) and its secondary indexes
(``has_secondary_index``, on SQLite a query for every asset event; Dagster's PostgreSQL storage already remembers
them).

Mixed into the single host's SQLite storages (``sqlite_storage``) and PostgreSQL's (``postgres_storage``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Connection


class RememberedColumns:
    """The columns a storage has found; ``found(name, check)`` asks ``check`` until it answers True once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._columns_found: set[str] = set()
        super().__init__(*args, **kwargs)

    def found(self, name: str, check: Callable[[], bool]) -> bool:
        if name in self._columns_found:
            return True
        present = check()
        if present:
            self._columns_found.add(name)
        return present


class KnownEventLogSchema(RememberedColumns):
    """For an event log storage: the ``asset_keys`` columns, the tables and the secondary indexes found once are not
    asked about again."""

    def has_asset_key_col(self, column_name: str) -> bool:
        check = super().has_asset_key_col  # type: ignore[misc]
        return self.found(column_name, lambda: check(column_name))

    def _has_asset_key_col_on_connection(self, conn: Connection, column_name: str) -> bool:
        check = super()._has_asset_key_col_on_connection  # type: ignore[misc]
        return self.found(column_name, lambda: check(conn, column_name))

    def has_table(self, table_name: str) -> bool:
        check = super().has_table  # type: ignore[misc]
        return self.found(f"table {table_name}", lambda: check(table_name))

    def has_secondary_index(self, name: str) -> bool:
        check = super().has_secondary_index  # type: ignore[misc]
        return self.found(f"secondary index {name}", lambda: check(name))


class KnownRunColumns(RememberedColumns):
    """For a run storage: the ``runs`` and ``bulk_actions`` columns found once are not reflected again."""

    def has_run_stats_index_cols(self) -> bool:
        return self.found("runs.start_time, end_time", super().has_run_stats_index_cols)  # type: ignore[misc]

    def has_bulk_actions_selector_cols(self) -> bool:
        return self.found("bulk_actions.selector_id", super().has_bulk_actions_selector_cols)  # type: ignore[misc]

    def has_backfill_id_column(self) -> bool:
        return self.found("runs.backfill_id", super().has_backfill_id_column)  # type: ignore[misc]
