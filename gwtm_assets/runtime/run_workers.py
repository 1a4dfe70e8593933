"""Warm run workers: a pool process that has Dagster and the code location imported and forks one worker per run.

A cold run worker (``DefaultRunLauncher``, or a Kubernetes run pod) spends
1-3 s importing Dagster and loading the code location before the first asset
runs; for an alert that is most of the time to its GWTM record. This
pool does that work once: it imports the code location (and the libraries
the assets use), builds the repository, then serves launch requests. Each
run still gets a process of its own, forked from the warm pool, and runs
exactly as ``dagster api execute_run`` would (the same
``_execute_run_command_body``: run status, events, the run's executor), so
a crash takes down one run, and the launcher's health check sees it. The
pool also keeps DAGSTER_HOME's instance, made once and holding no connection
(``open_kept_instance``): a worker whose launch names that instance inherits
it instead of making one.

The pool listens on a Unix socket (single host; ``unix:@name`` is abstract) or TCP (compose, Kubernetes:
next to the code server, from the same image). One JSON object per line::

    {"op": "launch", "run_id": ..., "instance_ref": <serialized InstanceRef>} -> {"pid": 123, "started": 4567}
    {"op": "resume", "run_id": ..., "instance_ref": ...} -> the same    (a run whose worker died, from its last step)
    {"op": "alive", "pid": 123, "started": 4567} -> {"alive": true}   (the same process: pid and start time)
    {"op": "interrupt", "pid": 123}  -> {"interrupted": true}    (SIGINT: Dagster cancels the run)
    {"op": "ping"}                   -> {"pid": <pool pid>, "preloaded": [...], "runs": N, "runs_on_kept_instance": M}

A launch request names a run and a serialized instance reference, and the
pool imports and builds what that names: whoever reaches the port can make it
run code. With ``RUN_WORKERS_TOKEN`` set (a Secret), every request must carry
it (``"token"``, compared in constant time); any other is refused with one log
line, and nothing runs. Without it, listen only where nothing else reaches (a
Unix socket, loopback): the pool warns when it listens on another address
without a token.

    gwtm-cron run-workers [--listen unix:/path | unix:@name | host:port]
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import json
import logging
import os
import signal
import socket
import socketserver
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..run_tags import PRODUCTS_STAGE, STAGE_TAG
from ..settings import GWTMSettings
from ..startup_heap import freeze_startup_heap

if TYPE_CHECKING:
    from dagster import DagsterInstance

logger = logging.getLogger(__name__)

#: The pool's address for both the pool and the launcher (see ``default_address``).
ADDRESS_ENV = "RUN_WORKERS_ADDRESS"
#: The code location, what its assets import lazily (each 0.2-2 s cold) and Dagster's run storage (0.5 s):
#: imported once, shared by every fork. A module's ``warm_up()``, if it has one, is called after the import.
#: Import only: nothing here may start a thread pool. A process that has called mocpy (Rayon's threads) forks
#: children that hang in their first ``MOC.from_valued_healpix_cells``: tried, with a notice ingested before the forks.
DEFAULT_PRELOAD = (
    "gwtm_assets.definitions",
    "dagster._core.storage.event_log",
    "dagster._core.storage.runs",
    "dagster._core.storage.schedules",
    "dagster._daemon",
    "astropy.io.fits",
    "healpy",
    "mocpy",
    "shapely",
    "scipy.spatial",
    "gwtm_assets.science.quicklook",
    # What a run imported after the fork all the same (the worker's log line below names any): Dagster's run body
    # (its CLI package) and in-process executor, the compute-log manager, the notice schema, requests' netrc lookup.
    # With the kept instance, a worker's set-up CPU 126 -> 62 ms (benchmarks/bench_postgres_instances.py).
    "dagster._cli.api",
    "dagster._core.execution.run_cancellation_thread",
    "dagster._core.execution.run_metrics_thread",
    "dagster._utils.container",
    "dagster._utils.test.definitions",
    "dagster._core.executor.in_process",
    "dagster._core.execution.plan.active",
    "dagster._core.system_config.composite_descent",
    "dagster._core.utility_ops",
    "dagster._core.workspace.autodiscovery",
    "dagster._core.storage.local_compute_log_manager",
    "watchdog.observers.polling",
    "igwn_gwalert_schema",
    "netrc",
)
#: How much lower a products run's CPU priority is than a record run's (``nice``: 10 gives it ~1/10 of a core that
#: a record run also wants).
PRODUCTS_NICENESS = 10
#: Connections a run worker may open beyond its one pooled connection per storage (PostgreSQL), for overlapping
#: queries (the executor's event writes and a step's own instance reads).
WORKER_DB_OVERFLOW = 4
#: Exit codes of finished workers kept for ``alive`` answers.
KEPT_EXIT_CODES = 1024


class PoolUnavailable(ConnectionError):
    """The pool could not be reached or did not answer in time."""


def default_address(dagster_home: str | None = None) -> str:
    """``RUN_WORKERS_ADDRESS``, else an abstract Unix socket named after ``$DAGSTER_HOME`` (one pool per instance).

    Abstract (``unix:@name``): no file to clean up and no 108-byte path limit for deep ``DAGSTER_HOME``s.
    """
    configured = GWTMSettings().run_workers_address
    if configured:
        return configured
    home = str(Path(dagster_home or os.environ.get("DAGSTER_HOME") or ".").resolve())
    return f"unix:@gwtm-run-workers-{hashlib.sha256(home.encode()).hexdigest()[:16]}"


def process_alive(pid: int, started: int | None = None) -> bool:
    """Whether ``pid`` is a live (not zombie) process in this PID namespace, and, with ``started``, the same process
    that was given that pid (a pool restarted in a new container or pod numbers its processes from 1 again)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[0] not in ("Z", "X") and (started is None or int(fields[19]) == started)


