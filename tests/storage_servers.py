"""Real storage servers on loopback for the tests and benchmarks (docs: ../shared/docs/test-services.md).

- ``MotoS3Server``: moto's S3 server (PyPI, in the test extra).
- ``AzuriteServer``: Azurite's blob service (npm, installed into ``.cache/azurite`` on first use).
- ``SwiftServer``: an OpenStack Swift all-in-one (Debian packages, installed on first use):
  account, container, object and proxy servers with tempauth (v1 auth) and the S3 API.

``scripts/test-services/install.sh`` installs the npm and Debian parts ahead of time
(``make test`` runs it); each server also installs what it lacks when started.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from gwtm_assets.devtools.daemon import REPO
from gwtm_assets.devtools.tansu import free_port

INSTALL_SCRIPT = REPO / "scripts" / "test-services" / "install.sh"
AZURITE_BIN = REPO / ".cache" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
AZURITE_ACCOUNT = "devstoreaccount1"
#: Azurite's published development key (not a secret).
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
SWIFT_USER, SWIFT_KEY = "test:tester", "testing"


def install_test_services() -> None:
    """Install Azurite (npm) and Swift + memcached (Debian) if missing; idempotent."""
    subprocess.run(["bash", str(INSTALL_SCRIPT)], check=True)


def wait_until_up(url: str, timeout_s: float = 60, ok=(200, 400, 401, 403, 404)) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status in ok:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code in ok:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up within {timeout_s:.0f} s")


class _ProcessServer:
    """Processes started together and stopped together, each logging to ``<workdir>/<name>.log``."""

    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix=f"gwtm-{type(self).__name__.lower()}-"))
        self.processes: dict[str, subprocess.Popen] = {}

    def _spawn(self, name: str, command: list[str]) -> None:
        with open(self.workdir / f"{name}.log", "ab") as log:
            self.processes[name] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)

    def stop_process(self, name: str) -> None:
        process = self.processes.pop(name)
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop(self) -> None:
        for name in list(self.processes):
            self.stop_process(name)
        shutil.rmtree(self.workdir, ignore_errors=True)


class MotoS3Server(_ProcessServer):
    """moto's S3 API (``moto_server``, its own process: in ours it would share the GIL with the code under test)."""

    def __init__(self) -> None:
        super().__init__()
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self.start()

    def start(self) -> None:
        import sys

        self._spawn("moto", [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)])
        wait_until_up(self.endpoint_url)

    def stop_service(self) -> None:
        self.stop_process("moto")


class AzuriteServer(_ProcessServer):
    """Azurite's blob service on a free port with the well-known development account."""

    def __init__(self) -> None:
        super().__init__()
        if not AZURITE_BIN.exists():
            install_test_services()
        self.port = free_port()
        self.blob_endpoint = f"http://127.0.0.1:{self.port}/{AZURITE_ACCOUNT}"
        self.connection_string = f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};BlobEndpoint={self.blob_endpoint};"
        self.start()

    def start(self) -> None:
        self._spawn("azurite", [str(AZURITE_BIN), "--blobHost", "127.0.0.1", "--blobPort", str(self.port),
                                "--location", str(self.workdir / "data"), "--skipApiVersionCheck", "--loose", "--disableTelemetry"])  # fmt: skip
        wait_until_up(f"http://127.0.0.1:{self.port}/")


SWIFT_SERVER_CONF = """[DEFAULT]
devices = {devices}
mount_check = false
bind_ip = 127.0.0.1
bind_port = {port}
workers = {workers}
user = root
swift_dir = {swift_dir}
log_name = {kind}-server

[pipeline:main]
pipeline = {kind}-server

[app:{kind}-server]
use = egg:swift#{kind}
"""

SWIFT_PROXY_CONF = """[DEFAULT]
bind_ip = 127.0.0.1
bind_port = {port}
workers = 2
user = root
swift_dir = {swift_dir}
log_name = proxy-server

[pipeline:main]
pipeline = catch_errors proxy-logging cache s3api tempauth slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin

[filter:s3api]
use = egg:swift#s3api

# Large objects: the S3 API's multipart uploads are stored as static large objects.
[filter:slo]
use = egg:swift#slo

[filter:dlo]
use = egg:swift#dlo

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:{memcached_port}

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:proxy-logging]
use = egg:swift#proxy_logging
"""


class SwiftServer(_ProcessServer):
    """A Swift all-in-one: one ring each, one device, tempauth user ``test:tester``/``testing``, S3 API on the proxy."""

    KINDS = ("account", "container", "object")

    def __init__(self) -> None:
        super().__init__()
        if not Path("/usr/bin/swift-proxy-server").exists() or not shutil.which("memcached"):
            install_test_services()
        self.swift_dir = self.workdir / "etc"
        self.devices = self.workdir / "srv"
        (self.devices / "d1").mkdir(parents=True)
        self.swift_dir.mkdir()
        self.ports = {kind: free_port() for kind in (*self.KINDS, "proxy", "memcached")}
        for kind in self.KINDS:
            builder = str(self.swift_dir / f"{kind}.builder")
            for args in (
                ["create", "0", "1", "1"],
                ["add", f"r1z1-127.0.0.1:{self.ports[kind]}/d1", "1"],
                ["rebalance"],
            ):
                subprocess.run(
                    ["/usr/bin/python3", "/usr/bin/swift-ring-builder", builder, *args],
                    check=False,
                    capture_output=True,
                )
            (self.swift_dir / f"{kind}-server.conf").write_text(
                SWIFT_SERVER_CONF.format(
                    devices=self.devices,
                    port=self.ports[kind],
                    swift_dir=self.swift_dir,
                    kind=kind,
                    workers=2 if kind == "object" else 1,
                )
            )
        (self.swift_dir / "proxy-server.conf").write_text(
            SWIFT_PROXY_CONF.format(
                port=self.ports["proxy"], swift_dir=self.swift_dir, memcached_port=self.ports["memcached"]
            )
        )
        self.url = f"http://127.0.0.1:{self.ports['proxy']}"
        self.auth_url = f"{self.url}/auth/v1.0"
        self.start()

    def start(self) -> None:
        # memcached first: tempauth keeps its tokens there, and a proxy started before it answers 503.
        self._spawn(
            "memcached", ["memcached", "-u", "root", "-l", "127.0.0.1", "-p", str(self.ports["memcached"]), "-U", "0"]
        )
        time.sleep(0.3)
        for kind in self.KINDS:
            self._spawn(
                kind,
                [
                    "/usr/bin/python3",
                    f"/usr/bin/swift-{kind}-server",
                    str(self.swift_dir / f"{kind}-server.conf"),
                    "-v",
                ],
            )
        self.start_proxy()
        for kind in self.KINDS:
            wait_until_up(f"http://127.0.0.1:{self.ports[kind]}/healthcheck")

    def start_proxy(self) -> None:
        self._spawn(
            "proxy",
            ["/usr/bin/python3", "/usr/bin/swift-proxy-server", str(self.swift_dir / "proxy-server.conf"), "-v"],
        )
        wait_until_up(f"{self.url}/info")
