"""A GWTM API server of our own that enforces the contract (docs/gwtm-api.md) and records requests.

Used by the tests (to assert what was sent), by ``make demo`` and by
``gwtm-cron dev-api``. Not a production server: state is in memory.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlparse

ALERT_STRINGS = (
    "graceid", "role", "alert_type", "alternateid", "detectors", "description", "skymap_fits_url", "group",
    "observing_run", "pipeline", "search", "ivorn", "ext_coinc_observatory", "ext_coinc_search",
)  # fmt: skip
ALERT_DATES = ("timesent", "time_of_signal", "datecreated")
ALERT_INTS = ("packet_type", "gcn_notice_id")
UNIT_INTERVAL = ("prob_bns", "prob_nsbh", "prob_gap", "prob_bbh", "prob_terrestrial", "prob_hasns", "prob_hasremenant")
ALERT_NUMBERS = (
    "far", "distance", "distance_error", "centralfreq", "duration", "avgra", "avgdec", "area_50", "area_90",
    "time_coincidence_far", "time_sky_position_coincidence_far", "time_difference", *UNIT_INTERVAL,
)  # fmt: skip
RANGES = {"avgra": (0, 360), "avgdec": (-90, 90), "far": (0, None), "area_50": (0, None), "area_90": (0, None)}
RANGES |= {k: (0, 1) for k in UNIT_INTERVAL}


def validate_alert(body: Any) -> list[dict[str, str]]:
    """Contract errors of a ``post_alert`` body, one per field, as the FastAPI server names them."""
    if not isinstance(body, dict):
        return [{"field": "<body>", "error": "must be a JSON object"}]
    errors = []
    for name in ("graceid", "role", "alert_type"):
        if body.get(name) in (None, ""):
            errors.append({"field": name, "error": "field required"})
    if body.get("role") not in (None, "observation", "test"):
        errors.append({"field": "role", "error": "must be observation or test"})
    for name, value in body.items():
        if value is None:
            continue
        if name in ALERT_STRINGS and not isinstance(value, str):
            errors.append({"field": name, "error": "must be a string"})
        elif name in ALERT_DATES:
            try:
                datetime.fromisoformat(str(value))
            except ValueError:
                errors.append({"field": name, "error": "must be an ISO 8601 datetime"})
        elif name in ALERT_INTS and (not isinstance(value, int) or isinstance(value, bool)):
            errors.append({"field": name, "error": "must be an integer"})
        elif name in ALERT_NUMBERS:
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                errors.append({"field": name, "error": "must be a number"})
                continue
            low, high = RANGES.get(name, (None, None))
            if (low is not None and value < low) or (high is not None and value > high):
                errors.append({"field": name, "error": f"out of range [{low}, {high}]"})
    return errors


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int


@dataclass
class ApiState:
    admin_token: str
    user_token: str
    alerts: list[dict[str, Any]] = field(default_factory=list)
    galaxy_lists: list[dict[str, Any]] = field(default_factory=list)
    icecube_notices: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    outage_until: float = 0.0
    outage_status: int = 503
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_id: int = 1

    def posted(self, endpoint: str) -> list[RecordedRequest]:
        """Successful requests to ``endpoint`` (a path ending)."""
        return [r for r in self.requests if r.path.endswith(endpoint) and r.status == 200 and r.method != "GET"]


class _Handler(BaseHTTPRequestHandler):
    state: ApiState
    prefix: str

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _answer(self, status: int, payload: Any, route: str, query: dict[str, str], body: Any) -> None:
        with self.state.lock:
            self.state.requests.append(RecordedRequest(self.command, route, query, body, status))
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        url = urlparse(self.path)
        route = url.path.removeprefix(self.prefix)
        route = route.strip("/")
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            return self._answer(400, {"message": "body is not JSON"}, route, query, raw.decode(errors="replace"))
        status, payload = self._route(route, query, body)
        self._answer(status, payload, route, query, body)

    do_GET = do_POST = do_DELETE = _handle

    def _route(self, route: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        s = self.state
        if time.monotonic() < s.outage_until:
            return s.outage_status, {"message": "service unavailable"}
        token = self.headers.get("api_token")
        if token not in (s.admin_token, s.user_token):
            return 401, {"message": "invalid or missing api_token"}
        admin = token == s.admin_token
        key = (self.command, route)
        with s.lock:
            if key == ("GET", "query_alerts"):
                found = [a for a in s.alerts if a["graceid"] == query.get("graceid", a["graceid"])]
                found = [a for a in found if a["alert_type"] == query.get("alert_type", a["alert_type"])]
                return 200, sorted(found, key=lambda a: -a["id"])
            if route in ("post_alert", "post_icecube_notice", "del_test_alerts") and not admin:
                return 403, {"message": "admin token required"}
            if key == ("POST", "post_alert"):
                errors = validate_alert(body)
                if errors:
                    return 400, {"message": "Request validation error", "errors": errors}
                stored = dict(body, id=s.next_id)
                s.next_id += 1
                s.alerts.append(stored)
                return 200, stored
            if key == ("POST", "del_test_alerts"):
                keep = ["MS181101ab"] + [
                    f"MS{(datetime.now() + timedelta(days=d)).strftime('%y%m%d')}" for d in (-1, 0, 1)
                ]
                before = len(s.alerts)
                s.alerts = [a for a in s.alerts if a["role"] != "test" or any(k in a["graceid"] for k in keep)]
                return 200, {"message": f"removed {before - len(s.alerts)} test alerts"}
            if key == ("POST", "post_icecube_notice"):
                return self._icecube(body)
            if key == ("GET", "event_galaxies"):
                lists = [g for g in s.galaxy_lists if g["graceid"] == query.get("graceid")]
                lists = [g for g in lists if g["groupname"] == query.get("groupname", g["groupname"])]
                return 200, [
                    {"id": i, "listid": g["listid"], **gal} for g in lists for i, gal in enumerate(g["galaxies"])
                ]
            if key == ("DELETE", "remove_event_galaxies"):
                listid = int(query.get("listid", -1))
                s.galaxy_lists = [g for g in s.galaxy_lists if g["listid"] != listid]
                return 200, {"message": f"removed list {listid}"}
            if key == ("POST", "event_galaxies"):
                return self._galaxies(body)
        return 404, {"message": f"no route {self.command} {route}"}

    def _icecube(self, body: Any) -> tuple[int, Any]:
        notice = (body or {}).get("notice_data") if isinstance(body, dict) else None
        if not isinstance(notice, dict) or not isinstance(notice.get("ref_id"), str):
            return 400, {
                "message": "Request validation error",
                "errors": [{"field": "ref_id", "error": "must be a string"}],
            }
        events = body.get("events_data") or []
        if any(not isinstance(e.get("ra_uncertainty"), (int, float)) for e in events):
            return 400, {
                "message": "Request validation error",
                "errors": [{"field": "ra_uncertainty", "error": "must be a number"}],
            }
        if notice["ref_id"] in self.state.icecube_notices:
            return 200, {"icecube_notice": {"message": "event already exists"}, "icecube_notice_events": []}
        self.state.icecube_notices[notice["ref_id"]] = body
        return 200, {"icecube_notice": notice, "icecube_notice_events": events}

    def _galaxies(self, body: Any) -> tuple[int, Any]:
        s = self.state
        if not isinstance(body, dict) or not isinstance(body.get("galaxies"), list):
            return 400, {"message": "Request validation error", "errors": [{"field": "galaxies", "error": "required"}]}
        try:
            sent = datetime.fromisoformat(str(body["timesent_stamp"])).replace(tzinfo=None)
        except (KeyError, ValueError):
            return 400, {
                "message": "Request validation error",
                "errors": [{"field": "timesent_stamp", "error": "datetime"}],
            }
        alerts = [
            a for a in s.alerts if a["graceid"] == body.get("graceid") and "timesent" in a
            and abs((datetime.fromisoformat(a["timesent"]).replace(tzinfo=None) - sent).total_seconds()) <= 15
        ]  # fmt: skip
        if not alerts:
            return 200, {"message": "", "errors": ["no alert within 15 s of timesent_stamp"], "warnings": []}
        s.galaxy_lists.append(dict(body, listid=s.next_id))
        s.next_id += 1
        return 200, {"message": "Successfully uploaded galaxies", "errors": [], "warnings": []}


class GWTMApiTestServer:
    """Start with ``with GWTMApiTestServer() as api:``; ``api.base`` is the ``API_BASE`` to use."""

    def __init__(
        self, admin_token: str = "admin-token", user_token: str = "user-token", port: int = 0, prefix: str = "/api/v1/"
    ):
        self.state = ApiState(admin_token=admin_token, user_token=user_token)
        handler = type("Handler", (_Handler,), {"state": self.state, "prefix": prefix})
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}{prefix}"

    def start(self) -> GWTMApiTestServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def outage(self, seconds: float, status: int = 503) -> None:
        """Answer ``status`` to every request for the next ``seconds``."""
        self.state.outage_status = status
        self.state.outage_until = time.monotonic() + seconds

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
