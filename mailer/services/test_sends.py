"""Where an issue's test sends are: each address's copy as the outbox has it (queued, being
sent, sent, waiting to retry, refused), and whether a worker is there to send them.

A test is planned by ``services.mailings.plan_test`` (queued, not sent); a worker, or
``mailer serve``'s own loop while no worker runs, sends it. What the editor is told after
that is read here, from the outbox, never assumed.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from mailer.domain.outcomes import LABELS, reason_of
from mailer.services.mailings import test_mailing_ids
from mailer.store import mailings as store
from mailer.store import outbox, workers
from mailer.store.models import MailingKind, OutboxStatus

__all__ = ["CopyState", "IssueTest", "IssueTests", "recent_tests", "find_test",
           "worker_running", "RECENT", "FRESH", "UNTAKEN_AFTER", "short_reply"]

RECENT = 5  # the newest test mailings of an issue shown
FRESH = timedelta(hours=24)  # a test that has finished is shown this long
#: A copy due this long ago and still not taken: a running worker (or ``mailer serve``'s
#: loop, which looks every second) takes a test within seconds, so this means none runs.
UNTAKEN_AFTER = timedelta(seconds=30)
REPLY_CHARS = 160  # a server's reply shown up to this many characters

#: Copies in these states will still change: the page follows them.
OPEN = (OutboxStatus.queued, OutboxStatus.sending, OutboxStatus.retry)


def short_reply(text: str, limit: int = REPLY_CHARS) -> str:
    """A server's reply on one line, cut at ``limit`` characters (``…`` marks the cut)."""
    line = " ".join((text or "").split())
    return line if len(line) <= limit else line[:limit - 1].rstrip() + "…"


@dataclass(frozen=True, slots=True)
class CopyState:
    """One address's copy of a test."""

    email: str
    #: queued, sending, sent, retry, failed, unknown or skipped (the outbox's state)
    state: str
    #: sent: when it was handed over; retry: the next attempt; queued: since when it
    #: waits; failed, unknown, skipped: when that was recorded
    at: datetime
    attempts: int
    reply: str  # the server's reply (or our reason), shortened
    reason: str  # why not delivered, in English words for Babel (``domain.outcomes``)

    @property
    def open(self) -> bool:
        return self.state in OPEN


@dataclass(frozen=True, slots=True)
class IssueTest:
    """One test mailing: its subject and each address's copy."""

    mailing_id: int
    subject: str
    queued_at: datetime
    copies: tuple[CopyState, ...]
    status: str = "sending"  # the mailing's: paused or cancelled by hand, its copies wait

    @property
    def open(self) -> bool:
        """Some copy will still change by itself (a paused test waits for a person)."""
        return self.status == "sending" and any(c.open for c in self.copies)


@dataclass(frozen=True, slots=True)
class IssueTests:
    """An issue's recent tests, newest first, and whether they can be sent."""

    sends: tuple[IssueTest, ...]
    #: a copy has been due for longer than ``UNTAKEN_AFTER`` and no worker took it
    untaken: bool
    #: a worker (``mailer worker``, or ``mailer serve``'s own loop) beats its heart now
    worker: bool

    @property
    def open(self) -> bool:
        """Some copy will still change: the page refreshes the panel."""
        return any(s.open for s in self.sends)

    @property
    def no_worker(self) -> bool:
        """A test waits and no worker runs: nothing sends it until one does."""
        return self.untaken and not self.worker

    def find(self, mailing_id: int) -> IssueTest | None:
        return next((s for s in self.sends if s.mailing_id == mailing_id), None)


def _copy(status: OutboxStatus, email: str, attempts: int, reply: str, sent_at: datetime | None,
          due: datetime, updated: datetime) -> CopyState:
    state = str(status)
    at = (sent_at or updated) if status is OutboxStatus.sent else (
        due if status in (OutboxStatus.queued, OutboxStatus.retry) else updated)
    reason = ("" if status in (*OPEN, OutboxStatus.sent)
              else LABELS.get(reason_of(state, reply), ""))
    return CopyState(email, state, at, attempts, short_reply(reply), reason)


def worker_running(session: Session, now: datetime) -> bool:
    """Whether a worker beats its heart now: ``mailer worker`` in any role, or ``mailer
    serve``'s own loop (it sends tests while no worker runs)."""
    return workers.any_alive(session, now, socket.gethostname())


def _sends(session: Session, ids: list[int]) -> list[IssueTest]:
    by_mailing: dict[int, list[CopyState]] = {}
    for row in outbox.copies_of(session, ids):
        by_mailing.setdefault(row.mailing_id, []).append(
            _copy(row.status, row.email, row.attempts, row.last_reply, row.sent_at,
                  row.next_attempt_at, row.updated_at))
    return [IssueTest(m.id, m.subject, m.started_at or m.created_at,
                      tuple(by_mailing.get(m.id, ())), str(m.status))
            for m in store.newest_first(session, ids)]


def find_test(session: Session, mailing_id: int) -> IssueTest | None:
    """One test mailing with each address's copy; None when ``mailing_id`` is no test."""
    m = store.get(session, mailing_id)
    if m is None or m.kind is not MailingKind.test:
        return None
    return _sends(session, [mailing_id])[0]


def _untaken(send: IssueTest, now: datetime) -> bool:
    """A copy of a sending test has been due for longer than ``UNTAKEN_AFTER``."""
    return send.open and any(c.state in ("queued", "retry") and now - c.at > UNTAKEN_AFTER
                             for c in send.copies)


def recent_tests(session: Session, source: str, now: datetime, *,
                 limit: int = RECENT) -> IssueTests:
    """The newest ``limit`` test mailings of the issue folder of ``source`` (those that
    finished more than ``FRESH`` ago left out; one still open is always shown), each
    address's copy as the outbox has it, and whether a worker runs to send them."""
    sends = tuple(s for s in _sends(session, test_mailing_ids(session, source, limit=limit))
                  if s.open or now - max([s.queued_at, *(c.at for c in s.copies)]) <= FRESH)
    worker = bool(sends) and worker_running(session, now)
    return IssueTests(sends, any(_untaken(s, now) for s in sends), worker)
