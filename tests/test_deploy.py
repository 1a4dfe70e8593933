"""Deployment files: docker compose, the production instance, Helm values, the release workflow."""

import shutil
import subprocess

import pytest
import yaml

from gwtm_assets.devtools.daemon import REPO
from gwtm_assets.settings import GWTMSettings

HELM = REPO / "deploy" / "helm"


@pytest.mark.skipif(shutil.which("docker-compose") is None and shutil.which("docker") is None, reason="no compose CLI")
@pytest.mark.parametrize(
    "args", [[], ["--profile", "local", "--env-file", "deploy/local.env"]], ids=["default", "local-profile"]
)
def test_docker_compose_config_is_valid(args):
    compose = ["docker-compose"] if shutil.which("docker-compose") else ["docker", "compose"]
    done = subprocess.run(
        [*compose, *args, "config"], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(done.stdout)
    assert {"postgres", "code-location", "webserver", "daemon"} <= set(config["services"])
    if args:
        assert {"tansu", "minio"} <= set(config["services"])
        assert config["services"]["daemon"]["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "tansu:9092"
    for name in ("code-location", "webserver", "daemon"):
        service = config["services"][name]
        assert service["restart"] == "unless-stopped" and "healthcheck" in service


def test_compose_passes_every_setting_through():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    environment = compose["x-gwtm-environment"]
    missing = [name.upper() for name in GWTMSettings.model_fields if name.upper() not in environment]
    assert not missing


def test_production_instance_config_is_valid():
    from dagster._config import validate_config
    from dagster._core.instance.config import dagster_instance_config_schema

    for path in (REPO / "dagster.yaml", REPO / "deploy" / "dagster.production.yaml"):
        config = yaml.safe_load(path.read_text())
        result = validate_config(dagster_instance_config_schema(), config)
        assert result.success, (path, [e.message for e in result.errors])
    production = yaml.safe_load((REPO / "deploy" / "dagster.production.yaml").read_text())
    storage = production["storage"]["custom"]
    assert (storage["module"], storage["class"]) == (
        "gwtm_assets.runtime.postgres_storage",
        "KnownColumnsPostgresStorage",
    )
    assert "postgres_db" in storage["config"] and production["telemetry"] == {"enabled": False}
    assert production["run_retries"]["enabled"] and production["run_launcher"]["class"] == "WarmRunLauncher"
    assert production["instance_class"]["class"] == "EventTaggingInstance"


def test_helm_values_are_generated_and_reference_the_secrets_users_have():
    import importlib.util

    spec = importlib.util.spec_from_file_location("generate", HELM / "generate.py")
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    generated = [*HELM.glob("*.yaml"), *HELM.glob("gwtm/values-*.yaml")]
    before = {p: p.read_text() for p in generated}
    generate.write()
    assert {p: p.read_text() for p in generated} == before, "run python deploy/helm/generate.py"

    refs = {}
    for backend in ("s3", "swift"):
        values = yaml.safe_load((HELM / f"values-{backend}.yaml").read_text())
        [deployment] = values["dagster-user-deployments"]["deployments"]
        for env in deployment["env"]:
            if "valueFrom" in env:
                ref = env["valueFrom"]["secretKeyRef"]
                refs[env["name"]] = (ref["name"], ref["key"])
            assert env["name"].lower() in GWTMSettings.model_fields or env["name"] == "LISTENERS", env["name"]
    # The deployed chart's secret and keys (TheTreasureMap/gwtm gwtm-helm, gwtm.listenerEnv), unchanged.
    assert refs == {
        "KAFKA_CLIENT_ID": ("gwtm-listener-secrets", "kafka-client-id"),
        "KAFKA_CLIENT_SECRET": ("gwtm-listener-secrets", "kafka-client-secret"),
        "API_TOKEN": ("gwtm-listener-secrets", "api-token"),
        "AWS_ACCESS_KEY_ID": ("gwtm-listener-secrets", "aws-access-key-id"),
        "AWS_SECRET_ACCESS_KEY": ("gwtm-listener-secrets", "aws-secret-access-key"),
        "OS_USERNAME": ("gwtm-listener-secrets", "swift-username"),
        "OS_PASSWORD": ("gwtm-listener-secrets", "swift-password"),
    }  # fmt: skip
    instance = yaml.safe_load((HELM / "values.yaml").read_text())
    assert instance["runLauncher"]["type"] == "CustomRunLauncher" and instance["telemetry"] == {"enabled": False}


def test_helm_run_launcher_config_is_what_the_kubernetes_launcher_accepts():
    from dagster._config import process_config
    from dagster._config.config_type import ConfigType
    from dagster._config.field import resolve_to_config_type

    from gwtm_assets.runtime.run_launcher_k8s import K8sWarmRunLauncher

    custom = yaml.safe_load((HELM / "values.yaml").read_text())["runLauncher"]["config"]["customRunLauncher"]
    assert (custom["module"], custom["class"]) == ("gwtm_assets.runtime.run_launcher_k8s", "K8sWarmRunLauncher")
    config_type = resolve_to_config_type(K8sWarmRunLauncher.config_type())
    assert isinstance(config_type, ConfigType)
    result = process_config(config_type, custom["config"])
    assert result.success, result.errors
    assert result.value["address"] == "gwtm-run-workers:4010"


@pytest.mark.parametrize("backend", ["s3", "swift"])
def test_run_workers_manifests_validate_and_carry_the_code_locations_environment(backend):
    import kubernetes_validate

    manifests = list(yaml.safe_load_all((HELM / f"run-workers-{backend}.yaml").read_text()))
    assert [m["kind"] for m in manifests] == ["Deployment", "Service"]
    for manifest in manifests:
        kubernetes_validate.validate(manifest, "1.30", strict=True)
    [container] = manifests[0]["spec"]["template"]["spec"]["containers"]
    [code_location] = yaml.safe_load((HELM / f"values-{backend}.yaml").read_text())["dagster-user-deployments"][
        "deployments"
    ]
    assert container["env"][:-2] == code_location["env"]  # the same settings and secrets as the code location
    assert [e["name"] for e in container["env"][-2:]] == ["DAGSTER_PG_PASSWORD", "RUN_WORKERS_TOKEN"]
    assert container["env"][-1]["valueFrom"]["secretKeyRef"] == {"name": "gwtm-run-workers-token",
                                                                  "key": "RUN_WORKERS_TOKEN"}  # fmt: skip
    assert container["args"] == ["gwtm-cron", "run-workers", "--listen", "0.0.0.0:4010"]
    assert manifests[0]["spec"]["replicas"] == 1


@pytest.mark.parametrize("backend", ["s3", "swift"])
def test_metrics_manifests_validate_and_a_service_monitor_finds_them(backend):
    import kubernetes_validate

    manifests = list(yaml.safe_load_all((HELM / f"metrics-{backend}.yaml").read_text()))
    assert [m["kind"] for m in manifests] == ["Deployment", "Service"]
    for manifest in manifests:
        kubernetes_validate.validate(manifest, "1.30", strict=True)
    [container] = manifests[0]["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["gwtm-cron", "metrics", "--listen", "0.0.0.0:9464"]
    names = {e["name"] for e in container["env"]}
    assert {"KAFKA_CLIENT_ID", "DAGSTER_PG_PASSWORD", "DAGSTER_HOME", "RUN_WORKERS_ADDRESS"} <= names
    monitor = yaml.safe_load((HELM / "servicemonitor.yaml").read_text())
    service = manifests[1]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == [p["name"] for p in service["spec"]["ports"]]


@pytest.mark.parametrize("backend", ["s3", "swift"])
def test_user_deployment_renders_to_a_valid_kubernetes_deployment(backend):
    """The chart's deployment-user template applied to our values by hand, validated against the Kubernetes 1.30 schema."""
    import kubernetes_validate

    [d] = yaml.safe_load((HELM / f"values-{backend}.yaml").read_text())["dagster-user-deployments"]["deployments"]
    container = {
        "name": "dagster-user-deployments",
        "image": f"{d['image']['repository']}:{d['image']['tag']}",
        "imagePullPolicy": d["image"]["pullPolicy"],
        "args": ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", str(d["port"]), *d["codeServerArgs"]],
        "env": d["env"],
        "resources": d["resources"],
        "readinessProbe": d["readinessProbe"],
        "livenessProbe": d["livenessProbe"],
        "startupProbe": {k: v for k, v in d["startupProbe"].items() if k != "enabled"},
    }
    manifest = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": f"gwtm-{d['name']}"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"deployment": d["name"]}},
                 "template": {"metadata": {"labels": {"deployment": d["name"]}},
                              "spec": {"securityContext": d["podSecurityContext"], "containers": [container]}}},
    }  # fmt: skip
    kubernetes_validate.validate(manifest, "1.30", strict=True)


def test_release_workflow_pushes_version_and_latest_on_v_tags():
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "release.yml").read_text())
    assert workflow[True]["push"]["tags"] == ["v*"]  # YAML 1.1 reads the key `on` as True
    steps = workflow["jobs"]["image"]["steps"]
    meta = next(s for s in steps if s.get("id") == "meta")["with"]
    assert meta["images"] == "ghcr.io/thetreasuremap/gwtm_cron"
    assert "type=semver,pattern={{version}}" in meta["tags"] and "type=raw,value=latest" in meta["tags"]
    ci = yaml.safe_load((REPO / ".github" / "workflows" / "ci.yml").read_text())
    assert "bash .ci/run" in [s.get("run") for s in ci["jobs"]["test"]["steps"]]


