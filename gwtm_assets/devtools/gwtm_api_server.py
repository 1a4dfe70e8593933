"""A GWTM API server of our own that enforces the contract (README, "The API double") and records requests.

Used by the tests (to assert what was sent), by ``make demo`` and by
``gwtm-cron dev-api``. Not a production server: state is in memory. It
behaves as the real server does where that decides what is correct
(recorded from the real server's source: "How the server and the site use what is posted"):

- times are stored naive; a time sent with an offset is shifted into the
  database session's zone (``session_offset``, not UTC by default), as
  PostgreSQL does, so mixed conventions show up as wrong times;
- ``datecreated`` defaults to the time of storing; the site's "latest record"
  of an event is the one with the greatest ``datecreated`` (``latest_alert``);
- the site opens ``skymap_fits_url`` as a key of the shared storage with
  healpy (``GET ajax_renormalize_skymap``, when ``storage`` is given);
- ``del_test_alerts`` deletes mock alerts not named for today +-1 day (except
  MS181101ab), their galaxy lists and their files under ``test/``;
- ``event_galaxies`` needs an alert with ``timesent`` within 15 s (else 400
  "Invalid 'timesent_stamp'") and counts the DOIs it is asked for;
- ``drop_reply_after_commit`` stores a POST and closes the connection without
  answering, as a lost reply does.
"""

from __future__ import annotations

import json
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
    storage: Any = None
    session_offset: timedelta = timedelta(hours=-5)
    doi_requests: int = 0
    dropped_replies: dict[str, int] = field(default_factory=dict)
    #: route -> (the fields a POST's body must have to be cut off, seconds it stalls first); one POST each
    cut_posts: dict[str, tuple[dict[str, Any], float]] = field(default_factory=dict)
    #: POSTs cut off so far, by route
    posts_cut: dict[str, int] = field(default_factory=dict)

    def stored_time(self, value: Any) -> str:
        """A time as the database stores it: naive, an offset converted to the session's zone."""
        parsed = datetime.fromisoformat(str(value))
        if parsed.tzinfo is not None:
            parsed = (parsed.astimezone(UTC) + self.session_offset).replace(tzinfo=None)
        return parsed.isoformat()

    def latest_alert(self, graceid: str) -> dict[str, Any] | None:
        """The record the site shows for an event: greatest ``datecreated``."""
        alerts = [a for a in self.alerts if a["graceid"] == graceid]
        return max(alerts, key=lambda a: datetime.fromisoformat(a["datecreated"]), default=None)

    def posted(self, endpoint: str) -> list[RecordedRequest]:
        """Successful requests to ``endpoint`` (a path ending)."""
        return [r for r in self.requests if r.path.endswith(endpoint) and r.status == 200 and r.method != "GET"]


