"""The run-worker pool's port is not an open door: with RUN_WORKERS_TOKEN, a request without it or with another
is refused in one log line and runs nothing; the launcher's client, the health check and the exporter carry it."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gwtm_assets.devtools.tansu import free_port
from gwtm_assets.runtime.run_workers import PoolUnavailable, RunWorkerPoolClient

TOKEN = "pool-secret-for-this-test"


def _raw_request(address: str, message: dict) -> dict:
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(json.dumps(message).encode() + b"\n")
        return json.loads(sock.makefile("rb").readline())


@pytest.fixture
def pool(tmp_path):
    address = f"127.0.0.1:{free_port()}"
    log = tmp_path / "pool.log"
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "gwtm-cron"), "run-workers", "--listen", address, "--preload", "json"],
        env={**os.environ, "RUN_WORKERS_TOKEN": TOKEN, "DAGSTER_HOME": str(tmp_path)},
        stdout=subprocess.DEVNULL, stderr=open(log, "wb"),
    )  # fmt: skip
    client = RunWorkerPoolClient(address, token=TOKEN)
    deadline = time.monotonic() + 60
    while True:
        try:
            client.ping()
            break
        except PoolUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    yield address, client, log
    process.terminate()
    process.wait(timeout=15)


def test_requests_without_the_token_or_with_another_are_refused_and_run_nothing(pool):
    address, client, log = pool
    launch = {"op": "launch", "run_id": "r-1", "instance_ref": '{"__class__": "InstanceRef"}'}
    assert _raw_request(address, launch) == {"error": "unauthorized: this pool requires RUN_WORKERS_TOKEN"}
    assert "error" in _raw_request(address, {**launch, "token": "guessed"})
    assert "error" in _raw_request(address, {"op": "ping"})
    with pytest.raises(PoolUnavailable, match="unauthorized"):
        RunWorkerPoolClient(address, token="guessed").ping()
    assert client.ping()["runs"] == 0, "nothing was forked"
    refusals = [line for line in log.read_text().splitlines() if "refused" in line]
    assert len(refusals) == 4 and all("RUN_WORKERS_TOKEN" in line for line in refusals)
    assert "no token" in refusals[0] and "a wrong token" in refusals[1]
    assert "guessed" not in log.read_text() and TOKEN not in log.read_text()


def test_the_health_check_carries_the_token(pool):
    address, _, _ = pool
    check = [str(Path(sys.executable).parent / "gwtm-cron"), "run-workers", "--check", "--listen", address]
    with_token = subprocess.run(check, env={**os.environ, "RUN_WORKERS_TOKEN": TOKEN}, capture_output=True, text=True)
    assert with_token.returncode == 0, with_token.stderr
    without = subprocess.run(check, env={k: v for k, v in os.environ.items() if k != "RUN_WORKERS_TOKEN"},
                             capture_output=True, text=True)  # fmt: skip
    assert without.returncode == 1 and "unauthorized" in without.stderr


def test_a_live_process_with_a_workers_pid_but_another_start_time_is_not_that_worker(pool):
    """A pool recreated in a new pod numbers its processes from 1 again: the old run's worker pid may belong to a
    new process there. With the worker's start time the pool says "gone", so run monitoring fails the old run."""
    from gwtm_assets.runtime.run_workers import process_start_ticks

    _, client, _ = pool
    pool_pid = client.ping()["pid"]  # a live process of the pool's namespace standing in for a reused pid
    started = process_start_ticks(pool_pid)
    assert client.alive(pool_pid)
    assert client.alive(pool_pid, started)
    assert not client.alive(pool_pid, started - 1)
