"""A real HTTP server on 127.0.0.1 that receives webhooks and answers as told."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    headers: dict[str, str]
    body: str
    answered: int

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def type(self) -> str:
        return str(self.json["type"])


@dataclass
class Receiver:
    """Records every POST; answers a webhook-id in ``by_id`` with its codes first, others
    with ``statuses`` in turn, then with ``status``."""

    status: int = 200
    statuses: list[int] = field(default_factory=list)
    by_id: dict[str, list[int]] = field(default_factory=dict)  # webhook-id -> answers first
    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Receiver:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                n = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(n).decode()
                with outer._lock:
                    scripted = outer.by_id.get(self.headers.get("webhook-id", ""))
                    code = (scripted.pop(0) if scripted else
                            outer.statuses.pop(0) if outer.statuses else outer.status)
                    outer.received.append(Received({k.lower(): v for k, v in
                                                    self.headers.items()}, body, code))
                self.send_response(code)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
