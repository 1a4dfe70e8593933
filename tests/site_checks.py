"""What the GWTM site does with the records (README, "The API double"; recorded from the real server's source), as assertions."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

import requests


def assert_records_usable_by_the_site(api_server, made: Callable[[dict], Any] | None = None) -> None:
    """Every record: no offset in any time; per event, ``datecreated`` unique and growing in posting order, except
    that a record posted late (its notice older than one already posted) lies between the records of older and of
    newer notices; the site's latest record is the newest notice's; and the site opens every record's map
    (``skymap_fits_url`` is a key of the shared storage; the retraction has none).

    ``made(record)`` orders the records' notices (when each was made); by default, the order of posting (every
    record taken live)."""

    def _made(body: dict) -> Any:
        return made(body) if made else body["_posted"]

    by_event: dict[str, list[dict]] = {}
    for index, request in enumerate(api_server.state.posted("post_alert")):
        body = {**request.body, "_posted": index}
        for name in ("timesent", "time_of_signal", "datecreated"):
            if name in body:
                assert datetime.fromisoformat(body[name]).tzinfo is None, (name, body[name])
        earlier = by_event.setdefault(body["graceid"], [])
        created = datetime.fromisoformat(body["datecreated"])
        assert all(created != datetime.fromisoformat(e["datecreated"]) for e in earlier), body["alert_type"]
        if all(_made(e) <= _made(body) for e in earlier):
            assert all(created > datetime.fromisoformat(e["datecreated"]) for e in earlier), body["alert_type"]
        else:
            for e in earlier:
                if _made(e) != _made(body):
                    assert (created > datetime.fromisoformat(e["datecreated"])) == (_made(e) < _made(body)), (
                        body["alert_type"], e["alert_type"])  # fmt: skip
        earlier.append(body)
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
    # The site shows, per event, the record of the newest notice (of those made alike, the one posted last).
    for graceid, posted in by_event.items():
        latest = api_server.state.latest_alert(graceid)
        newest = max(enumerate(posted), key=lambda item: (_made(item[1]), item[0]))[1]
        assert latest["alert_type"] == newest["alert_type"]
        assert latest["datecreated"] == datetime.fromisoformat(newest["datecreated"]).isoformat()
