"""The production PostgreSQL storage: every instance a process makes shares the process's kept connections."""

import os
from pathlib import Path

import psycopg2
import pytest
import yaml
from dagster import AssetKey, AssetMaterialization, DagsterInstance
from sqlalchemy import text

from gwtm_assets.devtools.postgres import PostgresServer
from gwtm_assets.devtools.sql_activity import SqlActivity
from gwtm_assets.runtime import postgres_storage
from gwtm_assets.runtime.postgres_storage import PROCESS_ENGINES, KnownColumnsPostgresStorage

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.servers


@pytest.fixture(scope="module")
def postgres():
    with PostgresServer() as server:
        yield server


def instance_dir(tmp_path: Path, postgres: PostgresServer, monkeypatch, dagster_storage: bool = False) -> str:
    """A DAGSTER_HOME with the production instance on ``postgres`` (with ``dagster_storage``, as ``storage:
    postgres:``, Dagster's own storage of the same database)."""
    for name, value in (postgres.env | {"RUN_WORKERS_ADDRESS": "unix:@gwtm-no-pool"}).items():
        monkeypatch.setenv(name, value)
    production = yaml.safe_load((REPO / "deploy" / "dagster.production.yaml").read_text())
    config = production["storage"]["custom"]["config"]
    config["postgres_db"]["port"] = postgres.port
    if dagster_storage:
        production["storage"] = {"postgres": config}
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(production))
    return str(tmp_path)


@pytest.fixture
def connections():
    with SqlActivity() as activity:
        yield activity


def a_sensor_tick(home: str) -> None:
    """What the code server does for a sensor tick: a new instance, a few queries, the instance disposed."""
    with DagsterInstance.from_config(home) as instance:
        instance.get_run_records(limit=1)
        instance.report_runless_asset_event(AssetMaterialization("tick"))
        instance.get_asset_records()


def backend_pid(instance: DagsterInstance) -> int:
    with instance.run_storage.connect() as connection:  # type: ignore[attr-defined]
        return connection.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_the_instances_of_a_process_open_no_connection_after_the_first(tmp_path, postgres, monkeypatch, connections):
    home = instance_dir(tmp_path, postgres, monkeypatch)
    a_sensor_tick(home)
    before = connections.connections
    for _ in range(10):
        a_sensor_tick(home)
    assert connections.connections == before
    with DagsterInstance.from_config(home) as instance:
        assert isinstance(instance.get_ref().storage, KnownColumnsPostgresStorage)
    # The same ticks on Dagster's own storage of the same database: new connections every time.
    stock = tmp_path / "stock"
    stock.mkdir()
    stock_home = instance_dir(stock, postgres, monkeypatch, dagster_storage=True)
    a_sensor_tick(stock_home)
    before = connections.connections
    for _ in range(10):
        a_sensor_tick(stock_home)
    assert connections.connections - before >= 10 * 4  # three table checks and a connection per query


def test_a_forked_child_opens_its_own_connections_and_leaves_the_parents(tmp_path, postgres, monkeypatch):
    home = instance_dir(tmp_path, postgres, monkeypatch)
    with DagsterInstance.from_config(home) as instance:
        parents = backend_pid(instance)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            with DagsterInstance.from_config(home) as instance:
                code = 0 if backend_pid(instance) != parents else 2
        finally:
            os._exit(code)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    with DagsterInstance.from_config(home) as instance:
        assert backend_pid(instance) == parents  # the same session, not ended by the child


def test_an_idle_connection_the_server_ended_is_replaced_before_use(tmp_path, postgres, monkeypatch):
    home = instance_dir(tmp_path, postgres, monkeypatch)
    monkeypatch.setattr(postgres_storage, "PING_AFTER_IDLE_S", 0.0)  # every kept connection counts as idle
    env = postgres.env
    with DagsterInstance.from_config(home) as instance:
        kept = backend_pid(instance)
        with psycopg2.connect(
            host=env["DAGSTER_PG_HOST"], port=int(env["DAGSTER_PG_PORT"]), user=env["DAGSTER_PG_USERNAME"],
            password=env["DAGSTER_PG_PASSWORD"], dbname=env["DAGSTER_PG_DB"],
        ) as admin, admin.cursor() as cursor:  # fmt: skip
            cursor.execute("SELECT pg_terminate_backend(%s)", (kept,))
        assert instance.get_run_records(limit=1) == []  # a server restart, an idle timeout: the next query works
        assert backend_pid(instance) != kept


def test_a_storage_given_its_own_pool_keeps_it(tmp_path, postgres, monkeypatch):
    home = instance_dir(tmp_path, postgres, monkeypatch)
    with DagsterInstance.from_config(home) as instance:
        storage = instance.run_storage
        shared = storage._engine  # type: ignore[attr-defined]
        assert shared is PROCESS_ENGINES.get(storage.postgres_url)  # type: ignore[attr-defined]
        instance.optimize_for_webserver(statement_timeout=5000, pool_recycle=3600, max_overflow=2)
        assert storage._engine is not shared  # type: ignore[attr-defined]
        with storage.connect() as connection:  # type: ignore[attr-defined]
            assert connection.execute(text("SHOW statement_timeout")).scalar_one() == "5s"


def _other_sessions(postgres) -> int:
    env = postgres.env
    with psycopg2.connect(
        host=env["DAGSTER_PG_HOST"], port=int(env["DAGSTER_PG_PORT"]), user=env["DAGSTER_PG_USERNAME"],
        password=env["DAGSTER_PG_PASSWORD"], dbname=env["DAGSTER_PG_DB"],
    ) as admin, admin.cursor() as cursor:  # fmt: skip
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_the_run_worker_pools_instance_keeps_no_connection_and_serves_a_forked_worker(tmp_path, postgres, monkeypatch):
    from gwtm_assets.runtime.run_workers import open_kept_instance

    home = instance_dir(tmp_path, postgres, monkeypatch)
    monkeypatch.setenv("DAGSTER_HOME", home)
    PROCESS_ENGINES.dispose()
    before = _other_sessions(postgres)  # other tests' sessions may still be ending
    instance = open_kept_instance()
    assert instance is not None
    assert _other_sessions(postgres) <= before
    pid = os.fork()
    if pid == 0:  # a worker: the inherited instance, on connections of its own
        code = 1
        try:
            instance.report_runless_asset_event(AssetMaterialization("from_the_worker"))
            code = 0
        finally:
            os._exit(code)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    assert instance.get_latest_materialization_event(AssetKey("from_the_worker")) is not None
