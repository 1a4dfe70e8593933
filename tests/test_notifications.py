"""A person is told: a partition that failed for good, a stream down and back; once each, on Slack and by email."""

from __future__ import annotations

import time

import pytest
from dagster import (
    DagsterEventType,
    DagsterInstance,
    build_run_status_sensor_context,
    build_sensor_context,
    materialize,
)

from gwtm_assets.assets import LIGO_ASSETS
from gwtm_assets.devtools.tansu import TansuBroker
from gwtm_assets.jobs import LIGO_RECORD_ASSETS
from gwtm_assets.notices.history import land
from gwtm_assets.notices.ligo import parse_ligo_notice
from gwtm_assets.resources.builders import build_resources
from gwtm_assets.resources.notify import NotifierResource
from gwtm_assets.sensors.health import build_stream_health
from gwtm_assets.sensors.kafka import KafkaConsumerResource
from gwtm_assets.sensors.notifications import build_failure_notification_sensor

from .conftest import sample
from .notification_doubles import SlackDouble, SmtpServer

SLACK_TOKEN = "xoxb-test-token"


@pytest.fixture
def outlets():
    slack, smtp = SlackDouble(SLACK_TOKEN), SmtpServer()
    notifier = NotifierResource(
        slack_token=SLACK_TOKEN, slack_channel="#gwtm-ops", slack_api_url=slack.api_url,
        smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_starttls=False, smtp_to="ops@example.org",
        ui_url="https://dagster.example.org",
    )  # fmt: skip
    yield notifier, slack, smtp
    slack.stop()
    smtp.stop()


def test_a_partition_that_failed_for_good_is_told_once_with_event_step_cause_and_link(settings, outlets):
    notifier, slack, smtp = outlets
    raw = sample("MS181101ab-preliminary").read_bytes()
    key = parse_ligo_notice(raw).partition_key
    # The API refuses the token (a 4xx): no retry can mend it.
    resources = build_resources(settings.model_copy(update={"api_token": "a-revoked-token"})) | {"notifier": notifier}
    land(resources["product_storage"].object_store(), parse_ligo_notice(raw))
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("gw_alerts", [key])
    result = materialize(LIGO_ASSETS, selection=LIGO_RECORD_ASSETS, partition_key=key, instance=instance,
                         resources=resources, raise_on_error=False)  # fmt: skip
    assert not result.success
    run = instance.get_run_by_id(result.run_id)
    [failure] = instance.all_logs(result.run_id, of_type=DagsterEventType.RUN_FAILURE)
    sensor = build_failure_notification_sensor()
    with build_run_status_sensor_context(
        sensor_name=sensor.name, dagster_event=failure.dagster_event, dagster_instance=instance, dagster_run=run,
        resources={"notifier": notifier, "recovery": resources["recovery"]},
    ) as context:  # fmt: skip
        sensor(context.for_run_failure())

    [message] = slack.messages
    print(message["text"])  # quoted in README, "Monitoring"
    assert message["channel"] == "#gwtm-ops"
    text = message["text"]
    assert "MS181101ab: api_record failed for good" in text
    assert f"Partition: {key}" in text and "Step: api_record" in text
    assert "GWTM API" in text and "HTTP 40" in text  # the cause, as the API gave it
    assert "not retryable" in text
    assert f"https://dagster.example.org/runs/{result.run_id}" in text
    assert "a-revoked-token" not in text
    [email] = smtp.messages
    assert "Subject: [GWTM listeners] MS181101ab: api_record failed for good" in email
    assert "ops@example.org" in email and f"/runs/{result.run_id}" in email


def test_a_channel_that_fails_is_one_line_naming_its_variable_and_the_others_still_go(outlets, caplog):
    notifier, slack, smtp = outlets
    wrong = notifier.model_copy(update={"slack_token": "xoxb-wrong"})
    assert wrong.send("subject", "text") == ["email"]
    assert slack.messages == [] and len(smtp.messages) == 1
    [line] = [r.getMessage() for r in caplog.records if "not sent" in r.getMessage()]
    assert "SLACK_TOKEN" in line and "invalid_auth" in line and "xoxb-wrong" not in line
    webhook = NotifierResource(slack_webhook_url=slack.webhook_url)
    assert webhook.send("subject", "text") == ["slack-webhook"]
    assert slack.messages[-1]["via"] == "webhook"
    assert NotifierResource().send("nothing configured", "text") == []


@pytest.mark.servers
def test_a_stream_outage_is_one_message_when_it_starts_and_one_when_it_ends(settings, outlets):
    notifier, slack, smtp = outlets
    broker = TansuBroker()
    try:
        broker.create_topic("igwn.gwalert")
        kafka = KafkaConsumerResource(bootstrap_servers=broker.bootstrap, group_id="g-notify")
        resources = build_resources(settings) | {"kafka": kafka, "notifier": notifier}
        _, health_sensor = build_stream_health(True, "igwn.gwalert", "unused", "", 120, {"ligo"})
        instance = DagsterInstance.ephemeral()
        cursor = None

        def tick() -> None:
            nonlocal cursor
            with build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
                cursor = health_sensor(context).cursor

        tick()
        assert slack.messages == []
        broker.stop()
        for _ in range(3):  # an outage of several ticks
            tick()
        assert [m["text"].splitlines()[0] for m in slack.messages] == ["*ligo notice stream DOWN*"]
        assert "broker unreachable" in slack.messages[0]["text"]
        assert "https://dagster.example.org/assets/incoming_gw_notice?view=checks" in slack.messages[0]["text"]
        broker.start()
        broker.create_topic("igwn.gwalert")
        deadline = time.monotonic() + 30
        while len(slack.messages) < 2 and time.monotonic() < deadline:
            tick()
        tick()
        assert [m["text"].splitlines()[0] for m in slack.messages] == [
            "*ligo notice stream DOWN*",
            "*ligo notice stream back*",
        ]
        assert len(smtp.messages) == 2
    finally:
        broker.stop()


def test_a_mendable_failure_says_nothing_until_recovery_has_used_its_tries(settings, outlets):
    from gwtm_assets.resources.settings import RecoveryConfig

    notifier, slack, smtp = outlets
    key = "S230518h-Preliminary-0123abcd"  # never landed: raw_alert cannot read it, a failure a retry may mend
    resources = build_resources(settings) | {"notifier": notifier}
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("gw_alerts", [key])
    sensor = build_failure_notification_sensor()
    texts = []
    for _ in range(2):
        result = materialize(LIGO_ASSETS, selection=LIGO_RECORD_ASSETS, partition_key=key, instance=instance,
                             resources=resources, raise_on_error=False)  # fmt: skip
        assert not result.success
        [failure] = instance.all_logs(result.run_id, of_type=DagsterEventType.RUN_FAILURE)
        with build_run_status_sensor_context(
            sensor_name=sensor.name, dagster_event=failure.dagster_event, dagster_instance=instance,
            dagster_run=instance.get_run_by_id(result.run_id),
            resources={"notifier": notifier, "recovery": RecoveryConfig(max_attempts=2)},
        ) as context:  # fmt: skip
            sensor(context.for_run_failure())
        texts.append([m["text"] for m in slack.messages])
    assert texts[0] == [], "the first failure is recovery's to retry"
    [text] = texts[1]
    assert "S230518h: raw_alert failed for good" in text and "failed 2 times" in text
    assert len(smtp.messages) == 1
