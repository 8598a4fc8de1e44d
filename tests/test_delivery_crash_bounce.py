"""A bounce met during the SMTP conversation survives a crash between the journal and the
group commit: the next worker settles the row as failed *and* suppresses the address.

No fault hook in the worker: the test holds the database's write lock (SQLite:
``BEGIN IMMEDIATE``; PostgreSQL: the refused row ``FOR UPDATE``) from the moment the
server refuses the RCPT, so the worker's commit really waits while its journal already
holds the outcome; then the worker process gets SIGKILL.
"""

from __future__ import annotations

import mailbox
import re
import signal
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, select

from mailer.config import load_settings
from mailer.delivery.journal import read_journal
from mailer.delivery.verp import Verp
from mailer.services.deliverability import process_inbox
from mailer.services.mailings import plan_mailing
from mailer.store.db import transaction
from mailer.store.models import FeedbackEvent, OutboxRow, Suppression
from tests.conftest import TEST_SECRET
from tests.delivery_support import add_subscribers, synthetic_rendered
from tests.smtp_server import SmtpServer
from tests.test_deliverability_e2e import BOUNCES, report_for
from tests.test_delivery_crash import _worker

REFUSED = "person1@example.test"


class WriteLock:
    """Holds the database against the worker's commit until ``release``."""

    def __init__(self, db_url: str, rows: list[int]) -> None:
        self.db_url, self.rows = db_url, rows
        self.release: Callable[[], None] = lambda: None
        self.taken = threading.Event()

    def take(self) -> None:
        if self.db_url.startswith("sqlite:///"):
            conn = sqlite3.connect(self.db_url.removeprefix("sqlite:///"), timeout=30,
                                   isolation_level=None, check_same_thread=False)
            conn.execute("BEGIN IMMEDIATE")  # no other writer until we roll back
            self.release = lambda: (conn.rollback(), conn.close())[0]
        else:
            import psycopg

            pg = psycopg.connect(self.db_url.replace("postgresql+psycopg", "postgresql"))
            pg.execute("SELECT id FROM outbox WHERE id = ANY(%s) FOR UPDATE", (self.rows,))
            self.release = lambda: (pg.rollback(), pg.close())[0]
        self.taken.set()


def _kill_between_journal_and_commit(engine: Engine, db_url: str, workspace: Path,
                                     smtp_server: SmtpServer) -> tuple[dict[str, int],
                                                                       Counter[str]]:
    """Plan 3 copies, refuse person1's RCPT with 550 5.1.1, SIGKILL the worker once its
    journal holds every outcome while the commit waits for our lock. Returns the rows by
    address and the RCPT attempts by address."""
    add_subscribers(engine, 3)  # person0..2@example.test
    with transaction(engine) as s:
        mailing, planned = plan_mailing(s, synthetic_rendered(4_000), kind="newsletter",
                                        now=datetime.now(UTC), list_slugs=["medborgardialog"])
        ids = dict(s.execute(select(OutboxRow.email, OutboxRow.id)
                             .where(OutboxRow.mailing_id == mailing.id)).all())
    assert planned == 3
    refused_row = ids[REFUSED]
    lock = WriteLock(db_url, sorted(ids.values()))
    rcpt_tries: Counter[str] = Counter()

    def refuse(address: str) -> str | None:
        rcpt_tries[address] += 1
        if not lock.taken.is_set():
            lock.take()  # before any reply: the worker cannot commit what it learns now
        if address != REFUSED:
            return None
        return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"

    smtp_server.handler.rcpt_fault = refuse
    journal_dir = workspace / ".mailer-journal"
    first = _worker(workspace, db_url, smtp_server.url)
    try:
        # Wait (bounded) until the journal holds an outcome for every row, the refusal's
        # with its bounce: the worker read every reply; its commit waits for our lock.
        deadline = time.monotonic() + 60
        while True:
            logs = list(journal_dir.glob("*.log")) if journal_dir.exists() else []
            entries = read_journal(journal_dir, logs[0].stem) if len(logs) == 1 else {}
            if set(entries) == set(ids.values()):
                break
            assert first.poll() is None, first.communicate()[0]
            assert time.monotonic() < deadline, f"no journal entries: {entries}"
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
        lock.release()
    refused_entry = entries[refused_row]
    assert refused_entry.status == "failed"
    assert refused_entry.bounce is not None and refused_entry.bounce.status == "5.1.1"

    with transaction(engine) as s:
        at_kill = {str(x) for x in s.scalars(select(OutboxRow.status)
                                             .where(OutboxRow.id.in_(ids.values())))}
        assert s.scalar(select(Suppression.id)) is None
    assert at_kill == {"sending"}  # no commit happened: only the journal knows
    return ids, rcpt_tries


def test_bounce_at_rcpt_survives_sigkill_between_journal_and_commit(
        engine: Engine, db_url: str, workspace: Path, smtp_server: SmtpServer) -> None:
    ids, rcpt_tries = _kill_between_journal_and_commit(engine, db_url, workspace,
                                                       smtp_server)
    refused_row = ids[REFUSED]
    second = _worker(workspace, db_url, smtp_server.url)
    out, _ = second.communicate(timeout=120)
    assert second.returncode == 0, out
    assert "recorded 3 outcomes of an earlier worker" in out, out
    assert "bounced at once: 1 (1 suppressed)" in out, out
    with transaction(engine) as s:
        rows = dict(s.execute(select(OutboxRow.email, OutboxRow.status)
                              .where(OutboxRow.id.in_(ids.values()))).all())
        reply = s.scalar(select(OutboxRow.last_reply).where(OutboxRow.id == refused_row))
        suppressed = s.execute(select(Suppression.email, Suppression.reason)).all()
        events = s.execute(select(FeedbackEvent.outbox_id, FeedbackEvent.bounce_class,
                                  FeedbackEvent.status, FeedbackEvent.source)).all()
    assert {e: str(st) for e, st in rows.items()} == {
        "person0@example.test": "sent", REFUSED: "failed", "person2@example.test": "sent"}
    assert reply is not None and "550 5.1.1" in reply and "journal" in reply
    assert [(e, str(r)) for e, r in suppressed] == [(REFUSED, "hard_bounce")]
    assert events == [(refused_row, "hard", "5.1.1", "smtp")]
    # Nothing went out twice (every reply had been read and journaled), and the refused
    # address was not tried again.
    got = Counter(r.rcpt_tos[0] for r in smtp_server.received)
    assert got == {"person0@example.test": 1, "person2@example.test": 1}
    assert rcpt_tries[REFUSED] == 1


