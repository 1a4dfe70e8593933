"""No secret reaches Dagster's storage, the UI, logs or products: secrets are passed as EnvVar."""

import os
import signal
import sqlite3
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import requests
from dagster import EnvVar

from gwtm_assets.devtools.daemon import wait_for
from gwtm_assets.devtools.gwtm_api_server import GWTMApiTestServer
from gwtm_assets.devtools.tansu import free_port
from gwtm_assets.resources.builders import build_resources
from gwtm_assets.settings import GWTMSettings

from .conftest import sample

SECRETS = {
    "API_TOKEN": "api-S3CRET-7f3a9c",
    "KAFKA_CLIENT_SECRET": "kafka-S3CRET-51be02",
    "AWS_SECRET_ACCESS_KEY": "aws-S3CRET-0c9d44",
    "AZURE_ACCOUNT_KEY": "YXp1cmUtUzNDUkVULTk5ZTE=",
    "OS_PASSWORD": "swift-S3CRET-d1e2f3",
    "OS_APPLICATION_CREDENTIAL_SECRET": "appcred-S3CRET-aa11",
}
CONNECTION_STRING = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Y29ubi1TM0NSRVQtNDI=;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
)


@pytest.mark.parametrize(
    "backend", ["s3", "abfs", "abfs-connection-string", "swift", "swift-appcred", "swift-deployed"]
)
def test_every_backends_secrets_are_env_vars(backend, monkeypatch, tmp_path):
    env = {"API_TOKEN": SECRETS["API_TOKEN"], "KAFKA_CLIENT_SECRET": SECRETS["KAFKA_CLIENT_SECRET"]}
    if backend == "s3":
        env |= {"AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": SECRETS["AWS_SECRET_ACCESS_KEY"]}
    elif backend == "abfs":
        env |= {"AZURE_ACCOUNT_NAME": "acct", "AZURE_ACCOUNT_KEY": SECRETS["AZURE_ACCOUNT_KEY"]}
    elif backend == "abfs-connection-string":
        env |= {"AZURE_STORAGE_CONNECTION_STRING": CONNECTION_STRING}
    elif backend == "swift":
        env |= {
            "OS_AUTH_URL": "http://127.0.0.1:1/auth/v1.0",
            "OS_USERNAME": "u",
            "OS_PASSWORD": SECRETS["OS_PASSWORD"],
        }
    elif backend == "swift-deployed":
        # gwtm-helm's listenerEnv: the application credential in OS_USERNAME/OS_PASSWORD, from its secret.
        env |= {"OS_AUTH_URL": "http://127.0.0.1:1/v3", "OS_STORAGE_URL": "http://127.0.0.1:1/swift/v1",
                "OS_USERNAME": "0123456789abcdef0123456789abcdef", "OS_PASSWORD": SECRETS["OS_PASSWORD"],
                "OS_PROJECT_NAME": "PHY250291"}  # fmt: skip
    else:
        env |= {"OS_AUTH_URL": "http://127.0.0.1:1/v3", "OS_APPLICATION_CREDENTIAL_ID": "i",
                "OS_APPLICATION_CREDENTIAL_SECRET": SECRETS["OS_APPLICATION_CREDENTIAL_SECRET"]}  # fmt: skip
    env["STORAGE_BUCKET_SOURCE"] = backend.split("-")[0]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LOCAL_STORAGE_DIR", str(tmp_path))
    resources = build_resources(GWTMSettings())
    storage = resources["product_storage"]
    held = {
        "s3": lambda: storage.s3.aws_secret_access_key,
        "abfs": lambda: storage.azure.credential.key,
        "abfs-connection-string": lambda: storage.connection_string,
        "swift": lambda: storage.swift.password,
        "swift-appcred": lambda: storage.swift.application_credential_secret,
        "swift-deployed": lambda: storage.swift.username,
    }[backend]()
    assert isinstance(held, EnvVar), held
    if backend == "swift-deployed":
        assert isinstance(storage.swift.password, EnvVar)
    assert isinstance(resources["gwtm_api"].api_token, EnvVar)
    assert isinstance(resources["kafka"].client_secret, EnvVar)


def _found_in_sqlite(path: Path, secrets: list[str]) -> list[str]:
    """Secrets in any text or blob of the database, zlib-compressed snapshots decompressed."""
    found = []
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    data = value.encode() if isinstance(value, str) else value if isinstance(value, bytes) else b""
                    try:
                        data += zlib.decompress(data)
                    except zlib.error:
                        pass
                    found += [f"{path.name}:{table}" for s in secrets if s.encode() in data]
    return found


@pytest.mark.slow
def test_no_secret_in_the_instance_the_ui_the_logs_or_the_products(tmp_path):
    home, storage = tmp_path / "home", tmp_path / "storage"
    home.mkdir()
    env = {
        **os.environ, **SECRETS, "DAGSTER_HOME": str(home), "STORAGE_BUCKET_SOURCE": "local",
        "LOCAL_STORAGE_DIR": str(storage), "LOG_LEVEL": "DEBUG", "VERBOSE": "true",
    }  # fmt: skip
    bin_dir = Path(sys.executable).parent
    with GWTMApiTestServer(admin_token=SECRETS["API_TOKEN"]) as api:
        env["API_BASE"] = api.base
        ingest = subprocess.run(
            [str(bin_dir / "gwtm-cron"), "ingest", str(sample("S230518h-preliminary"))],
            env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert ingest.returncode == 0, ingest.stdout + ingest.stderr
        assert len(api.state.alerts) == 1  # the token was read from the environment when the run started

        port = free_port()
        ui = subprocess.Popen(
            [str(bin_dir / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), "-m", "gwtm_assets.definitions"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            graphql = f"http://127.0.0.1:{port}/graphql"
            query = """{ allTopLevelResourceDetailsOrError(repositorySelector: {repositoryLocationName:
                "gwtm_assets.definitions", repositoryName: "__repository__"}) {
                ... on ResourceDetailsList { results { name configuredValues { key value type } } } } }"""

            def answered():
                try:
                    return requests.post(graphql, json={"query": query}, timeout=5).json()
                except (requests.RequestException, ValueError):
                    return None

            answer = wait_for(answered, 120, "the UI's GraphQL")
            results = answer["data"]["allTopLevelResourceDetailsOrError"]["results"]
            values = {(r["name"], v["key"]): v for r in results for v in r["configuredValues"]}
            assert values[("gwtm_api", "api_token")] == {"key": "api_token", "value": "API_TOKEN", "type": "ENV_VAR"}
            assert values[("kafka", "client_secret")]["type"] == "ENV_VAR"
            ui_text = str(answer)
        finally:
            os.killpg(ui.pid, signal.SIGTERM)
            ui_log = ui.communicate(timeout=30)[0].decode(errors="replace")

    leaks = [f"GraphQL: {s}" for s in SECRETS.values() if s in ui_text]
    leaks += [f"output: {s}" for s in SECRETS.values() if s in ingest.stdout + ingest.stderr + ui_log]
    for path in [*home.rglob("*"), *storage.rglob("*")]:
        if not path.is_file():
            continue
        if path.suffix == ".db":
            leaks += _found_in_sqlite(path, list(SECRETS.values()))
        data = path.read_bytes()
        leaks += [f"{path}: {s}" for s in SECRETS.values() if s.encode() in data]
    assert leaks == []
    assert any(p.suffix == ".db" for p in home.rglob("*"))  # the search did look at the run storage
