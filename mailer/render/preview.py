"""``mailer issue preview``: a local page showing an issue at desktop and mobile width.

A small stdlib HTTP server on 127.0.0.1. The page polls ``/version``; the version is a
fingerprint of the issue folder and the template folders (modification times), so an
edit to issue.yaml, a Markdown file, an image or a template re-renders on the next poll.
"""

from __future__ import annotations

import hashlib
import html
import mimetypes
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from mailer.errors import MailerError


@dataclass
class Snapshot:
    version: str
    html: str  # the e-mail as a recipient sees it, or a page listing the problems
    text: str
    ok: bool


def fingerprint(paths: list[Path]) -> str:
    """Changes whenever a file under ``paths`` is added, removed or modified."""
    h = hashlib.sha1()
    for root in paths:
        if not root.exists():
            continue
        for f in sorted(root.rglob("*")) if root.is_dir() else [root]:
            try:
                st = f.stat()
            except OSError:
                continue
            h.update(f"{f}:{st.st_mtime_ns}:{st.st_size};".encode())
    return h.hexdigest()[:16]


PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Preview: {title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 0; background: #e9ecef; color: #1d2327; }}
header {{ padding: 10px 16px; background: #1f3a5f; color: #fff; display: flex; gap: 16px;
         align-items: baseline; flex-wrap: wrap; }}
header a {{ color: #fff; }}
main {{ display: flex; gap: 24px; padding: 16px; align-items: flex-start; overflow-x: auto; }}
figure {{ margin: 0; }}
figcaption {{ font-size: 13px; margin-bottom: 6px; }}
iframe {{ border: 1px solid #adb5bd; background: #fff; height: calc(100vh - 110px); }}
#status {{ font-size: 13px; opacity: .85; }}
</style></head><body>
<header><strong>{title}</strong><span id="status">live: re-renders when you save</span>
<a href="/email.html" target="_blank">HTML</a>
<a href="/email.txt" target="_blank">text</a></header>
<main>
<figure><figcaption>Desktop, 640 px</figcaption>
<iframe id="desktop" src="/email.html" width="640" title="Desktop preview"></iframe></figure>
<figure><figcaption>Mobile, 375 px</figcaption>
<iframe id="mobile" src="/email.html" width="375" title="Mobile preview"></iframe></figure>
</main>
<script>
let version = "{version}";
async function poll() {{
  try {{
    const r = await fetch("/version", {{cache: "no-store"}});
    const v = await r.text();
    if (v !== version) {{
      version = v;
      for (const id of ["desktop", "mobile"]) {{
        const f = document.getElementById(id); const y = f.contentWindow.scrollY;
        f.onload = () => f.contentWindow.scrollTo(0, y); f.src = "/email.html?v=" + v;
      }}
      const now = new Date().toLocaleTimeString();
      document.getElementById("status").textContent = "re-rendered " + now;
    }}
  }} catch (e) {{ document.getElementById("status").textContent = "preview server stopped"; }}
  setTimeout(poll, 700);
}}
setTimeout(poll, 700);
</script></body></html>"""


def problems_page(title: str, lines: list[str], language: str = "en") -> str:
    items = "".join(f"<li><code>{html.escape(line)}</code></li>" for line in lines)
    return (f"<!doctype html><html lang='{html.escape(language)}'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title></head>"
            "<body style='font-family:system-ui,sans-serif;padding:16px'>"
            f"<h1 style='font-size:18px;color:#9b1c1c'>{html.escape(title)}</h1>"
            f"<ul style='line-height:1.6'>{items}</ul></body></html>")


class PreviewState:
    """Renders on demand when the watched files changed since the last render."""

    def __init__(self, render: Callable[[], Snapshot], watched: list[Path],
                 assets: Path, title: str) -> None:
        self._render = render
        self.watched = watched
        self.assets = assets
        self.title = title
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None

    def current(self) -> Snapshot:
        version = fingerprint(self.watched)
        with self._lock:
            if self._snapshot is None or self._snapshot.version != version:
                try:
                    snap = self._render()
                except MailerError as exc:
                    snap = Snapshot("", problems_page("Cannot render", str(exc).splitlines()),
                                    str(exc), False)
                snap.version = version
                self._snapshot = snap
            return self._snapshot


def make_server(state: PreviewState, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet console
            return

        def _send(self, body: bytes, ctype: str, status: HTTPStatus = HTTPStatus.OK) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = unquote(urlsplit(self.path).path)
            if path == "/":
                snap = state.current()
                page = PAGE.format(title=html.escape(state.title), version=snap.version)
                self._send(page.encode(), "text/html; charset=utf-8")
            elif path == "/version":
                self._send(state.current().version.encode(), "text/plain")
            elif path == "/email.html":
                self._send(state.current().html.encode(), "text/html; charset=utf-8")
            elif path == "/email.txt":
                self._send(state.current().text.encode(), "text/plain; charset=utf-8")
            elif path.startswith("/media/"):
                target = (state.assets / path.removeprefix("/media/")).resolve()
                if state.assets.resolve() in target.parents and target.is_file():
                    ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
                    self._send(target.read_bytes(), ctype)
                else:
                    self._send(b"not found", "text/plain", HTTPStatus.NOT_FOUND)
            else:
                self._send(b"not found", "text/plain", HTTPStatus.NOT_FOUND)

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)