class _Handler(BaseHTTPRequestHandler):
    state: ApiState
    prefix: str

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _record(self, status: int, route: str, query: dict[str, str], body: Any) -> None:
        with self.state.lock:
            self.state.requests.append(RecordedRequest(self.command, route, query, body, status))

    def _answer(self, status: int, payload: Any, route: str, query: dict[str, str], body: Any) -> None:
        self._record(status, route, query, body)
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
        if self.command == "POST" and self._cut_off(route, body):
            return
        status, payload = self._route(route, query, body)
        if self.command == "POST" and status == 200 and self._drop_reply(route):
            self._record(status, route, query, body)  # stored and recorded; the client never hears
            self._hang_up()
            return
        self._answer(status, payload, route, query, body)

    def _cut_off(self, route: str, body: Any) -> bool:
        """The POST :meth:`GWTMApiTestServer.cut_post` names stalls, then its connection closes: unanswered, unstored."""
        with self.state.lock:
            fields, stall_s = self.state.cut_posts.get(route, (None, 0.0))
            if fields is None or not isinstance(body, dict) or any(body.get(k) != v for k, v in fields.items()):
                return False
            del self.state.cut_posts[route]
            self.state.posts_cut[route] = self.state.posts_cut.get(route, 0) + 1
        time.sleep(stall_s)
        self._hang_up()
        return True

    def _hang_up(self) -> None:
        """Close the connection without an answer."""
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def _drop_reply(self, route: str) -> bool:
        with self.state.lock:
            left = self.state.dropped_replies.get(route, 0)
            self.state.dropped_replies[route] = max(left - 1, 0)
        return left > 0

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
                return 200, sorted(found, key=lambda a: datetime.fromisoformat(a["datecreated"]), reverse=True)
            if key == ("GET", "ajax_renormalize_skymap"):
                return self._site_skymap(query)
            if route in ("post_alert", "post_icecube_notice", "del_test_alerts") and not admin:
                return 403, {"message": "admin token required"}
            if key == ("POST", "post_alert"):
                errors = validate_alert(body)
                if errors:
                    return 400, {"message": "Request validation error", "errors": errors}
                stored = dict(body, id=s.next_id)
                stored.setdefault("datecreated", (datetime.now(UTC) + s.session_offset).replace(tzinfo=None))
                for name in ALERT_DATES:
                    if stored.get(name) is not None:
                        stored[name] = s.stored_time(stored[name])
                s.next_id += 1
                s.alerts.append(stored)
                return 200, stored
            if key == ("POST", "del_test_alerts"):
                return self._del_test_alerts()
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

    def _del_test_alerts(self) -> tuple[int, Any]:
        s = self.state
        keep = ["MS181101ab"] + [f"MS{(datetime.now() + timedelta(days=d)).strftime('%y%m%d')}" for d in (-1, 0, 1)]
        removed = {a["graceid"] for a in s.alerts if a["role"] == "test" and not any(k in a["graceid"] for k in keep)}
        s.alerts = [a for a in s.alerts if a["graceid"] not in removed]
        s.galaxy_lists = [g for g in s.galaxy_lists if g["graceid"] not in removed]
        if s.storage is not None:
            for info in list(s.storage.list("test/")):
                if not any(k in info.key for k in keep) and "alert.json" not in info.key:
                    s.storage.delete(info.key)
        return 200, {"message": "Successfully deleted test alerts and associated data"}

    def _site_skymap(self, query: dict[str, str]) -> tuple[int, Any]:
        """What the site's coverage calculator and renormalised-map view read: the alert's map, via healpy."""
        import healpy

        s = self.state
        if "alert_id" in query:
            alert = next((a for a in s.alerts if str(a["id"]) == query["alert_id"]), None)
        else:
            alert = s.latest_alert(query.get("graceid", ""))
        if alert is None:
            return 404, {"detail": "Alert not found"}
        if not alert.get("skymap_fits_url"):
            return 400, {"detail": "No skymap URL found for this alert"}
        try:
            data = s.storage.get(alert["skymap_fits_url"])
            with tempfile.NamedTemporaryFile(suffix=".fits.gz") as f:
                f.write(data)
                f.flush()
                prob = healpy.read_map(f.name)
        except Exception as exc:  # noqa: BLE001 -- the server answers any failure to read the map so
            return 400, {"detail": f"Map not found: {exc}"}
        return 200, {
            "alert_id": alert["id"],
            "skymap_fits_url": alert["skymap_fits_url"],
            "nside": healpy.npix2nside(len(prob)),
            "total_probability": float(prob.sum()),
        }

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
            sent = datetime.fromisoformat(s.stored_time(body["timesent_stamp"]))
        except (KeyError, ValueError):
            return 400, {
                "message": "Request validation error",
                "errors": [{"field": "timesent_stamp", "error": "datetime"}],
            }
        alerts = [
            a for a in s.alerts if a["graceid"] == body.get("graceid") and a.get("timesent")
            and abs((datetime.fromisoformat(a["timesent"]) - sent).total_seconds()) < 15
        ]  # fmt: skip
        if not alerts:
            return 400, {
                "message": f"Invalid 'timesent_stamp' for event {body.get('graceid')}",
                "errors": ["Please visit the alerts page for valid timesent stamps for this event"],
            }
        s.galaxy_lists.append(dict(body, listid=s.next_id))
        s.next_id += 1
        s.doi_requests += bool(body.get("request_doi"))
        return 200, {"message": "Successfully uploaded galaxies", "errors": [], "warnings": []}


class GWTMApiTestServer:
    """Start with ``with GWTMApiTestServer() as api:``; ``api.base`` is the ``API_BASE`` to use."""

    def __init__(
        self,
        admin_token: str = "admin-token",
        user_token: str = "user-token",
        port: int = 0,
        prefix: str = "/api/v1/",
        storage: Any = None,
        host: str = "127.0.0.1",
    ):
        self.state = ApiState(admin_token=admin_token, user_token=user_token, storage=storage)
        handler = type("Handler", (_Handler,), {"state": self.state, "prefix": prefix})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}{prefix}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def outage(self, seconds: float, status: int = 503) -> None:
        """Answer ``status`` to every request for the next ``seconds``."""
        self.state.outage_status = status
        self.state.outage_until = time.monotonic() + seconds

    def drop_reply_after_commit(self, route: str, times: int = 1) -> None:
        """Store the next ``times`` successful POSTs to ``route`` and close the connection without answering."""
        with self.state.lock:
            self.state.dropped_replies[route] = times

    def cut_post(self, route: str, stall_s: float, **fields: Any) -> None:
        """The next POST to ``route`` whose body has ``fields`` stalls ``stall_s``, then its connection is closed:
        never stored, never answered (a client killed meanwhile never posted it)."""
        with self.state.lock:
            self.state.cut_posts[route] = (fields, stall_s)

    def posts_cut(self, route: str) -> int:
        """POSTs to ``route`` cut off so far (counted when they arrive)."""
        with self.state.lock:
            return self.state.posts_cut.get(route, 0)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
