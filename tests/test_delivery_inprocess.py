"""Confirmations leave within seconds: ``mailer serve``'s own loop while no worker runs, and a
running ``mailer worker``; both through the outbox to a real SMTP server on loopback."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from mailer.config import Settings
from mailer.delivery.inprocess import deliver_in_process, worker_running
from mailer.schedule.runner import run_worker
from mailer.services.mailings import PlannedRecipient, plan_mailing, progress
from mailer.store import workers
from mailer.store.db import transaction
from mailer.store.models import MailingKind
from tests.conftest import TEST_SECRET
from tests.delivery_support import synthetic_rendered
from tests.smtp_server import SmtpServer, free_port

ROOT = Path(__file__).parents[1]


def _queue(engine: Engine, kind: MailingKind, email: str,
           expires_at: datetime | None = None) -> int:
    with transaction(engine) as s:
        m, n = plan_mailing(s, synthetic_rendered(2000), kind=kind, now=datetime.now(UTC),
                            recipients=[PlannedRecipient(email)], expires_at=expires_at)
        assert n == 1
        return m.id


def _state(engine: Engine, mailing_id: int) -> tuple[str, dict[str, int]]:
    with transaction(engine) as s:
        p = progress(s, [mailing_id])[0]
        return p.status, p.counts


async def _arrives(smtp_server: SmtpServer, count: int, within: float) -> float:
    start = time.monotonic()
    while len(smtp_server.received) < count:
        assert time.monotonic() - start < within, (
            f"{len(smtp_server.received)} of {count} messages after {within} s")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


def test_serve_loop_sends_a_confirmation_and_nothing_else(
        engine: Engine, settings: Settings, smtp_server: SmtpServer) -> None:
    news = _queue(engine, MailingKind.newsletter, "reader@example.org")
    # Expired (its deadline passed): skipping it is a real worker's job, not the web's.
    late = _queue(engine, MailingKind.reminder, "late@example.org",
                  expires_at=datetime.now(UTC) - timedelta(hours=1))

    async def scenario() -> float:
        stop = asyncio.Event()
        loop = asyncio.create_task(deliver_in_process(engine, settings, stop, poll=0.2))
        await asyncio.sleep(0.5)  # running and idle before the confirmation is queued
        _queue(engine, MailingKind.confirmation, "new.subscriber@example.org")
        took = await _arrives(smtp_server, 1, within=60.0)
        await asyncio.sleep(0.5)
        stop.set()
        await loop
        return took

    # How soon is the loop's poll interval (0.2 s here, 1 s in ``mailer serve``); the
    # bound above is only there so a broken loop fails instead of hanging.
    asyncio.run(scenario())
    assert [r.rcpt_tos for r in smtp_server.received] == [["new.subscriber@example.org"]]
    # the others wait for a real worker, untouched
    assert _state(engine, news) == ("sending", {"queued": 1})
    assert _state(engine, late) == ("sending", {"queued": 1})
    with transaction(engine) as s:
        assert workers.latest(s) == []  # the loop signed off


def test_serve_loop_leaves_the_outbox_to_a_running_worker(
        engine: Engine, settings: Settings, smtp_server: SmtpServer) -> None:
    # A live worker (this process, fresh heartbeat) serves the database: the loop waits.
    with transaction(engine) as s:
        workers.register(s, "other-worker", host=socket.gethostname(), pid=os.getpid(),
                         role="worker", now=datetime.now(UTC))
    assert worker_running(engine)

    async def scenario() -> None:
        stop = asyncio.Event()
        loop = asyncio.create_task(deliver_in_process(engine, settings, stop, poll=0.2,
                                                      check_every=0.2))
        _queue(engine, MailingKind.test, "tester@example.org")
        await asyncio.sleep(1.5)
        assert smtp_server.received == []
        with transaction(engine) as s:  # the worker stops: the loop takes over
            workers.remove(s, ["other-worker"])
        await _arrives(smtp_server, 1, within=60.0)
        stop.set()
        await loop

    asyncio.run(scenario())
    assert not worker_running(engine)


def test_running_worker_picks_up_a_new_confirmation_while_running(
        engine: Engine, settings: Settings, smtp_server: SmtpServer) -> None:
    async def scenario() -> float:
        stop = asyncio.Event()
        started = asyncio.Event()
        task = asyncio.create_task(run_worker(engine, settings, stop=stop,
                                              on_started=started.set))
        await asyncio.wait_for(started.wait(), 10)
        await asyncio.sleep(1.0)  # idle before the confirmation is queued
        assert worker_running(engine)
        _queue(engine, MailingKind.confirmation, "new.subscriber@example.org")
        took = await _arrives(smtp_server, 1, within=60.0)
        stop.set()
        await task
        return took

    asyncio.run(scenario())
    assert smtp_server.received[0].rcpt_tos == ["new.subscriber@example.org"]


def test_mailer_serve_delivers_a_queued_confirmation(
        engine: Engine, settings: Settings, smtp_server: SmtpServer) -> None:
    env = {**os.environ, "MAILER_WORKSPACE": str(settings.workspace),
           "MAILER_DATABASE_URL": settings.db_url, "MAILER_SMTP_URL": smtp_server.url,
           "MAILER_SECRET_KEY": TEST_SECRET}
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mailer", "serve", "--port", str(port)],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        _queue(engine, MailingKind.confirmation, "new.subscriber@example.org")
        got = smtp_server.wait_for(1, timeout=30)
    finally:
        proc.terminate()
        output = proc.communicate(timeout=20)[0]
    assert got[0].rcpt_tos == ["new.subscriber@example.org"], output
    assert proc.returncode is not None
    with transaction(engine) as s:
        assert workers.latest(s) == [], output  # its loop signed off on the way out
