"""``gwtm-cron daemon``: Dagster's sensor loop period set from SENSOR_LOOP_S, the rest is ``dagster-daemon run``."""

import pytest
from dagster._daemon import sensor as sensor_daemon

from gwtm_assets import cli
from gwtm_assets.runtime import daemon as runtime_daemon
from gwtm_assets.runtime.daemon import LOOP_CONSTANT, SensorLoopUnavailable, set_sensor_loop


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