def process_start_ticks(pid: int) -> int:
    """When ``pid`` started, in clock ticks since boot (``/proc/<pid>/stat`` field 22): with the pid, the process."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[19])


def _target(address: str) -> tuple[socket.AddressFamily, str | tuple[str, int]]:
    """The socket family and the ``bind``/``connect`` target of ``unix:/path``, ``unix:@name`` or ``host:port``."""
    if address.startswith("unix:"):
        path = address.removeprefix("unix:")
        return socket.AF_UNIX, "\0" + path[1:] if path.startswith("@") else path
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"run-worker pool address {address!r}: expected unix:/path, unix:@name or host:port")
    return socket.AF_INET, (host, int(port))


def _socket_file(address: str) -> Path | None:
    """The file of a filesystem Unix socket (``unix:/path``); None for abstract and TCP addresses."""
    family, target = _target(address)
    return Path(target) if isinstance(target, str) and not target.startswith("\0") else None


@dataclass(frozen=True)
class RunWorkerPoolClient:
    """Requests to a pool; every failure to get an answer is :class:`PoolUnavailable`."""

    address: str
    timeout_s: float = 5.0
    token: str = ""

    def request(self, message: Mapping[str, object]) -> dict:
        if self.token:
            message = {**message, "token": self.token}
        try:
            family, target = _target(self.address)
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout_s)
                sock.connect(target)
                sock.sendall(json.dumps(message).encode() + b"\n")
                with sock.makefile("rb") as reply:
                    line = reply.readline()
        except OSError as exc:
            raise PoolUnavailable(f"run-worker pool at {self.address}: {exc}") from exc
        if not line:
            raise PoolUnavailable(f"run-worker pool at {self.address} closed the connection without an answer")
        answer = json.loads(line)
        if "error" in answer:
            raise PoolUnavailable(f"run-worker pool at {self.address}: {answer['error']}")
        return answer

    def launch(self, run_id: str, serialized_instance_ref: str, resume: bool = False) -> tuple[int, int | None]:
        """The worker's pid and start time (``process_start_ticks``); ``resume``: the run's steps not yet done."""
        answer = self.request(
            {"op": "resume" if resume else "launch", "run_id": run_id, "instance_ref": serialized_instance_ref}
        )
        return int(answer["pid"]), answer.get("started")

    def alive(self, pid: int, started: int | None = None) -> bool:
        return bool(self.request({"op": "alive", "pid": pid, "started": started})["alive"])

    def interrupt(self, pid: int) -> bool:
        return bool(self.request({"op": "interrupt", "pid": pid})["interrupted"])

    def ping(self) -> dict:
        return self.request({"op": "ping"})


def run_in_worker(
    run_id: str, serialized_instance_ref: str, resume: bool = False, instance: DagsterInstance | None = None
) -> int:
    """Execute one run in this (forked) process as ``dagster api execute_run`` does, or with ``resume`` as
    ``dagster api resume_run`` (run monitoring resuming a run whose worker died); the exit code. ``instance``: the
    pool's own instance, when the launch names the same (``open_kept_instance``); else one made here."""
    from dagster import DagsterInstance
    from dagster._cli.api import _execute_run_command_body, _resume_run_command_body
    from dagster._core.instance.ref import InstanceRef
    from dagster._serdes import deserialize_value

    if instance is None:
        instance = DagsterInstance.from_ref(deserialize_value(serialized_instance_ref, InstanceRef))
    with instance:
        # Dagster's PostgreSQL storage opens a connection per query (NullPool) and a run writes ~100 events: the
        # worker holds a pooled connection per storage for its life instead, as the webserver does (no-op on SQLite).
        # The production storage keeps its connections already, one pool for all three (runtime/postgres_storage.py).
        if not getattr(instance.run_storage, "keeps_connections", False):
            instance.optimize_for_webserver(statement_timeout=0, pool_recycle=-1, max_overflow=WORKER_DB_OVERFLOW)
        run = instance.get_run_by_id(run_id)
        if run is not None and run.tags.get(STAGE_TAG) == PRODUCTS_STAGE:
            # On a busy host the records' runs get the CPU first: the products of earlier notices only wait.
            os.nice(PRODUCTS_NICENESS)
        body = _resume_run_command_body if resume else _execute_run_command_body
        return body(run_id, instance, lambda _event: None, set_exit_code_on_failure=True)


