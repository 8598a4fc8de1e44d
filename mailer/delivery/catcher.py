"""The built-in catcher: an SMTP server on 127.0.0.1 that keeps every message in a Maildir,
and a small local web page to read them (list, headers, HTML in a sandboxed frame, text).

For the demo and for development; usable in-process (``Catcher(...).start()``) or as
``mailer catcher``. It never relays anything anywhere.
"""

from __future__ import annotations

import email
import email.policy
import html
import mailbox
import os
import socket
import threading
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from mailer.errors import MailerError

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{title}</title><style>
body{{font:15px system-ui,sans-serif;margin:0;color:#222}} header{{background:#234;color:#fff;
padding:10px 16px}} a{{color:#0645ad}} table{{border-collapse:collapse;width:100%}}
td,th{{text-align:left;padding:6px 10px;border-bottom:1px solid #ddd;vertical-align:top}}
main{{padding:12px 16px}} iframe{{width:100%;height:70vh;border:1px solid #ccc}}
pre{{white-space:pre-wrap;background:#f6f6f6;padding:10px}} .h td:first-child{{width:14em;
color:#555}}</style></head><body><header><b>mailer catcher</b> · {where}</header>
<main>{body}</main></body></html>"""


class _Handler:
    def __init__(self, box: mailbox.Maildir) -> None:
        self.box = box
        self.lock = threading.Lock()
        self.count = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.content if isinstance(envelope.content, bytes) else b""
        head = (f"Return-Path: <{envelope.mail_from}>\r\n"
                f"Delivered-To: {', '.join(envelope.rcpt_tos)}\r\n").encode()
        with self.lock:
            key = self.box.add(head + data)
            self.count += 1
        return f"250 2.0.0 stored as {key}"


def cannot_listen(what: str, host: str, port: int, option: str, exc: OSError, *,
                  then: str = "") -> MailerError:
    """The refusal when a port is taken (or not ours to use), naming the address, the port
    and the way out."""
    reason = (os.strerror(exc.errno) if exc.errno else str(exc)).lower()
    return MailerError(
        f"cannot listen for {what} on {host}:{port}: {reason}. Another program (perhaps "
        f"another 'mailer catcher') uses that port: stop it, or choose another port with "
        f"{option} PORT{then}")


class Catcher:
    """SMTP on ``smtp_port`` + web on ``web_port`` (0 = pick a free port), Maildir at ``path``.
    A port that cannot be used is a ``MailerError`` naming it (``cannot_listen``)."""

    def __init__(self, path: Path, *, host: str = "127.0.0.1", smtp_port: int = 2525,
                 web_port: int = 8025) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.box = mailbox.Maildir(self.path, create=True)
        self.handler = _Handler(self.box)
        if smtp_port == 0:  # aiosmtpd needs a concrete port: ask the OS for a free one
            with socket.socket() as sock:
                sock.bind((host, 0))
                smtp_port = int(sock.getsockname()[1])
        self.smtp_port = smtp_port
        self.controller = Controller(self.handler, hostname=host, port=smtp_port,
                                     data_size_limit=50 * 1024 * 1024, ready_timeout=10)
        try:
            self.web = ThreadingHTTPServer((host, web_port), self._web_handler())
        except OSError as exc:
            raise cannot_listen("the web page", host, web_port, "--web-port", exc) from None
        self.web.daemon_threads = True
        self._web_thread: threading.Thread | None = None

    @property
    def smtp_url(self) -> str:
        return f"smtp://{self.host}:{self.smtp_port}"

    @property
    def web_url(self) -> str:
        return f"http://{self.host}:{self.web.server_address[1]}/"

    @property
    def received(self) -> int:
        return self.handler.count

    def start(self) -> Catcher:
        try:
            self.controller.start()
        except OSError as exc:
            self.web.server_close()
            if exc.errno is None and isinstance(exc.__cause__, OSError):
                exc = exc.__cause__
            raise cannot_listen("SMTP", self.host, self.smtp_port, "--smtp-port", exc,
                                then=" (and MAILER_SMTP_URL to match)") from None
        self._web_thread = threading.Thread(target=self.web.serve_forever, daemon=True,
                                            name="catcher-web")
        self._web_thread.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
        self.web.shutdown()
        self.web.server_close()

    def __enter__(self) -> Catcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- web --------------------------------------------------------------------------
    def _web_handler(self) -> type[BaseHTTPRequestHandler]:
        catcher = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002  # quiet: no access log on the terminal
                return

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                parts = [unquote(p) for p in self.path.split("?")[0].split("/") if p]
                try:
                    if not parts:
                        return self._send(200, catcher.index_page())
                    if parts[0] == "m" and len(parts) == 2:
                        return self._send(200, catcher.message_page(parts[1]))
                    if parts[0] == "m" and len(parts) == 3 and parts[2] == "html":
                        body = catcher.message_html(parts[1])
                        # The mail's HTML runs in a sandbox: no scripts, no same origin.
                        return self._send(200, body, csp="sandbox; default-src 'none'; "
                                          "img-src * data:; style-src 'unsafe-inline' *")
                except KeyError:
                    return self._send(404, "<p>no such message</p>")
                return self._send(404, "<p>not found</p>")

            def _send(self, code: int, body: str, csp: str = "") -> None:
                raw = body.encode("utf-8")
                self.send_response(code)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(raw)))
                if csp:
                    self.send_header("Content-Security-Policy", csp)
                self.end_headers()
                self.wfile.write(raw)

        return Handler

    def _load(self, key: str) -> EmailMessage:
        with self.box.get_file(key) as f:  # KeyError for unknown keys
            parsed = BytesParser(policy=email.policy.default).parsebytes(f.read())
        assert isinstance(parsed, EmailMessage)  # the default policy makes EmailMessages
        return parsed

    def index_page(self) -> str:
        rows = []
        for key in sorted(self.box.keys(), reverse=True)[:500]:
            msg = self._load(key)
            rows.append(
                f'<tr><td>{html.escape(str(msg["Date"] or ""))}</td>'
                f'<td>{html.escape(str(msg["To"] or ""))}</td>'
                f'<td><a href="/m/{html.escape(key)}">'
                f'{html.escape(str(msg["Subject"] or "(no subject)"))}</a></td></tr>')
        body = (f"<p>{len(self.box)} messages in <code>{html.escape(str(self.path))}</code>"
                " (newest 500 shown)</p><table><tr><th>Date</th><th>To</th><th>Subject</th>"
                "</tr>" + "".join(rows) + "</table>")
        return PAGE.format(title="catcher", where=html.escape(self.smtp_url), body=body)

    def message_page(self, key: str) -> str:
        msg = self._load(key)
        heads = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>"
                        for k, v in msg.items())
        text = msg.get_body(("plain",))
        text_html = html.escape(text.get_content()) if text is not None else "(no text part)"
        body = (f'<p><a href="/">← all messages</a></p>'
                f'<h2>{html.escape(str(msg["Subject"] or ""))}</h2>'
                f'<iframe sandbox src="/m/{html.escape(key)}/html" title="HTML part"></iframe>'
                f'<h3>Headers</h3><table class="h">{heads}</table>'
                f"<h3>Text part</h3><pre>{text_html}</pre>")
        return PAGE.format(title=html.escape(str(msg["Subject"] or "")),
                           where=html.escape(key), body=body)

    def message_html(self, key: str) -> str:
        part = self._load(key).get_body(("html",))
        return part.get_content() if part is not None else "<p>(no HTML part)</p>"
