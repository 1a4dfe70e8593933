"""The IO managers on their own: what a run reads from storage, and what it gets."""

from collections import Counter

from dagster import asset, materialize

from gwtm_assets.io.io_managers import PickledValueIOManager
from gwtm_assets.io.object_store import LocalObjectStore
from gwtm_assets.resources.storage import ProductStorage
from gwtm_assets.storage_keys import intermediate_key


@asset
def notice() -> dict:
    return {"cells": [1, 2, 3]}


@asset
def mutating_reader(notice: dict) -> int:
    notice["cells"].append(4)  # a step that changes its input must not change what the next step loads
    return len(notice["cells"])


@asset
def second_reader(notice: dict, mutating_reader: int) -> int:
    return len(notice["cells"])


def test_a_run_reads_each_intermediate_once_and_every_load_gets_its_own_copy(tmp_path, monkeypatch):
    reads: Counter[str] = Counter()
    get = LocalObjectStore.get

    def counted_get(store: LocalObjectStore, key: str) -> bytes:
        reads[key] += 1
        return get(store, key)

    monkeypatch.setattr(LocalObjectStore, "get", counted_get)
    resources = {"io_manager": PickledValueIOManager(storage=ProductStorage(backend="local", local_dir=str(tmp_path)))}
    graph, store = [notice, mutating_reader, second_reader], LocalObjectStore(tmp_path)
    key = intermediate_key("intermediates", ["notice"], None)

    whole = materialize(graph, resources=resources)
    assert whole.output_for_node("second_reader") == 3
    assert store.exists(key)  # stored, for runs to come
    assert reads[key] == 0  # but both loads of this run served from the bytes it wrote

    for run in (1, 2):  # runs of the readers only: the notice comes from storage, once per run
        readers = materialize(graph, selection=["mutating_reader", "second_reader"], resources=resources)
        assert readers.output_for_node("second_reader") == 3
        assert reads[key] == run

    store.put(key, b"not a pickle")  # what another run wrote since is what the next run reads
    assert not materialize(graph, selection=["mutating_reader"], resources=resources, raise_on_error=False).success
