"""Sending at scale: rate limits shared by processes, a clean stop, several SMTP servers.

Counts are taken at the sink (aiosmtpd on loopback) and in the outbox, never from the
workers' own reports alone.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from mailer.config import SmtpUrl, load_settings
from mailer.delivery.smtp import SmtpPool, SmtpRouter
from mailer.delivery.transport import Result
from mailer.delivery.worker import Worker
from mailer.render.types import RenderedMailing
from mailer.services.mailings import plan_mailing
from mailer.store.db import transaction
from mailer.store.models import OutboxRow
from tests.conftest import TEST_SECRET
from tests.delivery_support import add_subscribers
from tests.smtp_server import RecordingHandler, SmtpServer, refusing_port

ROOT = Path(__file__).resolve().parents[1]
SMALL = RenderedMailing(subject="Skalprov – nyhetsbrev",
                        html='<p>Hej %%name%%!</p><a href="%%unsubscribe_url%%">avregistrera</a>',
                        text="Hej %%name%%!\nAvregistrera: %%unsubscribe_url%%\n")


def _plan(engine: Engine, n: int) -> int:
    add_subscribers(engine, n)
    with transaction(engine) as s:
        mailing, planned = plan_mailing(s, SMALL, kind="newsletter", now=datetime.now(UTC),
                                        list_slugs=["medborgardialog"])
    assert planned == n
    return mailing.id


def _states(engine: Engine) -> dict[str, int]:
    with transaction(engine) as s:
        return {str(k): v for k, v in s.execute(
            select(OutboxRow.status, func.count()).group_by(OutboxRow.status)).all()}


def _worker(workspace: Path, db_url: str, smtp_url: str, *args: str,
            **env_extra: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env.update(MAILER_WORKSPACE=str(workspace), MAILER_DATABASE_URL=db_url,
               MAILER_SMTP_URL=smtp_url, MAILER_SECRET_KEY=TEST_SECRET,
               MAILER_BASE_URL="https://nyhetsbrev.example.org", PYTHONPATH=str(ROOT),
               **env_extra)
    return subprocess.Popen([sys.executable, "-m", "mailer", "worker", *args], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def test_two_drain_workers_share_one_hourly_budget(
        engine: Engine, db_url: str, workspace: Path, smtp_server: SmtpServer) -> None:
    _plan(engine, 30)
    workers = [_worker(workspace, db_url, smtp_server.url, "--drain",
                       MAILER_RATE_PER_HOUR="10") for _ in range(2)]
    outs = [w.communicate(timeout=120)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outs
    time.sleep(0.2)  # nothing more may arrive: both processes have exited
    assert len(smtp_server.received) == 10, outs  # one budget of 10 an hour, not 2 × 10
    assert _states(engine) == {"sent": 10, "queued": 20}  # nothing held in "sending"
    assert any("20 messages wait for the rate limit" in o for o in outs), outs


def test_two_workers_share_one_per_second_budget(
        engine: Engine, db_url: str, workspace: Path, smtp_server: SmtpServer) -> None:
    # 5/s with a burst of 5, whichever process sends: in any 1 s at most 5 + 5 arrive.
    # Two private budgets would let 18 of the 20 through within 1 s (each its burst of 5,
    # then 4 more in the next 0.8 s). The bound of 14 leaves room for a busy machine to
    # hold back a few messages taken earlier and deliver them late, together.
    _plan(engine, 20)
    workers = [_worker(workspace, db_url, smtp_server.url, "--drain",
                       MAILER_RATE_PER_SECOND="5") for _ in range(2)]
    outs = [w.communicate(timeout=120)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outs
    got = smtp_server.wait_for(20)
    assert len(got) == 20 and _states(engine) == {"sent": 20}
    times = sorted(r.at for r in got)
    busiest = max(sum(1 for t in times if t0 <= t < t0 + 1.0) for t0 in times)
    assert busiest <= 14, f"{busiest} messages within 1 s: the budget leaked"
    assert all("sent" in o for o in outs)


@pytest.mark.parametrize("mode", ["worker", "drain"])
def test_sigterm_stops_within_two_seconds_and_gives_back_claims(
        engine: Engine, db_url: str, workspace: Path, smtp_server: SmtpServer,
        mode: str) -> None:
    n = 200
    _plan(engine, n)
    args = ["--drain", "--max-wait", "600"] if mode == "drain" else []
    w = _worker(workspace, db_url, smtp_server.url, *args, MAILER_RATE_PER_SECOND="20")
    deadline = time.monotonic() + 60
    while len(smtp_server.received) < 10:
        assert w.poll() is None, w.communicate()[0]
        assert time.monotonic() < deadline, "the worker did not get going"
        time.sleep(0.01)
    t0 = time.monotonic()
    w.send_signal(signal.SIGTERM)
    out = w.communicate(timeout=30)[0]
    took = time.monotonic() - t0
    assert w.returncode == 0, out
    print(f"\n{mode}: stopped after {took:.2f} s")
    assert took < 2.0, f"stopped after {took:.2f} s\n{out}"
    time.sleep(0.2)
    got = len(smtp_server.received)
    states = _states(engine)
    assert "sending" not in states, states  # every claim recorded or given back
    assert states.get("sent", 0) == got < n  # what arrived is exactly what is recorded
    assert states.get("queued", 0) + states.get("retry", 0) == n - got
    with transaction(engine) as s:  # a row given back did not use up an attempt
        assert not s.scalar(select(func.count()).select_from(OutboxRow).where(
            OutboxRow.status == "queued", OutboxRow.attempts != 0))


def _drain(engine: Engine, workspace: Path, smtp_url: str, **kw: object) -> Worker:
    settings = load_settings(workspace, database_url=engine.url.render_as_string(
        hide_password=False), smtp_url=smtp_url, secret_key=TEST_SECRET,
        base_url="https://nyhetsbrev.example.org", **kw)

    async def run() -> Worker:
        w = Worker(engine, settings)
        try:
            await w.drain(max_wait=5)
        finally:
            await w.close()
        return w
    return asyncio.run(run())


def test_a_refusing_server_rests_while_the_other_carries_the_mailing(
        engine: Engine, workspace: Path, smtp_server: SmtpServer) -> None:
    _plan(engine, 40)
    with refusing_port() as port:
        dead = f"smtp://127.0.0.1:{port}?weight=5"  # preferred, but nobody listens
        w = _drain(engine, workspace, f"{dead} {smtp_server.url}")
    assert w.report.sent == 40 and w.report.failed == 0 and not w.report.paused
    assert len(smtp_server.wait_for(40)) == 40
    assert _states(engine) == {"sent": 40}
    assert w.router is not None
    resting = [s for s in w.router.states() if s.resting_for > 0]
    assert len(resting) == 1 and "cannot connect" in resting[0].reason


def test_a_throttling_server_rests_and_its_message_goes_to_the_other(
        engine: Engine, workspace: Path, smtp_server: SmtpServer) -> None:
    _plan(engine, 30)
    throttle = SmtpServer(RecordingHandler(
        fault=lambda env: "451 4.7.500 Server busy, too many messages; throttled")).start()
    try:
        w = _drain(engine, workspace, f"{throttle.url}?weight=10 {smtp_server.url}")
        assert w.report.sent == 30 and w.report.failed == 0 and w.report.retried == 0
        assert len(smtp_server.wait_for(30)) == 30 and not throttle.received
    finally:
        throttle.stop()


def test_when_every_server_rests_rows_wait_unharmed(engine: Engine, workspace: Path) -> None:
    _plan(engine, 12)
    busy = SmtpServer(RecordingHandler(fault=lambda env: "421 4.7.0 Try again later")).start()
    try:
        w = _drain(engine, workspace, busy.url)
        assert w.report.paused.startswith("421") and w.report.failed == 0
        assert _states(engine) == {"queued": 12}
        with transaction(engine) as s:
            assert set(s.scalars(select(OutboxRow.attempts))) == {0}
    finally:
        busy.stop()


def test_each_server_keeps_its_own_limit(smtp_server: SmtpServer) -> None:
    other = SmtpServer().start()
    try:
        async def run() -> tuple[list[Result], SmtpRouter]:
            pools = [SmtpPool(SmtpUrl.parse(smtp_server.url)), SmtpPool(SmtpUrl.parse(other.url))]
            from mailer.delivery.ratelimit import RateLimiter

            pools[0].rate = RateLimiter(per_hour=3, key="a")
            pools[1].rate = RateLimiter(per_hour=5, key="b")
            router = SmtpRouter([(p, 1.0) for p in pools])
            granted = await router.reserve(100)
            assert granted == 8  # 3 + 5: claim only what the limits allow
            outs = [await router.send("a@example.org", f"r{i}@example.org",
                                      b"Subject: x\r\n\r\nHej\r\n") for i in range(granted)]
            assert await router.reserve(1) == 0 and router.wait_hint() > 60
            await router.close()
            return [o.result for o in outs], router
        results, _ = asyncio.run(run())
        assert results == [Result.sent] * 8
        assert (len(smtp_server.received), len(other.received)) == (3, 5)
    finally:
        other.stop()


def test_several_servers_in_the_setting(workspace: Path) -> None:
    s = load_settings(workspace, smtp_url=(
        "smtp://a.example.org:587?weight=3&rate_per_hour=1000,\n"
        "smtps://u:p@b.example.org?rate_per_second=2.5"))
    a, b = s.smtp_servers
    assert (a.weight, a.rate_per_hour, a.rate_per_second) == (3.0, 1000, None)
    assert (b.port, b.use_tls, b.rate_per_second, b.key) == (465, True, 2.5, "u@b.example.org:465")
    from mailer.errors import ConfigError

    for bad, words in [("smtp://a:25 smtp://a:25", "listed twice"),
                       ("smtp://a:25 smtp://b:25?weight=0", "server 2 (smtp://b:25"),
                       ("smtp://a:25?rate_per_hour=many", "rate_per_hour must be a whole")]:
        with pytest.raises(ConfigError, match=words.replace("(", r"\(")):
            load_settings(workspace, smtp_url=bad)