def test_dsn_read_before_settling_is_not_counted_twice(
        engine: Engine, db_url: str, workspace: Path, smtp_server: SmtpServer,
        tmp_path: Path) -> None:
    """The same bounce from both ends: ``mailer inbox`` reads a DSN for the refused row
    while it is still ``sending`` (its worker dead, the journal not settled yet); the next
    worker's settling then finds the bounce recorded and adds no second event."""
    ids, _ = _kill_between_journal_and_commit(engine, db_url, workspace, smtp_server)
    refused_row = ids[REFUSED]
    maildir = tmp_path / "bounces"
    box = mailbox.Maildir(maildir, create=True)
    box.add(report_for("postfix_dsn.eml", REFUSED, refused_row, Verp(BOUNCES, "x"), 1))
    box.close()
    settings = load_settings(workspace, database_url=db_url, secret_key=TEST_SECRET,
                             base_url="https://nyhetsbrev.example.org")
    inbox = process_inbox(engine, settings, maildir, now=datetime.now(UTC))
    assert (inbox.hard, inbox.suppressed) == (1, 1), inbox

    second = _worker(workspace, db_url, smtp_server.url)
    out, _ = second.communicate(timeout=120)
    assert second.returncode == 0, out
    assert "recorded 3 outcomes of an earlier worker" in out, out
    assert "bounced at once" not in out, out
    with transaction(engine) as s:
        status = s.scalar(select(OutboxRow.status).where(OutboxRow.id == refused_row))
        events = s.execute(select(FeedbackEvent.outbox_id, FeedbackEvent.source)).all()
        suppressed = list(s.scalars(select(Suppression.email)))
    assert str(status) == "failed"
    assert [tuple(e) for e in events] == [(refused_row, "inbox")]
    assert suppressed == [REFUSED]


def test_dsn_naming_only_the_address_of_a_row_still_sending_is_not_lost(
        engine: Engine, db_url: str, workspace: Path, smtp_server: SmtpServer,
        tmp_path: Path) -> None:
    """A relay accepted person0's copy (250, journaled) and its DSN is read while the row
    is still ``sending``: a DSN with neither VERP nor the returned X-Mailer-Outbox header
    is matched by its address to that row, instead of "matches no message we sent"."""
    ids, _ = _kill_between_journal_and_commit(engine, db_url, workspace, smtp_server)
    accepted = "person0@example.test"
    text = report_for("postfix_dsn.eml", accepted, ids[accepted], Verp(BOUNCES, "x"), 1)
    text = re.sub(rb"(?m)^X-Mailer-Outbox: .*\n", b"", text)
    maildir = tmp_path / "bounces"
    box = mailbox.Maildir(maildir, create=True)
    box.add(text)
    box.close()
    settings = load_settings(workspace, database_url=db_url, secret_key=TEST_SECRET,
                             base_url="https://nyhetsbrev.example.org")
    inbox = process_inbox(engine, settings, maildir, now=datetime.now(UTC))
    assert inbox.problems == [] and (inbox.hard, inbox.suppressed) == (1, 1), inbox

    second = _worker(workspace, db_url, smtp_server.url)
    out, _ = second.communicate(timeout=120)
    assert second.returncode == 0, out
    with transaction(engine) as s:
        status = s.scalar(select(OutboxRow.status).where(OutboxRow.id == ids[accepted]))
        events = sorted((r.outbox_id, r.source) for r in s.execute(
            select(FeedbackEvent.outbox_id, FeedbackEvent.source)))
        suppressed = sorted(s.scalars(select(Suppression.email)))
    assert str(status) == "sent"  # the server took it; the bounce came later
    assert events == sorted([(ids[accepted], "inbox"), (ids[REFUSED], "smtp")])
    assert suppressed == [accepted, REFUSED]


def test_journal_lines_round_trip_and_torn_lines_are_ignored(tmp_path: Path) -> None:
    from mailer.delivery.journal import Journal, JournalBounce
    from mailer.domain.feedback import BounceClass

    j = Journal(tmp_path, "host:1:abc")
    j.write(1, "sent")
    j.write(2, "failed", reply="550 5.1.1 <å@example.se>:\nnej",
            bounce=JournalBounce("5.1.1", BounceClass.hard, "550 5.1.1 <å@example.se>"))
    j.write(3, "retry", reply="451 4.3.0 later")
    j.close(remove=False)
    with j.path.open("ab") as f:
        f.write(b'4 failed {"reply": "550 5.1')  # the kill came mid-line
    got = read_journal(tmp_path, "host:1:abc")
    assert sorted(got) == [1, 2, 3]
    assert got[1].status == "sent" and got[1].bounce is None
    assert got[2].reply == "550 5.1.1 <å@example.se>:\nnej"
    assert got[2].bounce == JournalBounce("5.1.1", BounceClass.hard, "550 5.1.1 <å@example.se>")
    assert got[3].status == "retry" and got[3].bounce is None
