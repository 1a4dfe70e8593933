"""Swift behind a real Keystone v3, configured exactly as production configures it.

The storage contract and the whole graph run on every Keystone backend in
test_storage_backends.py; here: what only Keystone has (token requests,
``OS_STORAGE_URL``, Keystone's own errors) and the deployed chart's environment
run end to end through ``gwtm-cron ingest``.
"""

import json
import os
import subprocess
import sys

import pytest
from dagster import DagsterInstance

from gwtm_assets.devtools.gwtm_api_server import GWTMApiTestServer
from gwtm_assets.devtools.tansu import free_port
from gwtm_assets.ingest import ingest_files
from gwtm_assets.io.object_store import StorageError
from gwtm_assets.resources.builders import build_storage
from gwtm_assets.resources.swift import swift_auth

from .conftest import ADMIN_TOKEN, sample
from .keystone_swift import PROJECT

pytestmark = pytest.mark.timeout(600)


@pytest.mark.parametrize(
    ("username", "application_credential_id", "method"),
    [
        ("0123456789abcdef0123456789abcdef", "", "application_credential"),  # the deployed convention
        ("gwtm-tester", "", "password"),
        ("0123456789ABCDEF0123456789ABCDEF", "", "password"),  # Keystone ids are lowercase
        ("0123456789abcdef0123456789abcde", "", "password"),  # 31 digits
        ("gwtm-tester", "fedcba9876543210fedcba9876543210", "application_credential"),
    ],
)
def test_which_authentication_the_variables_select(username, application_credential_id, method):
    assert swift_auth("https://keystone:5000/v3", username, "pw", application_credential_id).method == method
    assert swift_auth("http://swift:8080/auth/v1.0", username, "pw").method == "v1"


def test_a_run_asks_keystone_for_one_token_however_many_products(servers, tmp_path):
    ks = servers.keystone_swift
    with GWTMApiTestServer(admin_token=ADMIN_TOKEN) as api:
        backend = servers.backend("swift-keystone-deployed", tmp_path, api_base=api.base, api_token=ADMIN_TOKEN)
        before = ks.token_proxy.token_requests()
        results = ingest_files([sample("MS181101ab-preliminary"), sample("MS181101ab-ext-update")], backend.settings,
                               DagsterInstance.ephemeral())  # fmt: skip
        tokens = ks.token_proxy.token_requests() - before
    assert all(r.ok for r in results), [r.error for r in results]
    objects = [o.key for o in backend.store().list("")]
    assert len(objects) >= 10 * len(results), objects  # products, landings, ledgers, values between assets
    # At most one for the whole ingest (none when this process already holds a token for the credential);
    # without the shared session each copy of the storage resource asked for one: 9 here.
    assert tokens <= 1, tokens


def test_os_storage_url_is_the_url_used_not_the_catalogs(servers, tmp_path):
    ks = servers.keystone_swift
    deployed = servers.backend("swift-keystone-deployed", tmp_path)
    by_catalog = servers.backend("swift-keystone-password", tmp_path)
    ks.stop_process("proxy-catalog")  # the catalog's endpoint is gone; OS_STORAGE_URL's proxy is not
    try:
        store = deployed.fresh_store()
        store.put(f"{deployed.prefix}through-os-storage-url.json", b"{}")
        assert store.get(f"{deployed.prefix}through-os-storage-url.json") == b"{}"
        assert store.connection.url == ks.storage_url("direct")
        with pytest.raises(StorageError, match=r"^swift: cannot create container"):
            by_catalog.fresh_store()
    finally:
        ks.start_proxy("catalog")


@pytest.mark.parametrize(
    ("update", "expected"),
    [
        ({"os_username": "0" * 32}, r"Keystone does not know the credential \(404\).*OS_USERNAME/OS_PASSWORD"),
        ({"os_password": "not-the-key"}, r"Keystone refused the credentials \(401\).*OS_USERNAME/OS_PASSWORD"),
        ({"os_auth_url": f"http://127.0.0.1:{free_port()}/v3"}, r"cannot reach Keystone at OS_AUTH_URL"),
    ],
)
def test_keystone_saying_no_is_one_line_naming_the_variables(servers, tmp_path, update, expected):
    backend = servers.backend("swift-keystone-deployed", tmp_path)
    with pytest.raises(StorageError, match=expected) as error:
        build_storage(backend.settings.model_copy(update=update)).object_store()
    message = str(error.value)
    assert "\n" not in message
    assert backend.settings.os_password not in message and "not-the-key" not in message
    assert backend.settings.os_username not in message


