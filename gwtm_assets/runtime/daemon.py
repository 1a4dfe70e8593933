"""``gwtm-cron daemon``: ``dagster-daemon run`` with the sensor loop passing every ``SENSOR_LOOP_S``, not every 5 s.

Dagster's sensor daemon starts a pass over the sensors at most every 5 s (``MIN_INTERVAL_LOOP_TIME`` in
``dagster/_daemon/sensor.py``, a module constant with no setting). The notice sensors return at their first
message, so a notice that arrives within ~5 s after another waited for the next pass: produce -> record p50
2.8-3.1 s for notices 2 s apart, against 1.1-1.6 s from landing to record. With threaded sensors
(``sensors: use_threads``) a pass only submits the sensors whose tick is not in flight and whose
``minimum_interval_seconds`` has elapsed, so a short pass costs one instigator-state query and a workspace lookup.

The daemon's instance also keeps its PostgreSQL connections in a pool, as ``dagster-webserver`` does
(``optimize_for_webserver``): Dagster's storages open a new connection for every query and event otherwise
(``NullPool``), several per run the daemon creates, queues and launches; in a burst of 50 notices that was a third of
the daemon's CPU (py-spy), and as much again in the PostgreSQL server forking a backend for each. SQLite has no pool.
The production storage (``runtime/postgres_storage.py``) keeps every process's connections open itself.
Everything else is ``dagster-daemon run`` itself, in this process, with its options.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from dagster import DagsterInstance
from dagster._daemon import sensor as sensor_daemon

logger = logging.getLogger(__name__)

#: Dagster's name for the sensor loop's period; checked on every start so an upgrade that renames it stops here.
LOOP_CONSTANT = "MIN_INTERVAL_LOOP_TIME"
#: Connections the daemon may open beyond one pooled per storage while its threads overlap (sensors, queue, run
#: monitoring, backfills), and how long one is kept: ``dagster-webserver``'s defaults.
DAEMON_DB_OVERFLOW = 20
DAEMON_DB_POOL_RECYCLE_S = 3600


def hold_connections(instance: DagsterInstance) -> None:
    """Keep ``instance``'s PostgreSQL connections open in a pool (no statement timeout, unlike the webserver's);
    the production storage keeps them already (``runtime/postgres_storage.py``)."""
    if getattr(instance.run_storage, "keeps_connections", False):
        return
    instance.optimize_for_webserver(
        statement_timeout=0, pool_recycle=DAEMON_DB_POOL_RECYCLE_S, max_overflow=DAEMON_DB_OVERFLOW
    )


def _holding_connections(get_instance: Callable) -> Callable:
    @contextmanager
    def get_instance_holding_connections(*args: object, **kwargs: object) -> Iterator[DagsterInstance]:
        with get_instance(*args, **kwargs) as instance:
            hold_connections(instance)
            yield instance

    return get_instance_holding_connections


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
    from dagster._daemon import cli as daemon_cli

    stock = set_sensor_loop(sensor_loop_s)
    logger.info("sensor loop every %.2f s (SENSOR_LOOP_S; dagster-daemon: %s s)", sensor_loop_s, stock)
    # The instance dagster-daemon opens for its threads; only the speed depends on it, so a Dagster without it runs.
    if callable(stock_get_instance := getattr(daemon_cli, "get_instance_for_cli", None)):
        daemon_cli.get_instance_for_cli = _holding_connections(stock_get_instance)
    else:
        logger.warning("dagster._daemon.cli.get_instance_for_cli is gone: the daemon's connections are not pooled")
    daemon_cli.run_command.main(args=list(daemon_args), prog_name="gwtm-cron daemon", standalone_mode=False)
    return 0