def preload(modules: Iterable[str]) -> list[str]:
    """Import ``modules`` and build the repository and jobs of every ``Definitions`` they hold (cached for the forks)."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    from dagster import Definitions

    loaded = []
    for name in modules:
        module = importlib.import_module(name)
        for value in vars(module).values():
            if isinstance(value, Definitions):
                value.get_repository_def().get_all_jobs()  # built once here, not in every worker
        if callable(getattr(module, "warm_up", None)):
            module.warm_up()
        loaded.append(name)
    return loaded


def open_kept_instance() -> DagsterInstance | None:
    """DAGSTER_HOME's instance, made once in the pool for every worker whose launch names that instance: a worker then
    inherits it instead of making its own (reading the instance's configuration, making its storages, their checks of
    the database: 69 -> 44 ms of a worker's set-up CPU on PostgreSQL, ``benchmarks/bench_postgres_instances.py``).

    Made before any fork and left holding no connection (``release_connections``): neither SQLite nor libpq allows a
    connection carried across ``fork()``, and a worker opens its own (``process_engines``). The pool never uses it."""
    if not os.environ.get("DAGSTER_HOME"):
        return None
    from dagster import DagsterInstance

    try:
        instance = DagsterInstance.get()
    except Exception as exc:  # noqa: BLE001 - e.g. an instance file for another deployment's variables
        logger.warning("run-worker pool: DAGSTER_HOME's instance not opened; each worker opens its own: %s", exc)
        return None
    release_connections(instance)
    return instance


def release_connections(instance: DagsterInstance) -> None:
    """Close every connection ``instance``'s storages keep open in this process; they open new ones when next used."""
    for storage in (instance.run_storage, instance.event_log_storage, instance.schedule_storage):
        release = getattr(storage, "release_connections", None)
        if callable(release):
            release()


class _Handler(socketserver.StreamRequestHandler):
    timeout = 5
    server: RunWorkerPool  # type: ignore[assignment]  # the server this handler is registered with

    def handle(self) -> None:
        try:
            message = json.loads(self.rfile.readline())
            answer = self.server.answer(message, self.client_address)
        except Exception as exc:  # noqa: BLE001 - a bad request gets an answer, the pool keeps serving
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        if answer is not None:
            self.wfile.write(json.dumps(answer).encode() + b"\n")


class RunWorkerPool:
    """The pool: a single-threaded server (forking from a threaded process is unsafe) that forks run workers."""

    def __init__(
        self, address: str, preloaded: list[str], token: str = "", instance: DagsterInstance | None = None
    ) -> None:
        from dagster._serdes import serialize_value

        self.address = address
        self.preloaded = preloaded
        self.kept_instance = instance
        # the launcher names its instance as serialize_value(instance.get_ref()) (run_launcher.py)
        self._kept_instance_ref = serialize_value(instance.get_ref()) if instance is not None else None
        self.runs_on_kept_instance = 0
        self._token = token
        self.workers: dict[int, str] = {}
        self.exit_codes: dict[int, int] = {}
        self.runs = 0
        self.server = self._bind(address)
        self.server.answer = self.answer  # type: ignore[attr-defined]
        self.server.service_actions = self.reap  # type: ignore[method-assign]

    @staticmethod
    def _bind(address: str) -> socketserver.BaseServer:
        family, target = _target(address)
        if family == socket.AF_UNIX:
            if file := _socket_file(address):
                file.unlink(missing_ok=True)
            return socketserver.UnixStreamServer(str(target), _Handler)
        server_class = type("Server", (socketserver.TCPServer,), {"allow_reuse_address": True})
        return server_class(target, _Handler)

    def authorized(self, message: Mapping[str, object], peer: object = "?") -> bool:
        """Whether ``message`` carries the pool's token (always, when it has none); a refusal is logged once."""
        if not self._token:
            return True
        given = message.get("token")
        if isinstance(given, str) and hmac.compare_digest(given.encode(), self._token.encode()):
            return True
        why = "no token" if given is None else "a wrong token"
        logger.warning("refused a %r request from %s: %s (RUN_WORKERS_TOKEN)", str(message.get("op"))[:20], peer, why)
        return False

    def answer(self, message: Mapping[str, object], peer: object = "?") -> dict | None:
        if not self.authorized(message, peer):
            return {"error": "unauthorized: this pool requires RUN_WORKERS_TOKEN"}
        op = message.get("op")
        if op in ("launch", "resume"):
            pid = self.fork_worker(str(message["run_id"]), str(message["instance_ref"]), resume=op == "resume")
            return {"pid": pid, "started": process_start_ticks(pid)}
        if op == "alive":
            pid = int(str(message["pid"]))
            started = message.get("started")
            alive = pid not in self.exit_codes and process_alive(pid, None if started is None else int(str(started)))
            return {"alive": alive, "exit_code": self.exit_codes.get(pid)}
        if op == "interrupt":
            pid = int(str(message["pid"]))
            if pid not in self.workers:
                return {"interrupted": False}
            os.kill(pid, signal.SIGINT)
            return {"interrupted": True}
        if op == "ping":
            return {
                "pid": os.getpid(), "preloaded": self.preloaded, "runs": self.runs, "workers": len(self.workers),
                "runs_on_kept_instance": self.runs_on_kept_instance,
            }  # fmt: skip
        return {"error": f"unknown op {op!r}"}

    def fork_worker(self, run_id: str, serialized_instance_ref: str, resume: bool = False) -> int:
        kept = self.kept_instance if serialized_instance_ref == self._kept_instance_ref else None
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            preloaded = set(sys.modules)
            try:
                self.server.socket.close()  # type: ignore[attr-defined]  # a TCPServer or UnixStreamServer
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.default_int_handler)
                code = run_in_worker(run_id, serialized_instance_ref, resume, kept)
                if imported := sorted(set(sys.modules) - preloaded):
                    # each is paid by every run: a lazy import the pool should make once (DEFAULT_PRELOAD)
                    logger.info("run %s imported %d modules the pool had not: %s", run_id, len(imported),
                                ", ".join(imported))  # fmt: skip
            except BaseException:  # logged, then the worker exits: never back into the pool's loop
                logger.exception("run worker for %s failed", run_id)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        self.workers[pid] = run_id
        self.runs += 1
        self.runs_on_kept_instance += kept is not None
        if kept is not None:
            instance = "the pool's instance"
        elif self.kept_instance is not None:  # same DAGSTER_HOME and dagster.yaml everywhere, or each run pays this
            instance = "an instance of its own: the launch names another than the pool's"
        else:
            instance = "an instance of its own"
        logger.info("run %s: worker pid %d%s, on %s", run_id, pid, " (resumed)" if resume else "", instance)
        return pid

    def reap(self) -> None:
        while self.workers:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            run_id = self.workers.pop(pid, None)
            self.exit_codes[pid] = os.waitstatus_to_exitcode(status)
            if len(self.exit_codes) > KEPT_EXIT_CODES:
                self.exit_codes.pop(next(iter(self.exit_codes)))
            logger.info("run %s: worker pid %d exited with %d", run_id, pid, self.exit_codes[pid])

    def serve_forever(self) -> None:
        def stop(signum: int, _frame: object) -> None:
            raise SystemExit(128 + signum)

        signal.signal(signal.SIGTERM, stop)
        try:
            self.server.serve_forever(poll_interval=0.5)
        except (SystemExit, KeyboardInterrupt):
            logger.info("run-worker pool stopping; %d worker(s) still running finish on their own", len(self.workers))
        finally:
            self.server.server_close()
            if file := _socket_file(self.address):
                file.unlink(missing_ok=True)


