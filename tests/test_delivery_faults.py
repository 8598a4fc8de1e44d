"""Faults at a real SMTP server on loopback: 421, 451, 550, dropped DATA, a stall."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from datetime import UTC, datetime

from aiosmtpd.smtp import Envelope
from sqlalchemy import Engine, select

from mailer.config import Settings
from mailer.delivery.worker import RetryPolicy, deliver_due
from mailer.services.mailings import PlannedRecipient, plan_mailing
from mailer.store.db import transaction
from mailer.store.models import OutboxRow
from tests.delivery_support import synthetic_rendered
from tests.smtp_server import RecordingHandler, SmtpServer

FAST_RETRY = RetryPolicy(max_attempts=3, base_seconds=0.05, cap_seconds=0.2)


class Faults:
    """Fails each kind of address in its own way, the first time (or always)."""

    def __init__(self) -> None:
        self.seen: defaultdict[str, int] = defaultdict(int)
        self.lock = threading.Lock()

    def rcpt(self, address: str) -> str | None:
        if address.startswith("unknown"):
            return "550 5.1.1 no such user here"
        return None

    def data(self, env: Envelope) -> str | tuple[str, float] | None:
        rcpt = env.rcpt_tos[0]
        with self.lock:
            self.seen[rcpt] += 1
            first = self.seen[rcpt] == 1
        if rcpt.startswith("busy") and first:
            return "451 4.3.0 temporary local problem, try later"
        if rcpt.startswith("closing") and first:
            return "421 4.3.2 service shutting down"
        if rcpt.startswith("drop") and first:
            return "drop"
        if rcpt.startswith("stall") and first:
            return ("stall", 20.0)  # far past the client's timeout, however busy the machine
        if rcpt.startswith("always"):
            return "451 4.7.1 greylisted forever"
        if rcpt.startswith("full"):
            return "552 5.2.2 mailbox full"  # temporary per RFC 5321 practice
        return None


def test_faults_complete_without_loss_or_endless_retries(engine: Engine,
                                                         settings: Settings) -> None:
    faults = Faults()
    server = SmtpServer(RecordingHandler(fault=faults.data, rcpt_fault=faults.rcpt)).start()
    try:
        kinds = ["ok", "busy", "closing", "drop", "stall", "unknown", "always", "full"]
        people = [PlannedRecipient(f"{k}{i}@example.se", f"Person {i}")
                  for k in kinds for i in range(3)]
        with transaction(engine) as s:
            mailing, _ = plan_mailing(s, synthetic_rendered(6000), kind="newsletter",
                                      now=datetime.now(UTC), recipients=people)
        cfg = settings.model_copy(update={"smtp_url": server.url, "smtp_timeout": 5.0})
        report = deliver_due(engine, cfg, retry=FAST_RETRY, concurrency=4)
        with transaction(engine) as s:
            rows = {r.email: r for r in s.scalars(
                select(OutboxRow).where(OutboxRow.mailing_id == mailing.id))}
    finally:
        server.stop()
    got = Counter(r.rcpt_tos[0] for r in server.received)
    status = {e: r.status for e, r in rows.items()}
    for i in range(3):
        for k in ("ok", "busy", "closing", "drop"):
            assert status[f"{k}{i}@example.se"] == "sent", rows[f"{k}{i}@example.se"].last_reply
            assert got[f"{k}{i}@example.se"] == 1
        # No reply within the timeout after DATA: recorded unknown, never re-sent
        # (aiosmtpd drops the stalled message when we hang up; a relay might keep it).
        assert status[f"stall{i}@example.se"] == "unknown"
        assert got[f"stall{i}@example.se"] <= 1
        assert status[f"unknown{i}@example.se"] == "failed"
        assert rows[f"unknown{i}@example.se"].attempts == 1
        assert rows[f"unknown{i}@example.se"].last_reply.startswith("550")
        assert status[f"always{i}@example.se"] == "failed"
        assert rows[f"always{i}@example.se"].attempts == 3
        assert "gave up after 3 attempts" in rows[f"always{i}@example.se"].last_reply
        assert status[f"full{i}@example.se"] == "failed"
        assert rows[f"full{i}@example.se"].attempts == 3  # 552 retried, like any 4xx
    assert not {"queued", "retry", "sending"} & set(status.values())
    assert report.unknown == 3 and report.sent == 12
    print(f"\nfaults: sent {report.sent}, failed {report.failed}, unknown {report.unknown}, "
          f"retries {report.retried}")
