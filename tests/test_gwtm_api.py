"""The GWTM API resource against the contract-checking server."""

import logging

import pytest

from gwtm_assets.resources.gwtm_api import GWTMApiError, GWTMApiResource

from .conftest import ADMIN_TOKEN


def _api(server, token=ADMIN_TOKEN, **kwargs):
    return GWTMApiResource(api_base=server.base, api_token=token, backoff_max_s=0.2, **kwargs)


def test_post_and_query(api_server):
    api = _api(api_server)
    stored = api.post_alert({"graceid": "S1", "role": "observation", "alert_type": "Preliminary", "area_90": 10.0})
    assert stored["id"] == 1
    assert [a["id"] for a in api.query_alerts("S1", "Preliminary")] == [1]
    assert api.query_alerts("S1", "Update") == []


def test_4xx_is_not_retried_and_names_endpoint_and_status_not_token(api_server):
    api = _api(api_server)
    with pytest.raises(GWTMApiError) as error:
        api.post_alert({"graceid": "S1", "role": "observation", "alert_type": "Preliminary", "avgra": 400})
    assert error.value.status == 400 and "post_alert" in str(error.value) and "avgra" in str(error.value)
    assert ADMIN_TOKEN not in str(error.value)
    assert len([r for r in api_server.state.requests if r.path == "post_alert"]) == 1


def test_wrong_token_is_401_and_user_token_is_403(api_server):
    with pytest.raises(GWTMApiError, match="401"):
        _api(api_server, token="nope").query_alerts("S1")
    with pytest.raises(GWTMApiError, match="403"):
        _api(api_server, token="user-token").post_alert({"graceid": "S1", "role": "test", "alert_type": "Initial"})


def test_5xx_is_retried_with_backoff(api_server, caplog):
    api_server.outage(1.0)
    with caplog.at_level(logging.WARNING):
        assert _api(api_server, max_attempts=8).query_alerts("S1") == []
    assert any("retrying" in r.message for r in caplog.records)
    assert ADMIN_TOKEN not in caplog.text


def test_unreachable_api_gives_up_with_a_clear_error():
    api = GWTMApiResource(api_base="http://127.0.0.1:9/api/", api_token=ADMIN_TOKEN, max_attempts=2, backoff_max_s=0.1)
    with pytest.raises(GWTMApiError, match="query_alerts: no response: ConnectionError"):
        api.query_alerts("S1")


def test_disabled_api_logs_instead_of_posting(caplog):
    api = GWTMApiResource(api_base="")
    with caplog.at_level(logging.INFO):
        assert api.post_alert({"graceid": "S1"})["id"] is None
    assert "not posted" in caplog.text
    assert api.query_alerts("S1") == []


def test_icecube_post_is_idempotent_on_ref_id(api_server):
    api = _api(api_server)
    body = {"notice_data": {"ref_id": "S1-1-Preliminary", "graceid": "S1"}, "events_data": []}
    assert api.post_icecube_notice(body)["icecube_notice"]["ref_id"] == "S1-1-Preliminary"
    assert api.post_icecube_notice(body)["icecube_notice"] == {"message": "event already exists"}
    with pytest.raises(GWTMApiError, match="400"):
        api.post_icecube_notice({"notice_data": {"ref_id": 4642}, "events_data": []})