def listener_env(ks, api_base: str, container: str, storage_dir: str) -> dict[str, str]:
    """What TheTreasureMap/gwtm's gwtm-helm gives a listener pod for ``storage.type: swift``
    (``gwtm.listenerEnv`` with ``values-listeners-prod.yaml``), endpoints on loopback; nothing else of ours."""
    return {
        "KAFKA_CLIENT_ID": "",  # from gwtm-listener-secrets; ingest does not consume
        "KAFKA_CLIENT_SECRET": "",
        "API_BASE": api_base,
        "API_TOKEN": ADMIN_TOKEN,
        "STORAGE_BUCKET_SOURCE": "swift",
        "OS_AUTH_URL": ks.auth_url,
        "OS_STORAGE_URL": ks.storage_url("direct"),
        "OS_USERNAME": ks.application_credential_id,
        "OS_PASSWORD": ks.application_credential_secret,
        "OS_PROJECT_NAME": PROJECT,
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_CONTAINER_NAME": container,
        "OBSERVING_RUN": "O4",
        "DRY_RUN": "false",
        "WRITE_TO_STORAGE": "true",
        "VERBOSE": "false",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        # The process's own, not the chart's: where Dagster and the local cache live.
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "LOCAL_STORAGE_DIR": storage_dir,
        "FERMI_TLE_SOURCE": os.environ["FERMI_TLE_SOURCE"],
        "DAGSTER_DISABLE_TELEMETRY": "1",
    }


def test_the_deployed_charts_environment_runs_notices_end_to_end(servers, tmp_path):
    ks = servers.keystone_swift
    backend = servers.backend("swift-keystone-deployed", tmp_path)
    names = ["MS181101ab-preliminary", "MS181101ab-initial", "MS230427r-flat-localization"]
    with GWTMApiTestServer(admin_token=ADMIN_TOKEN, port=0) as api:
        assert api.base.startswith("http://127.0.0.1:") and api.base.endswith("/api/v1/")  # as the chart builds it
        env = listener_env(ks, api.base, backend.settings.os_container_name, str(tmp_path / "local"))
        env["DAGSTER_HOME"] = str(tmp_path / "dagster_home")
        os.makedirs(env["DAGSTER_HOME"])
        done = subprocess.run(
            [sys.executable, "-m", "gwtm_assets.cli", "ingest", *(str(sample(n)) for n in names)],
            env=env, capture_output=True, text=True, timeout=400, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert [r.body["graceid"] for r in api.state.posted("post_alert")] == ["MS181101ab", "MS181101ab"]
        assert len(api.state.posted("post_icecube_notice")) == 1
    store = backend.fresh_store()
    keys = {o.key for o in store.list("test/")}
    assert {"test/MS181101ab-Preliminary.fits.gz", "test/MS181101ab-Initial-contours-smooth.json"} <= keys, keys
    for secret in (ks.application_credential_secret, ks.application_credential_id):
        assert secret not in done.stdout + done.stderr
    for line in done.stderr.splitlines():
        if line.startswith("{"):
            json.loads(line)  # LOG_FORMAT=json: one object per line


def test_sensor_ticks_that_land_notices_ask_keystone_for_at_most_one_token(servers, tmp_path):
    from dagster import build_sensor_context

    from gwtm_assets.devtools.tansu import TansuBroker
    from gwtm_assets.resources.builders import build_resources
    from gwtm_assets.sensors.kafka import KafkaConsumerResource
    from gwtm_assets.sensors.landing import build_sensors

    ks = servers.keystone_swift
    backend = servers.backend("swift-keystone-appcred", tmp_path)
    broker = TansuBroker()
    try:
        topic = "igwn.gwalert.keystone"
        broker.create_topic(topic)
        kafka = KafkaConsumerResource(bootstrap_servers=broker.bootstrap, group_id="g-ks", offset_reset="earliest")
        resources = build_resources(backend.settings) | {"kafka": kafka}
        ligo_sensor, _ = build_sensors(True, ligo_topic=topic)
        instance, cursor, landed = DagsterInstance.ephemeral(), None, 0
        before = ks.token_proxy.token_requests()
        for name in ("MS181101ab-preliminary", "MS181101ab-initial", "MS181101ab-update"):
            broker.produce(topic, [sample(name).read_bytes()])
            with build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
                result = ligo_sensor(context)
            cursor, landed = result.cursor, landed + len(result.run_requests)
        assert landed == 3
        assert ks.token_proxy.token_requests() - before <= 1
        assert len([o for o in backend.store().list("test/incoming/")]) == 3
    finally:
        broker.stop()


def test_the_rehearsal_step_dry_run_with_the_deployed_environment_posts_and_writes_nothing(servers, tmp_path):
    """Switching over, step 3: the deployed variables with DRY_RUN=true (README)."""
    ks = servers.keystone_swift
    backend = servers.backend("swift-keystone-deployed", tmp_path)
    with GWTMApiTestServer(admin_token=ADMIN_TOKEN) as api:
        env = listener_env(ks, api.base, backend.settings.os_container_name, str(tmp_path / "local"))
        env |= {"DRY_RUN": "true", "DAGSTER_HOME": str(tmp_path / "dagster_home")}
        os.makedirs(env["DAGSTER_HOME"])
        done = subprocess.run(
            [sys.executable, "-m", "gwtm_assets.cli", "ingest", str(sample("MS181101ab-preliminary"))],
            env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert [r for r in api.state.requests if r.method == "POST"] == []
    assert list(backend.fresh_store().list("")) == []  # the container holds nothing
    assert (tmp_path / "local" / ".dry-run" / "test" / "MS181101ab-Preliminary.fits.gz").is_file()
