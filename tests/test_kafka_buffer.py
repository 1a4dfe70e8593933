"""``gwtm-cron kafka list|ingest`` against a real Kafka-protocol broker: what a topic holds, taken selectively,
the sensors' group offsets never moved."""

import confluent_kafka
import pytest
from confluent_kafka import TopicPartition

from gwtm_assets.cli import main
from gwtm_assets.devtools.tansu import TansuBroker
from gwtm_assets.notices.ligo import parse_ligo_notice

from .conftest import ADMIN_TOKEN, sample

SENSORS_GROUP = "gwtm-listeners-under-test"


@pytest.fixture(scope="module")
def broker():
    broker = TansuBroker()
    yield broker
    broker.stop()


def _committed(broker, topic, group):
    consumer = confluent_kafka.Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
    try:
        [found] = consumer.committed([TopicPartition(topic, 0)], timeout=10)
        return found.offset
    finally:
        consumer.close()


def test_list_shows_the_buffer_and_ingest_takes_only_the_matching_notices_once(
    broker, settings, api_server, monkeypatch, capsys
):
    topic = "igwn.gwalert.buffer"
    broker.create_topic(topic)
    names = ["MS181101ab-initial", "S230518h-preliminary", "MS181101ab-preliminary"]  # not in time order
    raws = [sample(n).read_bytes() for n in names]
    broker.produce(topic, [raws[0], b"not a notice", raws[1], raws[2]])
    sensors = confluent_kafka.Consumer({"bootstrap.servers": broker.bootstrap, "group.id": SENSORS_GROUP})
    sensors.commit(offsets=[TopicPartition(topic, 0, 1)], asynchronous=False)
    sensors.close()
    for name, value in {
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "KAFKA_GROUP_ID": SENSORS_GROUP, "API_BASE": settings.api_base,
        "API_TOKEN": ADMIN_TOKEN, "STORAGE_BUCKET_SOURCE": "local", "LOCAL_STORAGE_DIR": settings.local_storage_dir,
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)

    assert main(["kafka", "list", "--topic", topic]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{topic}: 4 message(s)"
    assert [line.split()[0] for line in lines[1:]] == [f"{topic}[0]@{i}" for i in range(4)]
    assert "not a notice" in lines[2]
    assert lines[3].split()[1:3] == ["S230518h", "PRELIMINARY"] and lines[3].endswith(" not landed")
    assert main(["kafka", "list", "--topic", topic, "--max", "2"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"{topic}: 2 message(s)"

    assert main(["kafka", "ingest", "--topic", topic, "--filter", "MS1811"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"{topic}: 2 of 4 message(s) match"
    posted = [p.body["alert_type"] for p in api_server.state.posted("post_alert")]
    assert posted == ["Preliminary", "Initial"]  # time order, not the topic's

    assert main(["kafka", "ingest", "--topic", topic, "--exclude-mock"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"{topic}: 1 of 4 message(s) match"
    assert [p.body["graceid"] for p in api_server.state.posted("post_alert")][-1] == "S230518h"

    # Everything is landed now; a second ingest runs nothing again and posts nothing.
    assert main(["kafka", "ingest", "--topic", topic]) == 0
    out = capsys.readouterr().out
    assert out.count("already landed") == 3 and len(api_server.state.posted("post_alert")) == 3
    assert main(["kafka", "list", "--topic", topic]) == 0
    listed = capsys.readouterr().out.splitlines()[1:]
    assert sum(line.endswith(" landed") and not line.endswith("not landed") for line in listed) == 3
    key = parse_ligo_notice(raws[1]).partition_key
    assert key in out

    # The sensors' group is where it was; the browsing group committed nothing.
    assert _committed(broker, topic, SENSORS_GROUP) == 1
    assert _committed(broker, topic, f"{SENSORS_GROUP}-browse") < 0


def test_an_unknown_topic_is_one_line_naming_it_and_exit_1(broker, settings, monkeypatch, capsys):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap)
    monkeypatch.setenv("STORAGE_BUCKET_SOURCE", "local")
    monkeypatch.setenv("LOCAL_STORAGE_DIR", settings.local_storage_dir)
    assert main(["kafka", "list", "--topic", "no.such.topic"]) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("gwtm-cron kafka list: topic no.such.topic")


def test_without_kafka_settings_it_says_which_to_set(monkeypatch, capsys):
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "KAFKA_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    assert main(["kafka", "list"]) == 2
    assert "KAFKA_BOOTSTRAP_SERVERS" in capsys.readouterr().err
