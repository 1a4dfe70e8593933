"""Where notifications go, on loopback: a Slack Web API double and an SMTP server (aiosmtpd), both counting."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from aiosmtpd.controller import Controller

from gwtm_assets.devtools.tansu import free_port


class SlackDouble:
    """``chat.postMessage`` as Slack's Web API answers it (``ok``/``error`` in a 200 JSON body; ``invalid_auth`` for
    another token), and an incoming webhook (``/webhook``: ``ok`` in plain text)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.messages: list[dict] = []
        double = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 -- http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                if self.path == "/webhook":
                    double.messages.append({"via": "webhook", **json.loads(raw)})
                    self._answer(200, b"ok", "text/plain")
                    return
                if not self.path.endswith("/chat.postMessage"):
                    self._answer(404, b'{"ok": false, "error": "unknown_method"}')
                    return
                if self.headers.get("Authorization") != f"Bearer {double.token}":
                    self._answer(200, b'{"ok": false, "error": "invalid_auth"}')
                    return
                if "json" in (self.headers.get("Content-Type") or ""):
                    form = json.loads(raw)
                else:
                    form = {k: v[0] for k, v in parse_qs(raw).items()}
                double.messages.append({"via": "api", **form})
                body = {"ok": True, "channel": form.get("channel"), "ts": f"{len(double.messages)}.0"}
                self._answer(200, json.dumps(body).encode())

            def _answer(self, status: int, body: bytes, kind: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.api_url = f"http://127.0.0.1:{self._server.server_port}/api/"
        self.webhook_url = f"http://127.0.0.1:{self._server.server_port}/webhook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class SmtpServer:
    """aiosmtpd on loopback, keeping every message it is given."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        server = self

        class Handler:
            async def handle_DATA(self, _server, _session, envelope) -> str:  # noqa: N802 -- aiosmtpd's name
                server.messages.append(envelope.content.decode("utf-8", "replace"))
                return "250 Message accepted for delivery"

        self.port = free_port()
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()
