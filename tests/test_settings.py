"""Environment variables users deploy with keep their meaning."""

import pytest

from gwtm_assets.resources.builders import build_resources
from gwtm_assets.settings import ConfigurationError, GWTMSettings


def test_documented_variables(monkeypatch):
    env = {
        "API_BASE": "https://treasuremap.space/api/v1/", "API_TOKEN": "secret", "STORAGE_BUCKET_SOURCE": "LOCAL",
        "OBSERVING_RUN": "O5", "DRY_RUN": "1", "WRITE_TO_STORAGE": "false", "VERBOSE": "0", "LOG_FORMAT": "json",
        "LOG_LEVEL": "debug", "KAFKA_OFFSET_RESET": "earliest", "KAFKA_GROUP_ID": "gwtm-prod",
    }  # fmt: skip
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s = GWTMSettings()
    assert (s.api_base, s.storage_bucket_source, s.observing_run) == (
        "https://treasuremap.space/api/v1/",
        "local",
        "O5",
    )
    assert s.dry_run and not s.write_to_storage and not s.verbose and s.log_format == "json" and s.log_level == "DEBUG"
    assert (s.kafka_offset_reset, s.kafka_group_id) == ("earliest", "gwtm-prod")
    assert not s.writes_enabled and not s.posts_enabled
    assert "secret" not in repr(s)
    resources = build_resources(s)
    assert not resources["product_storage"].writes_enabled
    assert not resources["gwtm_api"].posts_enabled


def test_defaults(monkeypatch):
    for key in ("API_BASE", "DRY_RUN", "WRITE_TO_STORAGE", "STORAGE_BUCKET_SOURCE", "OBSERVING_RUN"):
        monkeypatch.delenv(key, raising=False)
    s = GWTMSettings()
    assert s.storage_bucket_source == "local" and s.observing_run == "O4" and s.writes_enabled and not s.posts_enabled


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"storage_bucket_source": "swift"}, "STORAGE_BUCKET_SOURCE=swift needs OS_AUTH_URL"),
        ({"storage_bucket_source": "swift", "os_auth_url": "https://keystone/v3"}, "needs OS_USERNAME and OS_PASSWORD"),
        (
            {
                "storage_bucket_source": "swift",
                "os_auth_url": "https://keystone/v3",
                "os_username": "u",
                "os_password": "p",
            },
            "OS_PROJECT_NAME",
        ),
        (
            {"storage_bucket_source": "abfs"},
            "AZURE_ACCOUNT_NAME and AZURE_ACCOUNT_KEY, or AZURE_STORAGE_CONNECTION_STRING",
        ),
        (
            {"storage_bucket_source": "abfs", "azure_storage_connection_string": "AccountName=x"},
            "needs AccountName and AccountKey",
        ),
        ({"storage_bucket_source": "s3", "aws_bucket": ""}, "needs AWS_BUCKET"),
    ],
)
def test_incomplete_backend_configuration_fails_at_load_naming_the_variable(monkeypatch, settings, message):
    for name in ("OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME", "AZURE_ACCOUNT_NAME", "AZURE_ACCOUNT_KEY",
                 "AZURE_STORAGE_CONNECTION_STRING", "OS_APPLICATION_CREDENTIAL_ID"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError, match=message):
        build_resources(GWTMSettings(**settings))
    # Without writes, the backend is never touched.
    assert build_resources(GWTMSettings(**settings, write_to_storage=False))