def test_the_image_commands_serve_the_code_location_ui_and_health_checks(tmp_path):
    """What the image and compose run, without a container: code server, its gRPC health check, the UI over it."""
    import os
    import signal
    import sys
    import urllib.request

    from gwtm_assets.devtools.daemon import wait_for
    from gwtm_assets.devtools.tansu import free_port

    bin_dir = os.path.dirname(sys.executable)
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "LOCAL_STORAGE_DIR": str(tmp_path / "data")}
    (tmp_path / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    grpc_port, ui_port = free_port(), free_port()
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        (REPO / "deploy" / "workspace.compose.yaml")
        .read_text()
        .replace("host: code-location", "host: 127.0.0.1")
        .replace("4000", str(grpc_port))
    )
    code_server = subprocess.Popen(
        [f"{bin_dir}/dagster", "code-server", "start", "-h", "127.0.0.1", "-p", str(grpc_port), "-m", "gwtm_assets.definitions",
         "--location-name", "gwtm"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    webserver = None
    try:

        def healthy() -> bool:
            command = [f"{bin_dir}/dagster", "api", "grpc-health-check", "-p", str(grpc_port)]
            return subprocess.run(command, env=env, capture_output=True, check=False).returncode == 0

        wait_for(healthy, 120, "the code server's gRPC health check", interval_s=1)
        webserver = subprocess.Popen(
            [f"{bin_dir}/dagster-webserver", "-h", "127.0.0.1", "-p", str(ui_port), "-w", str(workspace)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip

        def server_info():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/server_info", timeout=2) as response:
                    return response.status == 200
            except OSError:
                return False

        wait_for(server_info, 120, "the UI's /server_info", interval_s=1)
    finally:
        for process in (webserver, code_server):
            if process is not None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)


@pytest.mark.parametrize("backend", ["s3", "swift"])
def test_helm_lints_and_templates_the_values_and_the_manifests_validate(backend):
    """A real helm (PyPI wheel) over deploy/helm/check-chart, the user-deployments shape of the official chart."""
    import kubernetes_validate

    helm = subprocess.run(["bash", str(REPO / "scripts/helm.sh")], capture_output=True, text=True, check=True).stdout
    helm = helm.strip()
    chart = str(HELM / "check-chart")
    values = ["-f", str(HELM / "values.yaml"), "-f", str(HELM / f"values-{backend}.yaml")]
    lint = subprocess.run([helm, "lint", "--strict", chart, *values], capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    rendered = subprocess.run([helm, "template", "gwtm", chart, *values], capture_output=True, text=True, check=True)
    manifests = [m for m in yaml.safe_load_all(rendered.stdout) if m]
    assert {m["kind"] for m in manifests} == {"Deployment", "Service"}
    for manifest in manifests:
        kubernetes_validate.validate(manifest, "1.30", strict=True)
    [deployment] = [m for m in manifests if m["kind"] == "Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["exec"]["command"] == ["dagster", "api", "grpc-health-check", "-p", "3030"]
    assert all(" " not in arg for arg in container["readinessProbe"]["exec"]["command"])
    secrets = {e["name"] for e in container["env"] if "valueFrom" in e}
    assert {"API_TOKEN", "KAFKA_CLIENT_SECRET"} <= secrets


def test_image_dependencies_are_locked_with_the_sqlalchemy_that_works_with_postgres():
    lock = dict(line.split("==") for line in (REPO / "deploy/constraints.txt").read_text().splitlines() if "==" in line)
    assert lock["SQLAlchemy"].startswith("2.0."), "SQLAlchemy 2.1 defaults postgresql:// to psycopg 3 (not installed)"
    assert "psycopg2-binary" in lock and lock["dagster"] == "1.13.27"
    assert "-c constraints.txt" in (REPO / "Dockerfile").read_text()


def test_no_compose_health_check_passes_an_argument_with_spaces():
    """podman's Docker API splits exec-form arguments on spaces; shell-form checks are one string."""
    config = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    for name, service in config["services"].items():
        test = (service.get("healthcheck") or {}).get("test")
        if test and test[0] == "CMD":
            assert all(" " not in arg for arg in test[1:]), name


def render_chart(*args: str) -> list[dict]:
    helm = subprocess.run(["bash", str(REPO / "scripts/helm.sh")], capture_output=True, text=True, check=True).stdout
    chart = str(HELM / "gwtm")
    lint = subprocess.run([helm.strip(), "lint", "--strict", chart, *args], capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    rendered = subprocess.run([helm.strip(), "template", "gwtm", chart, "-n", "gwtm", *args],
                              capture_output=True, text=True, check=True)  # fmt: skip
    return [m for m in yaml.safe_load_all(rendered.stdout) if m]


@pytest.mark.parametrize("backend", ["s3", "swift"])
def test_the_listeners_chart_renders_a_valid_whole_stack_with_the_production_secret(backend):
    """deploy/helm/gwtm (tests/test_kubernetes.py installs it on a real cluster): every manifest valid, every pod of a
    Dagster process with the instance, the listeners' secret and the pool's token; one replica, Recreate."""
    import kubernetes_validate

    manifests = render_chart("-f", str(HELM / "gwtm" / f"values-{backend}.yaml"))
    for manifest in manifests:
        kubernetes_validate.validate(manifest, "1.30", strict=True)
    deployments = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "Deployment"}
    assert set(deployments) == {f"gwtm-{c}" for c in
                                ("postgresql", "code-server", "webserver", "daemon", "run-workers", "metrics")}  # fmt: skip
    for name, deployment in deployments.items():
        assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"] == {"type": "Recreate"}, name
        if name == "gwtm-postgresql":
            continue
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in container["env"]}
        assert env["RUN_WORKERS_TOKEN"]["valueFrom"]["secretKeyRef"] == {
            "name": "gwtm-run-workers-token",
            "key": "RUN_WORKERS_TOKEN",
        }
        assert env["API_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "gwtm-listener-secrets", "key": "api-token"}
        assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/opt/dagster/home/dagster.yaml"}, name
    policies = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "NetworkPolicy"}
    pool = policies["gwtm-run-workers"]["spec"]
    allowed = {p["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for p in pool["ingress"][0]["from"]}
    assert allowed == {"daemon", "webserver", "metrics"} and pool["policyTypes"] == ["Ingress"]
    code = policies["gwtm-code-server"]["spec"]["ingress"][0]["from"]
    assert {p["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for p in code} == {"daemon", "webserver"}


def test_the_listeners_chart_instance_is_what_dagster_and_the_launcher_accept(monkeypatch):
    from dagster._config import process_config
    from dagster._config.config_type import ConfigType
    from dagster._config.field import resolve_to_config_type
    from dagster._core.instance.config import dagster_instance_config_schema

    from gwtm_assets.runtime.run_launcher_k8s import K8sWarmRunLauncher

    manifests = render_chart("-f", str(HELM / "gwtm" / "values-s3.yaml"), "--set", "hostNetwork=true")
    [config_map] = [m for m in manifests if m["kind"] == "ConfigMap"]
    instance = yaml.safe_load(config_map["data"]["dagster.yaml"])
    for name in ("DAGSTER_PG_HOST", "DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"):
        monkeypatch.setenv(name, "set-by-the-pod")
    schema = process_config(resolve_to_config_type(dagster_instance_config_schema()), instance)
    assert schema.success, schema.errors
    launcher_type = resolve_to_config_type(K8sWarmRunLauncher.config_type())
    assert isinstance(launcher_type, ConfigType)
    launcher = process_config(launcher_type, instance["run_launcher"]["config"])
    assert launcher.success, launcher.errors
    assert launcher.value["address"] == "127.0.0.1:4010"
    assert launcher.value["run_k8s_config"]["pod_spec_config"]["hostNetwork"] is True
    workspace = yaml.safe_load(config_map["data"]["workspace.yaml"])
    assert workspace["load_from"][0]["grpc_server"]["host"] == "127.0.0.1"
