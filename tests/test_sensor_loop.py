"""``gwtm-cron daemon``: Dagster's sensor loop period set from SENSOR_LOOP_S, its instance's PostgreSQL connections
pooled, the rest is ``dagster-daemon run``."""

import time
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from dagster import DagsterInstance
from dagster._daemon import cli as daemon_cli
from dagster._daemon import sensor as sensor_daemon

from gwtm_assets import cli
from gwtm_assets.devtools.postgres import DATABASE, PostgresServer
from gwtm_assets.runtime import daemon as runtime_daemon
from gwtm_assets.runtime.daemon import LOOP_CONSTANT, SensorLoopUnavailable, set_sensor_loop

REPO = Path(__file__).resolve().parents[1]


def test_the_loop_period_is_set_and_dagsters_own_returned(monkeypatch):
    monkeypatch.setattr(sensor_daemon, LOOP_CONSTANT, 5)
    assert set_sensor_loop(0.5) == 5
    assert sensor_daemon.MIN_INTERVAL_LOOP_TIME == 0.5


def test_a_dagster_without_the_constant_stops_with_one_line(monkeypatch, capsys):
    monkeypatch.delattr(sensor_daemon, LOOP_CONSTANT)
    with pytest.raises(SensorLoopUnavailable, match="SENSOR_LOOP_S"):
        set_sensor_loop(0.5)
    assert cli.main(["daemon", "-w", "workspace.yaml"]) == 2
    assert capsys.readouterr().err.startswith("gwtm-cron daemon: dagster._daemon.sensor.MIN_INTERVAL_LOOP_TIME")


def test_dagster_daemon_options_pass_through_and_the_setting_applies(monkeypatch):
    calls = []
    monkeypatch.setattr(runtime_daemon, "run_daemon", lambda args, loop_s: calls.append((args, loop_s)) or 0)
    monkeypatch.setenv("SENSOR_LOOP_S", "0.25")
    assert cli.main(["daemon", "-w", "workspace.yaml", "--log-level", "debug"]) == 0
    assert calls == [(["-w", "workspace.yaml", "--log-level", "debug"], 0.25)]
    with pytest.raises(SystemExit):  # other commands still refuse options they do not have
        cli.main(["ingest", "--no-such-option", "x.json"])


@pytest.mark.parametrize("value", ["0", "6", "soon"])
def test_a_bad_sensor_loop_is_refused_naming_the_variable(monkeypatch, capsys, value):
    monkeypatch.setenv("SENSOR_LOOP_S", value)
    assert cli.main(["daemon"]) == 2
    assert "SENSOR_LOOP_S" in capsys.readouterr().err


def _sessions(url: str) -> int:
    """Sessions the server has opened to the instance's database (PostgreSQL's own count)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_stat_force_next_flush()"))
        return conn.execute(sa.text(f"SELECT sessions FROM pg_stat_database WHERE datname = '{DATABASE}'")).scalar()


@pytest.mark.servers
def test_the_daemons_instance_keeps_its_postgresql_connections_open(monkeypatch, tmp_path):
    with PostgresServer() as pg:
        for name, value in (pg.env | {"RUN_WORKERS_ADDRESS": "unix:@gwtm-no-pool"}).items():
            monkeypatch.setenv(name, value)
        production = (REPO / "deploy" / "dagster.production.yaml").read_text()
        (tmp_path / "dagster.yaml").write_text(production.replace("port: 5432", f"port: {pg.port}"))
        url = f"postgresql://{pg.env['DAGSTER_PG_USERNAME']}@127.0.0.1:{pg.port}/{DATABASE}"

        def sessions_for_queries(instance: DagsterInstance) -> int:
            before = _sessions(url)
            for _ in range(20):
                instance.get_runs(limit=1)
                instance.has_dynamic_partition("gw_alerts", "x")
            time.sleep(1.5)  # a closed session's count reaches the statistics when its backend exits
            return _sessions(url) - before - 1  # our own counting session

        # Dagster's own storage of the same database (storage: postgres:): a new connection per query (NullPool).
        stock_home = tmp_path / "stock"
        stock_home.mkdir()
        stock_instance = yaml.safe_load(production.replace("port: 5432", f"port: {pg.port}"))
        stock_instance["storage"] = {"postgres": stock_instance["storage"]["custom"]["config"]}
        (stock_home / "dagster.yaml").write_text(yaml.safe_dump(stock_instance))
        with DagsterInstance.from_config(str(stock_home)) as stock:
            assert sessions_for_queries(stock) >= 40

        # gwtm-cron daemon's instance: the one dagster-daemon run opens, its connections held.
        monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
        monkeypatch.setattr(sensor_daemon, LOOP_CONSTANT, 5)  # both restored after the test
        monkeypatch.setattr(daemon_cli, "get_instance_for_cli", daemon_cli.get_instance_for_cli)
        monkeypatch.setattr(daemon_cli.run_command, "main", lambda **_: None)
        assert runtime_daemon.run_daemon([], 0.5) == 0
        with daemon_cli.get_instance_for_cli() as instance:
            assert sessions_for_queries(instance) <= 3