def test_complete_backend_configurations_build_without_contacting_the_backend():
    v1 = GWTMSettings(
        storage_bucket_source="swift", os_auth_url="http://127.0.0.1:1/auth/v1.0", os_username="a:b", os_password="k"
    )
    assert build_resources(v1)["product_storage"].swift.auth().method == "v1"
    appcred = GWTMSettings(storage_bucket_source="swift", os_auth_url="https://keystone/v3", os_application_credential_id="id",
                           os_application_credential_secret="s")  # fmt: skip
    assert build_resources(appcred)["product_storage"].swift.auth().method == "application_credential"
    # The deployed chart: OS_USERNAME holds the application credential id; OS_PROJECT_NAME is not needed then.
    deployed = GWTMSettings(storage_bucket_source="swift", os_auth_url="https://keystone/v3", os_username="ab" * 16,
                            os_password="s", os_storage_url="https://swift:8001/swift/v1")  # fmt: skip
    swift = build_resources(deployed)["product_storage"].swift
    assert (swift.auth().method, swift.storage_url) == ("application_credential", "https://swift:8001/swift/v1")
    azure = GWTMSettings(storage_bucket_source="abfs", azure_account_name="acct", azure_account_key="a2V5")
    assert build_resources(azure)["product_storage"].azure.account_url == "https://acct.blob.core.windows.net"
    s3 = GWTMSettings(storage_bucket_source="s3", aws_bucket="b", aws_endpoint_url="http://127.0.0.1:1")
    assert build_resources(s3)["product_storage"].location() == "s3://b"


def test_readme_environment_reference_is_generated_from_the_settings():
    from gwtm_assets.env_reference import README, rewrite

    text = README.read_text()
    assert rewrite(text) == text, "run: python -m gwtm_assets.env_reference --write"


def test_listeners_selects_which_sensors_run():
    from dagster import DefaultSensorStatus

    from gwtm_assets.definitions import build_definitions

    defs = build_definitions(GWTMSettings(kafka_bootstrap_servers="127.0.0.1:9092", listeners="ligo"))
    status = {s.name: s.default_status for s in defs.get_repository_def().sensor_defs}
    assert status["ligo_alert_sensor"] == DefaultSensorStatus.RUNNING
    assert status["icecube_notice_sensor"] == DefaultSensorStatus.STOPPED


def test_empty_variables_mean_unset(monkeypatch):
    for name in ("DRY_RUN", "FLAT_MAP_NSIDE", "STORAGE_BUCKET_SOURCE", "KAFKA_OFFSET_RESET"):
        monkeypatch.setenv(name, "")  # what docker compose passes for an unset ${NAME:-}
    s = GWTMSettings()
    assert (s.dry_run, s.flat_map_nside, s.storage_bucket_source, s.kafka_offset_reset) == (
        False,
        512,
        "local",
        "latest",
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('{"enable.auto.commit": true}', "may not set enable.auto.commit: .*exactly once"),
        ('{"group.id": "other"}', "may not set group.id.*KAFKA_GROUP_ID"),
        ("broker.address.family=v6", "KAFKA_CONSUMER_OPTIONS is not JSON"),
        ('["socket.timeout.ms"]', "must be a JSON object"),
        ('{"no.such.option": 1}', 'librdkafka refuses it: No such configuration property: "no.such.option"'),
        ('{"broker.address.family": "v7"}', "librdkafka refuses it: Invalid value"),
    ],
)
def test_kafka_consumer_options_that_break_exactly_once_or_librdkafka_stop_the_load(value, message):
    with pytest.raises(ConfigurationError, match=message):
        build_resources(GWTMSettings(kafka_consumer_options=value))


def test_kafka_consumer_options_default_to_ipv4_and_pass_through():
    assert build_resources(GWTMSettings())["kafka"].consumer_config()["broker.address.family"] == "v4"
    config = build_resources(GWTMSettings(kafka_consumer_options='{"broker.address.family": "any", "socket.timeout.ms": 30000}'))["kafka"].consumer_config()  # fmt: skip
    assert (config["broker.address.family"], config["socket.timeout.ms"], config["enable.auto.commit"]) == (
        "any",
        30000,
        False,
    )


def test_an_invalid_setting_is_one_line_naming_the_variable_and_never_a_secret():
    from pydantic import ValidationError

    from gwtm_assets.settings import invalid_settings

    with pytest.raises(ValidationError) as refused:
        GWTMSettings(kafka_client_secret=987654321, sensor_loop_s=9)
    line = invalid_settings(refused.value)
    assert "KAFKA_CLIENT_SECRET=(hidden)" in line and "SENSOR_LOOP_S=9: " in line
    assert "987654321" not in line and "\n" not in line
