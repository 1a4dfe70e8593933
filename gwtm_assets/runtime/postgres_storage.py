"""The production instance's PostgreSQL storage: Dagster's, with the schema's columns remembered (``known_columns``).

Configured in ``deploy/dagster.production.yaml`` and the Helm chart's instance as ``storage: custom:`` with this
class and the same ``postgres_db`` (or ``postgres_url``) block that ``storage: postgres:`` takes.
"""

from __future__ import annotations

from typing import Any

from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.run_storage import PostgresRunStorage
from dagster_postgres.schedule_storage import PostgresScheduleStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

from .known_columns import KnownAssetKeyColumns, KnownRunColumns


class KnownColumnsPostgresEventLogStorage(KnownAssetKeyColumns, PostgresEventLogStorage):
    """``PostgresEventLogStorage`` that reflects each ``asset_keys`` column until it has found it once."""


class KnownColumnsPostgresRunStorage(KnownRunColumns, PostgresRunStorage):
    """``PostgresRunStorage`` that reflects each ``runs`` column until it has found it once."""


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
        self._schedule_storage = PostgresScheduleStorage(
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
