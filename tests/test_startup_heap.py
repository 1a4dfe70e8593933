"""The ingest commands keep what start-up built out of the garbage collector's passes (``startup_heap``)."""

import gc

import pytest

from gwtm_assets import ingest
from gwtm_assets.cli import main
from gwtm_assets.startup_heap import freeze_startup_heap

from .conftest import sample


def test_what_is_alive_at_start_up_is_left_out_of_the_collectors_passes():
    gc.unfreeze()
    survivor = [object()]
    assert any(o is survivor for o in gc.get_objects())
    freeze_startup_heap()
    assert gc.get_freeze_count() > 0
    assert not any(o is survivor for o in gc.get_objects())


@pytest.mark.parametrize("command", [["ingest"], ["replay"]])
def test_ingest_and_replay_freeze_the_heap_before_their_first_notice(command, settings, monkeypatch):
    monkeypatch.setenv("STORAGE_BUCKET_SOURCE", "local")
    monkeypatch.setenv("LOCAL_STORAGE_DIR", settings.local_storage_dir)
    frozen_at_notice = []

    def stop_at_the_notice(raw, path, *args):
        frozen_at_notice.append(gc.get_freeze_count())
        return ingest.IngestResult(path=path, error="stopped by the test")

    monkeypatch.setattr(ingest, "ingest_notice", stop_at_the_notice)
    gc.unfreeze()
    assert main([*command, str(sample("MS181101ab-retraction"))]) == 1
    assert len(frozen_at_notice) == 1 and frozen_at_notice[0] > 0
