"""A real HTTP server on 127.0.0.1 serving podcast feeds (and failures) from memory."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class FeedServer:
    """``pages[path] = (status, body)``; anything else is 404."""

    pages: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    content_type: str = "application/rss+xml; charset=utf-8"
    visits: list[str] = field(default_factory=list)  # the paths asked for, in order

    def start(self) -> FeedServer:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                outer.visits.append(self.path)
                status, body = outer.pages.get(self.path, (404, b"not found"))
                self.send_response(status)
                self.send_header("content-type", outer.content_type)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def episode_xml(number: int, title: str, *, date: str, duration: str, link: str,
                notes: str, people: list[tuple[str, str]] = ()) -> str:  # type: ignore[assignment]
    persons = "".join(f'<podcast:person role="{role}">{name}</podcast:person>'
                      for name, role in people)
    return (f"<item><title>{number}. {title}</title><guid isPermaLink=\"false\">dr-{number}"
            f"</guid><itunes:episode>{number}</itunes:episode><pubDate>{date}</pubDate>"
            f"<itunes:duration>{duration}</itunes:duration><link>{link}</link>"
            f"<description><![CDATA[{notes}]]></description>{persons}"
            f'<enclosure url="https://media.example.org/{number}.mp3" type="audio/mpeg" '
            f'length="1"/></item>')


def feed_xml(items: list[str], title: str = "Demokratiresan") -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd" '
            'xmlns:podcast="https://podcastindex.org/namespace/1.0"><channel>'
            f"<title>{title}</title><link>https://skr.se/demokratiresan</link>"
            + "".join(items) + "</channel></rss>").encode()
