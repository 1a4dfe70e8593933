"""A throw-away PostgreSQL server on loopback, for running the Dagster instance as production does (its storage).

Debian's server binaries (``postgresql``, installed by ``scripts/test-services/install.sh``); a fresh cluster in
a temporary directory, trust authentication on 127.0.0.1 only, no fsync (a test's data is thrown away), one
database. PostgreSQL refuses to run as root: as root, the server runs as the ``postgres`` system user.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .tansu import free_port

DATABASE = "dagster"
USER = "gwtm"


def server_binaries() -> Path:
    """The directory of ``initdb``/``pg_ctl``/``postgres`` (Debian's newest), or an error naming the package."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).resolve().parent
    raise FileNotFoundError("no PostgreSQL server: apt-get install postgresql (scripts/test-services/install.sh)")


class PostgresServer:
    """``with PostgresServer() as pg: pg.env`` gives the ``DAGSTER_PG_*`` variables of the production instance."""

    def __init__(self) -> None:
        self.binaries = server_binaries()
        self.root = Path(tempfile.mkdtemp(prefix="gwtm-postgres-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *command: str) -> None:
        subprocess.run([*self._as, *command], check=True, capture_output=True, timeout=120)

    def start(self) -> PostgresServer:
        if self._as:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(str(self.binaries / "initdb"), "-D", str(self.data), "-U", USER, "--auth=trust", "-E", "UTF8",
                  "--no-sync")  # fmt: skip
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -F -c max_connections=200"
        self._run(str(self.binaries / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.root / "log"),
                  "-w", "-t", "60", "start")  # fmt: skip
        self._run(str(self.binaries / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, DATABASE)
        return self

    @property
    def env(self) -> dict[str, str]:
        return {"DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": str(self.port), "DAGSTER_PG_USERNAME": USER,
                "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_DB": DATABASE}  # fmt: skip

    def stop(self) -> None:
        if self.data.exists():
            subprocess.run([*self._as, str(self.binaries / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w",
                            "stop"], check=False, capture_output=True, timeout=60)  # fmt: skip
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
