"""``Server-Timing`` on every response, with ``MAILER_SERVER_TIMING=1`` (off by default).

Where a request's time went inside ``mailer serve`` (``mailer.timing`` notes the phases):

- ``app``: from the request reaching the app to its answer starting;
- ``pool``: waiting for a threadpool thread; ``work``: the database work in that thread,
  of which ``cpu`` is the thread's own CPU time and ``runq`` its time runnable but
  waiting for a CPU (the kernel's schedstat: CPU starvation);
- ``connect``: taking a pooled connection and beginning (PostgreSQL: with its ping;
  SQLite: with the write lock), of which ``lock``: waiting for SQLite's write lock, and
  of that ``gate``: behind the other writers of this process (the rest: behind other
  processes' transactions, the worker's or an import's);
- ``held``: from the write transaction's BEGIN to the end of its COMMIT (on SQLite: how
  long it held the write lock);
- ``sql``: the statements (their count as ``desc``); ``commit``;
- ``t0``: when the app got the request, in seconds of the system's monotonic clock
  (``time.monotonic()``), so a client on the same machine can tell how long the request
  waited before the app saw it.

For load tests and diagnosis (``benchmarks/load.py`` reads it), not for production: it
tells every client about the server's timing.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mailer.timing import Timings, timed_request


def header(timings: Timings, app_ms: float) -> bytes:
    parts = [f"app;dur={app_ms:.2f}"]
    for name, ms in timings.phases.items():
        count = timings.counts.get(name, 1)
        parts.append(f'{name};dur={ms:.2f};desc="{count}"' if count > 1
                     else f"{name};dur={ms:.2f}")
    parts.append(f't0;desc="{timings.start:.6f}"')
    return ", ".join(parts).encode()


class ServerTiming:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with timed_request() as timings:

            async def send_timed(message: Message) -> None:
                if message["type"] == "http.response.start":
                    app_ms = (time.monotonic() - timings.start) * 1000
                    message = {**message, "headers": [*message.get("headers", []),
                                                      (b"server-timing",
                                                       header(timings, app_ms))]}
                await send(message)

            await self.app(scope, receive, send_timed)
