"""Transports: the SMTP pool (reuse, recycling, rate limit) and the Maildir transport."""

from __future__ import annotations

import asyncio
import mailbox
from pathlib import Path
from types import SimpleNamespace

import pytest

from mailer.config import SmtpUrl
from mailer.delivery import ratelimit
from mailer.delivery.maildir import MaildirTransport
from mailer.delivery.ratelimit import RateLimiter
from mailer.delivery.smtp import SmtpPool, _Conn
from mailer.delivery.transport import Result, classify
from tests.smtp_server import SmtpServer

MSG = (b"From: a@example.org\r\nTo: b@example.org\r\nSubject: x\r\n\r\n"
       b"hej\r\n.dot line\r\n")


class _CountingPool(SmtpPool):
    """Records how many messages each connection carried when it was recycled."""

    recycled: list[int]

    async def _quit(self, conn: _Conn, wait: float = 5.0) -> None:
        self.recycled.append(conn.used)
        await super()._quit(conn, wait)


@pytest.mark.parametrize("size", [1, 2])
def test_pool_reuses_and_recycles_connections(smtp_server: SmtpServer, size: int) -> None:
    async def run() -> tuple[_CountingPool, list[int], list[int]]:
        pool = _CountingPool(SmtpUrl.parse(smtp_server.url), size=size, recycle_after=5)
        pool.recycled = []
        outs = await asyncio.gather(*(pool.send("a@example.org", f"r{i}@example.org", MSG)
                                      for i in range(20)))
        assert all(o.result is Result.sent for o in outs)
        recycled, still_open = list(pool.recycled), [c.used for c in pool._all]
        await pool.close()  # QUITs the part-used ones too: not recycling
        return pool, recycled, still_open

    pool, recycled, still_open = asyncio.run(run())
    # Every connection that was recycled carried exactly five messages, none more.
    assert recycled and all(n == 5 for n in recycled)
    assert all(0 < n < 5 for n in still_open)
    assert sum(recycled) + sum(still_open) == 20
    assert pool.connects == len(recycled) + len(still_open)
    if size == 1:
        assert pool.connects == 4  # one at a time: 20 messages, 5 per connection
    else:
        # Two at work share the messages as the server's replies come back: both may be
        # recycled together (4 connections) or one ahead of the other, leaving two
        # part-used at the end (5 connections, e.g. 3 recycled + 2 and 3 left).
        assert pool.connects in (4, 5)
    got = smtp_server.wait_for(20)
    # the unprepared path dot-stuffs: the line starting with "." arrives intact
    assert all(b"\r\n.dot line\r\n" in r.data for r in got)


def test_rate_limit_per_second(monkeypatch: pytest.MonkeyPatch) -> None:
    # On a clock of our own (sleeping moves it on, by at least a millisecond as a real
    # sleep would), so a busy machine cannot change the result.
    clock = [1000.0]

    async def sleep(seconds: float) -> None:
        clock[0] += max(seconds, 0.001)

    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    monkeypatch.setattr(ratelimit, "asyncio", SimpleNamespace(Lock=asyncio.Lock, sleep=sleep))

    async def run() -> float:
        rl = RateLimiter(per_second=10)
        for _ in range(15):  # 10 from the burst, 5 more at 10/s
            await rl.acquire()
        return clock[0] - 1000.0

    assert asyncio.run(run()) == pytest.approx(0.5, abs=0.01)


def test_reply_classes() -> None:
    assert classify(250, "ok").result is Result.sent
    assert classify(451, "later").result is Result.temporary
    assert classify(552, "full").result is Result.temporary  # RFC 5321 practice
    assert classify(550, "no such user").result is Result.permanent


def test_unreachable_server_is_temporary() -> None:
    async def run() -> Result:
        pool = SmtpPool(SmtpUrl.parse("smtp://127.0.0.1:1"), timeout=2)
        out = await pool.send("a@example.org", "b@example.org", MSG)
        await pool.close()
        return out.result

    assert asyncio.run(run()) is Result.temporary


def test_maildir_transport(tmp_path: Path) -> None:
    t = MaildirTransport(tmp_path / "Maildir")
    out = asyncio.run(t.send("a@example.org", "b@example.org", MSG))
    assert out.result is Result.sent
    box = mailbox.Maildir(tmp_path / "Maildir")
    (msg,) = list(box)
    assert msg["Delivered-To"] == "b@example.org" and msg["Subject"] == "x"
