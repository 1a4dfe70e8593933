"""The production instance class asks its storage once per run whether the notice's partition exists, not per step."""

from collections import Counter

import pytest
from dagster import AssetExecutionContext, DynamicPartitionsDefinition, asset, materialize

from gwtm_assets.runtime.instance import EventTaggingInstance, KnownPartitions

PARTITIONS = DynamicPartitionsDefinition(name="notices_under_test")


@asset(partitions_def=PARTITIONS)
def first(context: AssetExecutionContext) -> str:
    return context.partition_key


@asset(partitions_def=PARTITIONS)
def second(first: str) -> str:
    return first + "+2"


@asset(partitions_def=PARTITIONS)
def third(first: str, second: str) -> str:
    return second + "+3"


class CountingStorageLookups:
    """Wraps the instance's event storage ``has_dynamic_partition``, counting the queries that reach it."""

    def __init__(self, instance: EventTaggingInstance, monkeypatch: pytest.MonkeyPatch) -> None:
        self.queries: Counter[tuple[str, str]] = Counter()
        storage = instance.event_log_storage
        asked = storage.has_dynamic_partition

        def counted(partitions_def_name: str, partition_key: str) -> bool:
            self.queries[(partitions_def_name, partition_key)] += 1
            return asked(partitions_def_name, partition_key)

        monkeypatch.setattr(storage, "has_dynamic_partition", counted)


def test_a_run_asks_the_storage_about_its_partition_once(monkeypatch):
    instance = EventTaggingInstance.ephemeral_instance()
    instance.add_dynamic_partitions(PARTITIONS.name, ["MS261204a"])
    lookups = CountingStorageLookups(instance, monkeypatch)
    result = materialize([first, second, third], partition_key="MS261204a", instance=instance)
    assert result.success and result.output_for_node("third") == "MS261204a+2+3"
    # Dagster itself asks many times per run (every input's subset, every output): all but the first remembered.
    assert sum(lookups.queries.values()) == 1, lookups.queries


def test_a_missing_partition_is_asked_again_and_a_deleted_one_forgotten(monkeypatch):
    instance = EventTaggingInstance.ephemeral_instance()
    lookups = CountingStorageLookups(instance, monkeypatch)
    key = (PARTITIONS.name, "MS261204b")
    assert not instance.has_dynamic_partition(*key) and not instance.has_dynamic_partition(*key)
    assert lookups.queries[key] == 2
    instance.add_dynamic_partitions(PARTITIONS.name, ["MS261204b"])
    assert instance.has_dynamic_partition(*key) and instance.has_dynamic_partition(*key)
    assert lookups.queries[key] == 3
    instance.delete_dynamic_partition(*key)
    assert not instance.has_dynamic_partition(*key)


def test_known_partitions_expire_and_stay_bounded(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr("gwtm_assets.runtime.instance.time.monotonic", lambda: now[0])
    known = KnownPartitions(ttl_s=30.0, max_size=3)
    known.add(("p", "a"))
    now[0] += 29.9
    assert ("p", "a") in known
    now[0] += 0.2
    assert ("p", "a") not in known
    for key in "bcde":
        known.add(("p", key))
    assert ("p", "e") in known and len(known._seen_at) <= 3
