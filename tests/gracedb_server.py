"""A GraceDB double for public superevents, as GraceDB's REST API documents them (gracedb.ligo.org/documentation).

- ``GET <root>``: the API root, with ``links`` (``superevents``) and ``templates``
  (``superevent-detail-template``, ``superevent-file-list-template``,
  ``superevent-file-detail-template``) that clients build their URLs from.
- ``GET <root>superevents/?query=...&sort=...&count=...&start=...``: one page
  ``{"numRows", "superevents": [...], "links": {"self", "next", "previous",
  "first", "last"}}``; the query supports ``created: <date> .. <date>`` and a
  bare superevent id; an unparsable query answers 400.
- ``GET <root>superevents/<id>/files/``: ``{file name: URL}``, every uploaded
  version as ``<name>,<N>`` beside the bare ``<name>`` (the latest); an unknown
  superevent answers 404 ``{"detail": "Not found."}``.
- ``GET <root>superevents/<id>/files/<name>``: the file's bytes.

Faults as a busy GraceDB gives them: ``unavailable(n)`` answers 503 with
``Retry-After`` (GraceDB's transient 503) to the next ``n`` requests,
``stall(n, seconds)`` delays the next ``n`` answers, and ``rate_limit`` answers
429 with ``Retry-After`` past that many requests per second.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, quote, unquote, urlsplit

PAGE_SIZE = 10
CREATED_RANGE = re.compile(r"^created:\s*(?P<start>.+?)\s*\.\.\s*(?P<end>.+?)\s*$")


@dataclass
class Superevent:
    superevent_id: str
    created: datetime
    files: list[tuple[str, bytes]] = field(default_factory=list)  # (bare name, bytes), in upload order

    def listing(self) -> dict[str, bytes]:
        versions: dict[str, int] = {}
        found: dict[str, bytes] = {}
        for name, content in self.files:
            number = versions[name] = versions.get(name, -1) + 1
            found[f"{name},{number}"] = content
            found[name] = content
        return found


@dataclass
class GraceDBState:
    superevents: dict[str, Superevent] = field(default_factory=dict)
    unavailable: int = 0
    stalls: int = 0
    stall_s: float = 0.0
    rate_limit: int | None = None
    window: list[float] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    answered: dict[int, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace(" UTC", "").strip())


class _Handler(BaseHTTPRequestHandler):
    state: GraceDBState
    root: str

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        s = self.state
        with s.lock:
            s.requests.append(self.path)
            fault = None
            if s.unavailable > 0:
                s.unavailable -= 1
                fault = 503
            now = time.monotonic()
            s.window = [t for t in s.window if now - t < 1.0] + [now]
            if fault is None and s.rate_limit is not None and len(s.window) > s.rate_limit:
                fault = 429
            stall = 0.0
            if s.stalls > 0:
                s.stalls -= 1
                stall = s.stall_s
        if stall:
            time.sleep(stall)
        if fault is not None:
            self._send(fault, {"detail": "Service temporarily unavailable"}, headers={"Retry-After": "1"})
            return
        status, body, content_type = self._route()
        self._send(status, body, content_type=content_type)

    def _send(
        self, status: int, body: Any, content_type: str = "application/json", headers: dict[str, str] | None = None
    ) -> None:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        with self.state.lock:
            self.state.answered[status] = self.state.answered.get(status, 0) + 1
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up on a stalled answer
            pass

    def _url(self, path: str) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{self.root}{path}"

    def _route(self) -> tuple[int, Any, str]:
        parts = urlsplit(self.path)
        if not parts.path.startswith(self.root):
            return 404, {"detail": "Not found."}, "application/json"
        path = parts.path[len(self.root) :]
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if path == "":
            return 200, self._api_root(), "application/json"
        if path == "superevents/":
            return self._search(query)
        match = re.fullmatch(r"superevents/(?P<id>[^/]+)/files/(?P<name>[^/]*)", path)
        if match:
            superevent = self.state.superevents.get(match["id"])
            if superevent is None:
                return 404, {"detail": "Not found."}, "application/json"
            listing = superevent.listing()
            name = unquote(match["name"])
            if not name:
                files = {n: self._url(f"superevents/{superevent.superevent_id}/files/{quote(n)}") for n in listing}
                return 200, files, "application/json"
            if name not in listing:
                return 404, {"detail": "Not found."}, "application/json"
            return 200, listing[name], "application/octet-stream"
        match = re.fullmatch(r"superevents/(?P<id>[^/]+)/", path)
        if match and match["id"] in self.state.superevents:
            return 200, self._summary(self.state.superevents[match["id"]]), "application/json"
        return 404, {"detail": "Not found."}, "application/json"

    def _api_root(self) -> dict[str, Any]:
        detail = "superevents/{superevent_id}/"
        return {
            "links": {"events": self._url("events/"), "superevents": self._url("superevents/")},
            "templates": {
                "superevent-detail-template": self._url(detail),
                "superevent-file-list-template": self._url(detail + "files/"),
                "superevent-file-detail-template": self._url(detail + "files/{file_name}"),
            },
            "api-versions": ["v1"],
            "server-version": "double",
            "superevent-categories": {"P": "Production", "T": "Test", "M": "MDC"},
        }

    def _summary(self, superevent: Superevent) -> dict[str, Any]:
        sid = superevent.superevent_id
        return {
            "superevent_id": sid,
            "category": "MDC" if sid.startswith("M") else "Production",
            "created": f"{superevent.created:%Y-%m-%d %H:%M:%S} UTC",
            "links": {"files": self._url(f"superevents/{sid}/files/")},
        }

    def _search(self, query: dict[str, str]) -> tuple[int, Any, str]:
        found = list(self.state.superevents.values())
        text = query.get("query", "").strip()
        if text:
            match = CREATED_RANGE.match(text)
            if match:
                try:
                    start, end = _parse_time(match["start"]), _parse_time(match["end"])
                except ValueError:
                    return 400, {"detail": f"Invalid query: {text}"}, "application/json"
                found = [s for s in found if start <= s.created <= end]
            elif re.fullmatch(r"[A-Z]*S\d{6}[a-z]+", text):
                found = [s for s in found if s.superevent_id == text]
            else:
                return 400, {"detail": f"Invalid query: {text}"}, "application/json"
        sort = query.get("sort", "")
        found.sort(key=lambda s: s.created, reverse=sort.startswith("-"))
        count = int(query.get("count", PAGE_SIZE))
        start_at = int(query.get("start", 0))
        page = found[start_at : start_at + count]

        def link(at: int) -> str:
            return (
                self._url("superevents/")
                + "?"
                + "&".join(f"{k}={quote(v)}" for k, v in {**query, "start": str(at), "count": str(count)}.items())
            )

        links = {"self": link(start_at), "first": link(0), "last": link(max(len(found) - count, 0))}
        links["next"] = link(start_at + count) if start_at + count < len(found) else None  # type: ignore[assignment]
        links["previous"] = link(max(start_at - count, 0)) if start_at else None  # type: ignore[assignment]
        body = {"numRows": len(found), "superevents": [self._summary(s) for s in page], "links": links}
        return 200, body, "application/json"


class GraceDBTestServer:
    """``with GraceDBTestServer() as gracedb:``; ``gracedb.url`` is the ``GRACEDB_URL`` to use."""

    def __init__(self, root: str = "/api/"):
        self.state = GraceDBState()
        handler = type("Handler", (_Handler,), {"state": self.state, "root": root})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}{root}"

    def add_superevent(self, superevent_id: str, created: datetime) -> None:
        self.state.superevents[superevent_id] = Superevent(superevent_id, created)

    def upload(self, superevent_id: str, name: str, content: bytes) -> None:
        """Upload a file as GWCelery does; a name uploaded before becomes its next version."""
        self.state.superevents[superevent_id].files.append((name, content))

    def unavailable(self, requests: int) -> None:
        with self.state.lock:
            self.state.unavailable = requests

    def stall(self, requests: int, seconds: float) -> None:
        with self.state.lock:
            self.state.stalls, self.state.stall_s = requests, seconds

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
