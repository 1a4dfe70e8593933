"""Environment variables users deploy with keep their meaning."""

from gwtm_assets.definitions import build_resources
from gwtm_assets.settings import GWTMSettings


def test_documented_variables(monkeypatch):
    env = {
        "API_BASE": "https://treasuremap.space/api/v0/", "API_TOKEN": "secret", "STORAGE_BUCKET_SOURCE": "LOCAL",
        "OBSERVING_RUN": "O5", "DRY_RUN": "1", "WRITE_TO_STORAGE": "false", "VERBOSE": "0", "LOG_FORMAT": "json",
        "LOG_LEVEL": "debug", "KAFKA_OFFSET_RESET": "earliest", "KAFKA_GROUP_ID": "gwtm-prod",
    }  # fmt: skip
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s = GWTMSettings()
    assert (s.api_base, s.storage_bucket_source, s.observing_run) == ("https://treasuremap.space/api/v0/", "local", "O5")
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


def test_unsupported_backend_fails_at_load_naming_the_variable(monkeypatch):
    import pytest

    from gwtm_assets.definitions import ConfigurationError

    with pytest.raises(ConfigurationError, match="STORAGE_BUCKET_SOURCE=swift"):
        build_resources(GWTMSettings(storage_bucket_source="swift"))
    # Without writes, the backend is never touched.
    assert build_resources(GWTMSettings(storage_bucket_source="swift", write_to_storage=False))
