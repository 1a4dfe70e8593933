"""``gwtm-cron daemon``: ``dagster-daemon run`` with the sensor loop passing every ``SENSOR_LOOP_S``, not every 5 s.

Dagster's sensor daemon starts a pass over the sensors at most every 5 s (``MIN_INTERVAL_LOOP_TIME`` in
``dagster/_daemon/sensor.py``, a module constant with no setting). The notice sensors return at their first
message, so a notice that arrives within ~5 s after another waited for the next pass: produce -> record p50
2.8-3.1 s for notices 2 s apart, against 1.1-1.6 s from landing to record. With threaded sensors
(``sensors: use_threads``) a pass only submits the sensors whose tick is not in flight and whose
``minimum_interval_seconds`` has elapsed, so a short pass costs one instigator-state query and a workspace lookup.
Everything else is ``dagster-daemon run`` itself, in this process, with its options.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from dagster._daemon import sensor as sensor_daemon

logger = logging.getLogger(__name__)

#: Dagster's name for the sensor loop's period; checked on every start so an upgrade that renames it stops here.
LOOP_CONSTANT = "MIN_INTERVAL_LOOP_TIME"


class SensorLoopUnavailable(RuntimeError):
    """This Dagster has no sensor-loop period to set: run ``dagster-daemon run`` (5 s) or pin Dagster."""


def set_sensor_loop(seconds: float) -> float:
    """Make the sensor daemon of this process pass every ``seconds``; returns Dagster's own period."""
    stock = getattr(sensor_daemon, LOOP_CONSTANT, None)
    if not isinstance(stock, int | float):
        raise SensorLoopUnavailable(
            f"dagster._daemon.sensor.{LOOP_CONSTANT} is gone in this Dagster; SENSOR_LOOP_S cannot apply "
            "(run dagster-daemon run instead)"
        )
    setattr(sensor_daemon, LOOP_CONSTANT, seconds)
    return stock


def run_daemon(daemon_args: Sequence[str], sensor_loop_s: float) -> int:
    """``dagster-daemon run <daemon_args>`` in this process with the sensor loop at ``sensor_loop_s``."""
    from dagster._daemon.cli import run_command

    stock = set_sensor_loop(sensor_loop_s)
    logger.info("sensor loop every %.2f s (SENSOR_LOOP_S; dagster-daemon: %s s)", sensor_loop_s, stock)
    run_command.main(args=list(daemon_args), prog_name="gwtm-cron daemon", standalone_mode=False)
    return 0
