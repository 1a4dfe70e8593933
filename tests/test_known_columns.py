"""Storages that remember the schema's columns: reflected until found once, then never again in the process."""

import shutil
from pathlib import Path

import pytest
import yaml
from dagster import AssetMaterialization, DagsterInstance

from gwtm_assets.devtools.postgres import PostgresServer
from gwtm_assets.devtools.sql_activity import SqlActivity
from gwtm_assets.runtime.known_columns import KnownEventLogSchema, KnownRunColumns
from gwtm_assets.runtime.postgres_storage import KnownColumnsPostgresStorage
from gwtm_assets.runtime.sqlite_storage import ShardTemplateSqliteStorage

REPO = Path(__file__).resolve().parents[1]


class Schema:
    """A run storage's schema checks, answering ``present`` and counting the questions."""

    def __init__(self) -> None:
        self.present, self.asked = False, 0

    def has_run_stats_index_cols(self) -> bool:
        self.asked += 1
        return self.present


class KnownSchema(KnownRunColumns, Schema):
    pass


def test_a_column_not_found_is_asked_again_and_one_found_is_not():
    storage = KnownSchema()
    assert not storage.has_run_stats_index_cols() and not storage.has_run_stats_index_cols()
    assert storage.asked == 2  # a database not migrated: Dagster's fallback every time, as before
    storage.present = True
    assert storage.has_run_stats_index_cols() and storage.has_run_stats_index_cols()
    assert storage.asked == 3


class EventLogSchema:
    """An event log storage's table and secondary-index checks, answering ``present`` and counting the questions."""

    def __init__(self) -> None:
        self.present, self.asked = False, 0

    def has_table(self, table_name: str) -> bool:
        self.asked += 1
        return self.present

    def has_secondary_index(self, name: str) -> bool:
        self.asked += 1
        return self.present


class KnownEventLogTables(KnownEventLogSchema, EventLogSchema):
    pass


@pytest.mark.parametrize("question", ["has_table", "has_secondary_index"])
def test_a_table_or_index_not_found_is_asked_again_and_one_found_is_not(question):
    storage = KnownEventLogTables()
    ask = getattr(storage, question)
    assert not ask("asset_event_tags") and not ask("asset_event_tags")
    assert storage.asked == 2
    storage.present = True
    assert ask("asset_event_tags") and ask("asset_event_tags")
    assert storage.asked == 3
    assert ask("another") and storage.asked == 4  # each name on its own


@pytest.fixture
def statements():
    """Every SQL statement any engine executes while the test runs."""
    with SqlActivity() as activity:
        yield activity.statements


def reflections_per_event(instance: DagsterInstance, statements: list[str], marker: str) -> float:
    """Schema questions (statements containing ``marker``: columns, tables, secondary indexes) per asset event stored
    (with tags, as a run's are) and run-records read, after a first."""
    instance.report_runless_asset_event(AssetMaterialization("first", tags={"gwtm/tag": "x"}))
    instance.get_run_records(limit=1)
    before = len(statements)
    for number in range(10):
        instance.report_runless_asset_event(AssetMaterialization(f"asset_{number}", tags={"gwtm/tag": "x"}))
        instance.get_run_records(limit=1)
    return sum(marker in statement for statement in statements[before:]) / 10


def test_the_single_hosts_storage_reflects_no_column_twice(tmp_path, monkeypatch, statements):
    shutil.copy(REPO / "dagster.yaml", tmp_path / "dagster.yaml")
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        assert isinstance(instance.get_ref().storage, ShardTemplateSqliteStorage)
        assert reflections_per_event(instance, statements, "PRAGMA") == 0
    stock = tmp_path / "stock"
    stock.mkdir()
    with DagsterInstance.local_temp(str(stock)) as instance:  # Dagster's own SQLite storage
        assert reflections_per_event(instance, statements, "PRAGMA") >= 2


@pytest.mark.servers
def test_the_production_storage_reflects_no_column_twice(tmp_path, monkeypatch, statements):
    with PostgresServer() as pg:
        for name, value in (pg.env | {"RUN_WORKERS_ADDRESS": "unix:@gwtm-no-pool"}).items():
            monkeypatch.setenv(name, value)
        production = yaml.safe_load((REPO / "deploy" / "dagster.production.yaml").read_text())
        production["storage"]["custom"]["config"]["postgres_db"]["port"] = pg.port
        (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(production))
        with DagsterInstance.from_config(str(tmp_path)) as instance:
            assert isinstance(instance.get_ref().storage, KnownColumnsPostgresStorage)
            assert reflections_per_event(instance, statements, "pg_catalog") == 0
        # The same database through Dagster's own storage (storage: postgres:).
        production["storage"] = {"postgres": production["storage"]["custom"]["config"]}
        (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(production))
        with DagsterInstance.from_config(str(tmp_path)) as instance:
            assert not isinstance(instance.get_ref().storage, KnownColumnsPostgresStorage)
            assert reflections_per_event(instance, statements, "pg_catalog") >= 2
