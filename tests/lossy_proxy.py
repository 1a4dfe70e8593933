"""An HTTP proxy that forwards every request and loses chosen replies, as a flaky network does.

Put it in front of the API (``API_BASE`` = ``proxy.base``): a POST to a route
named in ``drop`` reaches the server, is committed there, and the client sees
its connection closed without an answer.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import urlparse

import requests


class ReplyDroppingProxy:
    """``with ReplyDroppingProxy(api.base, {"post_alert": 1}) as proxy:``; ``proxy.dropped`` counts lost replies."""

    def __init__(self, upstream_base: str, drop: dict[str, int]):
        self.upstream = urlparse(upstream_base)
        self.drop = dict(drop)
        self.dropped: list[str] = []
        lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                url = f"{proxy.upstream.scheme}://{proxy.upstream.netloc}{self.path}"
                answer = requests.request(self.command, url, data=body or None, headers=headers, timeout=30)
                route = urlparse(self.path).path.rstrip("/").rsplit("/", 1)[-1]
                with lock:
                    lose = self.command == "POST" and proxy.drop.get(route, 0) > 0
                    if lose:
                        proxy.drop[route] -= 1
                        proxy.dropped.append(route)
                if lose:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_DELETE = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}{self.upstream.path}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
