"""What the GWTM site does with the records (README, "The API double"; recorded from the real server's source), as assertions."""

from datetime import datetime

import requests


def assert_records_usable_by_the_site(api_server) -> None:
    """Every record: no offset in any time, ``datecreated`` growing per event in posting order, and the site
    opens every record's map (``skymap_fits_url`` is a key of the shared storage; the retraction has none)."""
    last: dict[str, datetime] = {}
    for request in api_server.state.posted("post_alert"):
        body = request.body
        for name in ("timesent", "time_of_signal", "datecreated"):
            if name in body:
                assert datetime.fromisoformat(body[name]).tzinfo is None, (name, body[name])
        created = datetime.fromisoformat(body["datecreated"])
        assert created > last.get(body["graceid"], datetime.min), body["alert_type"]
        last[body["graceid"]] = created
    for alert in api_server.state.alerts:
        answer = requests.get(
            api_server.base + "ajax_renormalize_skymap",
            params={"graceid": alert["graceid"], "alert_id": alert["id"]},
            headers={"api_token": api_server.state.admin_token},
            timeout=30,
        )
        if alert["alert_type"] == "Retraction":
            assert answer.status_code == 400 and "No skymap URL" in answer.text
            continue
        assert answer.status_code == 200, (alert["alert_type"], answer.text)
        assert abs(answer.json()["total_probability"] - 1) < 1e-3
    # The site shows, per event, the record posted last.
    for graceid in last:
        latest = api_server.state.latest_alert(graceid)
        posted = [r.body for r in api_server.state.posted("post_alert") if r.body["graceid"] == graceid]
        assert latest["alert_type"] == posted[-1]["alert_type"]
        assert latest["datecreated"] == datetime.fromisoformat(posted[-1]["datecreated"]).isoformat()