def reachable_from_elsewhere(address: str) -> bool:
    """Whether other hosts or containers may reach ``address``: TCP on anything but loopback."""
    family, target = _target(address)
    return family != socket.AF_UNIX and isinstance(target, tuple) and not target[0].startswith(("127.", "localhost"))


def serve(address: str, modules: Iterable[str] = DEFAULT_PRELOAD, token: str = "") -> None:
    """Preload, then serve launch requests on ``address`` until SIGTERM/SIGINT; with ``token``, only requests
    carrying it."""
    if not token and reachable_from_elsewhere(address):
        logger.warning(
            "run-worker pool on %s without RUN_WORKERS_TOKEN: anyone who reaches the port can run code here; "
            "set RUN_WORKERS_TOKEN (a Secret) for the pool and the daemon",
            address,
        )
    started = time.perf_counter()
    preloaded = preload(modules)
    instance = open_kept_instance()
    if instance is not None:
        preloaded.append("the instance of DAGSTER_HOME")
    # What is preloaded lives as long as the pool: kept out of the collector, so a worker's collections never
    # walk (and so copy, page by page) the hundreds of MB it shares with the pool.
    freeze_startup_heap()
    pool = RunWorkerPool(address, preloaded, token, instance)
    logger.info(
        "run-worker pool on %s (pid %d): %s preloaded in %.1f s",
        address,
        os.getpid(),
        ", ".join(preloaded),
        time.perf_counter() - started,
    )
    pool.serve_forever()
