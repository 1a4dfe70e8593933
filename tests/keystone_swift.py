"""Swift behind a real Keystone v3 on loopback, as Jetstream2 runs it (../shared/docs/test-services.md, "Keystone").

- Keystone 22 (Debian) under uwsgi with SQLite, a project ``gwtm`` with user ``gwtm-tester`` (role ``member``)
  and an application credential that user created.
- Two Swift proxies with ``authtoken`` + ``keystoneauth`` over one account/container/object server set:
  ``catalog_url`` is the object-store endpoint in Keystone's catalog, ``direct_url`` is in no catalog (what
  ``OS_STORAGE_URL`` points at, so a test can tell which URL a client used).
- ``token_proxy``: clients reach Keystone through it (``auth_url``), so a test counts the token requests.

Debian packages (``scripts/test-services/install.sh``); Keystone and the servers run under Debian's python3.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import requests

from gwtm_assets.devtools.tansu import free_port

from .storage_servers import (
    SWIFT_SERVER_CONF,
    _ProcessServer,
    install_test_services,
    wait_until_up,
)

PROJECT, USER = "gwtm", "gwtm-tester"
#: Throw-away credentials of a throw-away Keystone, made for each test session.
PASSWORD, ADMIN_PASSWORD, SERVICE_PASSWORD = "tester-pass-1", "admin-pass-1", "swift-service-pass-1"

KEYSTONE_CONF = """[DEFAULT]
log_file = {workdir}/keystone.log
[database]
connection = sqlite:///{workdir}/keystone.db
[identity]
# bcrypt cost 4, not 12: each login costs ~0.01 s instead of 0.3-0.6 s of CPU here.
password_hash_rounds = 4
[token]
provider = fernet
[fernet_tokens]
key_repository = {workdir}/fernet-keys
[fernet_receipts]
key_repository = {workdir}/fernet-keys
[credential]
key_repository = {workdir}/credential-keys
"""

UWSGI_INI = """[uwsgi]
plugins = python3
http-socket = 127.0.0.1:{port}
wsgi-file = /usr/bin/keystone-wsgi-public
env = OS_KEYSTONE_CONFIG_DIR={workdir}
master = true
# Single-threaded workers: threads and SQLite fail together.
processes = 2
threads = 1
buffer-size = 65535
# uwsgi's http-socket drops kept-alive connections silently; clients reusing them get ConnectionResetError.
add-header = Connection: close
die-on-term = true
need-app = true
chdir = {workdir}
"""

PROXY_CONF = """[DEFAULT]
bind_ip = 127.0.0.1
bind_port = {port}
workers = 0
user = root
swift_dir = {swift_dir}
log_name = proxy-{port}

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats authtoken keystoneauth slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
www_authenticate_uri = {keystone}/v3
auth_url = {keystone}/v3
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = swift
password = {service_password}
delay_auth_decision = true
cache = swift.cache
include_service_catalog = false

[filter:keystoneauth]
use = egg:swift#keystoneauth
operator_roles = admin, member

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:{memcached_port}

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:slo]
use = egg:swift#slo

[filter:dlo]
use = egg:swift#dlo
"""

#: Run by Debian's python3 (keystoneclient): the service user and endpoints, the test project, user and
#: application credential. Prints the ids as JSON.
ENTITIES = """
import json, sys
from keystoneauth1 import session
from keystoneauth1.identity import v3
from keystoneclient.v3 import client
keystone, admin_password, service_password, catalog_url, project, user, password = sys.argv[1:]
def login(name, secret, project_name):
    return session.Session(auth=v3.Password(auth_url=keystone + "/v3", username=name, password=secret,
        project_name=project_name, user_domain_id="default", project_domain_id="default"))
ks = client.Client(session=login("admin", admin_password, "admin"))
roles = {r.name: r for r in ks.roles.list()}
service_project = ks.projects.create("service", domain="default")
ks.roles.grant(roles["admin"], user=ks.users.create("swift", domain="default", password=service_password),
               project=service_project)
service = ks.services.create("swift", type="object-store")
for interface in ("public", "internal", "admin"):
    ks.endpoints.create(service, catalog_url + "/v1/AUTH_%(project_id)s", interface=interface, region="RegionOne")
test_project = ks.projects.create(project, domain="default")
test_user = ks.users.create(user, domain="default", password=password, default_project=test_project)
ks.roles.grant(roles["member"], user=test_user, project=test_project)
# An application credential can only be created by its user.
mine = client.Client(session=login(user, password, project))
credential = mine.application_credentials.create(name="gwtm-listeners", user=test_user.id)
print(json.dumps({"project_id": test_project.id, "application_credential_id": credential.id,
                  "application_credential_secret": credential.secret}))
"""


class CountingProxy:
    """An HTTP proxy to ``upstream`` that counts requests by (method, path); headers pass both ways."""

    HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "content-encoding"}

    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self.requests: list[tuple[str, str]] = []
        lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    proxy.requests.append((self.command, urlparse(self.path).path))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in proxy.HOP_BY_HOP}
                answer = requests.request(
                    self.command, proxy.upstream + self.path, data=body or None, headers=headers, timeout=30
                )
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() not in proxy.HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_HEAD = do_DELETE = do_PATCH = do_PUT = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def token_requests(self) -> int:
        """Tokens issued to clients through this proxy (``POST /v3/auth/tokens``)."""
        return sum(
            1 for method, path in self.requests if method == "POST" and path.rstrip("/").endswith("/auth/tokens")
        )

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class KeystoneSwiftServer(_ProcessServer):
    """Keystone v3 + Swift (two keystone-authenticated proxies) + memcached, fresh state, on free ports."""

    KINDS = ("account", "container", "object")

    def __init__(self) -> None:
        super().__init__()
        if not Path("/usr/bin/keystone-wsgi-public").exists() or not Path("/usr/bin/swift-proxy-server").exists():
            install_test_services()
        self.ports = {name: free_port() for name in (*self.KINDS, "keystone", "catalog", "direct", "memcached")}
        self.keystone_url = f"http://127.0.0.1:{self.ports['keystone']}"
        self.catalog_url = f"http://127.0.0.1:{self.ports['catalog']}"
        self.direct_url = f"http://127.0.0.1:{self.ports['direct']}"
        self.started = time.monotonic()
        self._write_swift()
        self._spawn("memcached", ["memcached", "-u", "root", "-l", "127.0.0.1", "-p", str(self.ports["memcached"]), "-U", "0"])  # fmt: skip
        self._setup_keystone()
        self._spawn("keystone", ["uwsgi", "--ini", str(self.workdir / "keystone-uwsgi.ini")])
        for kind in self.KINDS:
            self._spawn(kind, ["/usr/bin/python3", f"/usr/bin/swift-{kind}-server", str(self.workdir / f"{kind}-server.conf"), "-v"])  # fmt: skip
        wait_until_up(f"{self.keystone_url}/v3/", timeout_s=90)
        ids = json.loads(
            subprocess.run(
                ["/usr/bin/python3", "-c", ENTITIES, self.keystone_url, ADMIN_PASSWORD, SERVICE_PASSWORD,
                 self.catalog_url, PROJECT, USER, PASSWORD],
                check=True, capture_output=True, text=True, timeout=120,
            ).stdout.strip().splitlines()[-1]
        )  # fmt: skip
        self.project_id: str = ids["project_id"]
        self.application_credential_id: str = ids["application_credential_id"]
        self.application_credential_secret: str = ids["application_credential_secret"]
        for name in ("catalog", "direct"):
            self.start_proxy(name)
        for kind in self.KINDS:
            wait_until_up(f"http://127.0.0.1:{self.ports[kind]}/healthcheck")
        self.token_proxy = CountingProxy(self.keystone_url)
        self.auth_url = f"{self.token_proxy.url}/v3"
        self.startup_s = time.monotonic() - self.started

    def storage_url(self, proxy: str = "direct") -> str:
        return f"{self.direct_url if proxy == 'direct' else self.catalog_url}/v1/AUTH_{self.project_id}"

    def _write_swift(self) -> None:
        swift_dir, devices = self.workdir / "swift", self.workdir / "srv"
        (devices / "d1").mkdir(parents=True)
        swift_dir.mkdir()
        for kind in self.KINDS:
            builder = str(swift_dir / f"{kind}.builder")
            for args in (
                ["create", "0", "1", "1"],
                ["add", f"r1z1-127.0.0.1:{self.ports[kind]}/d1", "1"],
                ["rebalance"],
            ):
                subprocess.run(["/usr/bin/python3", "/usr/bin/swift-ring-builder", builder, *args], check=False, capture_output=True)  # fmt: skip
            (self.workdir / f"{kind}-server.conf").write_text(
                SWIFT_SERVER_CONF.format(devices=devices, port=self.ports[kind], swift_dir=swift_dir, kind=kind, workers=1)
            )  # fmt: skip
        for name in ("catalog", "direct"):
            (self.workdir / f"proxy-{name}.conf").write_text(
                PROXY_CONF.format(port=self.ports[name], swift_dir=swift_dir, keystone=self.keystone_url,
                                  service_password=SERVICE_PASSWORD, memcached_port=self.ports["memcached"])
            )  # fmt: skip

    def _setup_keystone(self) -> None:
        workdir = self.workdir
        (workdir / "keystone.conf").write_text(KEYSTONE_CONF.format(workdir=workdir))
        (workdir / "keystone-uwsgi.ini").write_text(UWSGI_INI.format(port=self.ports["keystone"], workdir=workdir))
        manage = ["keystone-manage", "--config-file", str(workdir / "keystone.conf")]
        subprocess.run([*manage, "db_sync"], check=True, capture_output=True, timeout=300)
        # Keystone 22 keeps a read transaction open after each token issue; with SQLite's rollback journal every
        # later write then fails "database is locked". WAL lets writers through.
        subprocess.run(["sqlite3", str(workdir / "keystone.db"), "PRAGMA journal_mode=WAL;"], check=True, capture_output=True)  # fmt: skip
        for step in ("fernet_setup", "credential_setup"):
            subprocess.run([*manage, step, "--keystone-user", "root", "--keystone-group", "root"], check=True, capture_output=True)  # fmt: skip
        subprocess.run(
            [*manage, "bootstrap", "--bootstrap-password", ADMIN_PASSWORD, "--bootstrap-region-id", "RegionOne",
             *(f"--bootstrap-{kind}-url={self.keystone_url}/v3/" for kind in ("public", "internal", "admin"))],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip

    def start_proxy(self, name: str) -> None:
        self._spawn(f"proxy-{name}", ["/usr/bin/python3", "/usr/bin/swift-proxy-server", str(self.workdir / f"proxy-{name}.conf"), "-v"])  # fmt: skip
        wait_until_up(f"http://127.0.0.1:{self.ports[name]}/healthcheck")

    def stop(self) -> None:
        if hasattr(self, "token_proxy"):
            self.token_proxy.stop()
        super().stop()
