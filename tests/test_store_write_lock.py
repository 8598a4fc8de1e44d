"""SQLite's one write lock (store/db.py): a bulk writer (an import's batches) lets the
writers that wait for the lock go first; ``transaction(wait=False)`` does not wait; a
write in a read transaction fails at once."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from mailer.errors import DatabaseBusy
from mailer.store import db
from mailer.store.db import (
    BULK,
    LONG_WRITE,
    _writers_of,
    log_long_writes,
    reading,
    transaction,
)

# SQLite's database-wide write lock: these tests have no PostgreSQL counterpart.
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@SQLITE_ONLY
def test_a_bulk_writer_stands_back_while_a_writer_waits(
        engine: Engine, write_lock_holder: sqlite3.Connection,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """While a writer (here: of this process) waits for the lock, a bulk writer's next
    transaction does not start: it stands back until the waiting one has the lock. The
    marker is an flock, so the same holds across processes (the web and the import)."""
    # Standing back gives up after BULK_YIELD_MAX; a long one here, so that a busy
    # machine cannot make the bulk writer give up before the waiting writer is done.
    monkeypatch.setattr(db, "BULK_YIELD_MAX", 60.0)
    waiting = _writers_of(engine.url.database or "")
    waiting.waiting()  # as a one-click unsubscribe waiting for the lock
    released = threading.Event()
    back_after_release: list[bool] = []

    def bulk() -> None:
        waiting.stand_back()
        back_after_release.append(released.is_set())

    batch = threading.Thread(target=bulk)
    batch.start()
    batch.join(0.3)
    assert batch.is_alive() and not back_after_release  # still standing back
    released.set()
    waiting.done()  # the waiting writer got the lock
    batch.join(30)
    assert back_after_release == [True]  # it went on only once the writer was through


@SQLITE_ONLY
def test_waiting_writers_go_first(engine: Engine, write_lock_holder: sqlite3.Connection,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A web writer waiting for the lock, then an import batch: the web writer first."""
    monkeypatch.setattr(db, "BULK_YIELD_MAX", 60.0)  # see the test above
    order: list[str] = []
    write_lock_holder.execute("BEGIN IMMEDIATE")

    def web() -> None:
        with transaction(engine) as s:
            s.execute(text("SELECT 1"))
            order.append("web")
            time.sleep(0.1)

    def bulk() -> None:
        with engine.connect().execution_options(**{BULK: True}) as conn:
            conn.execute(text("SELECT 1"))
            order.append("bulk")
            conn.commit()

    waiting = _writers_of(engine.url.database or "")
    threads = [threading.Thread(target=web), threading.Thread(target=bulk)]
    threads[0].start()
    deadline = time.monotonic() + 60
    while not waiting.has_waiting():  # until the web writer waits for the lock
        assert time.monotonic() < deadline, "the web writer never waited for the lock"
        time.sleep(0.01)
    threads[1].start()
    threads[1].join(0.3)
    assert threads[1].is_alive() and order == []  # the bulk writer stands back
    write_lock_holder.execute("COMMIT")
    for t in threads:
        t.join(30)
    assert order == ["web", "bulk"]


@SQLITE_ONLY
def test_no_wait_and_read_only(engine: Engine, write_lock_holder: sqlite3.Connection) -> None:
    write_lock_holder.execute("BEGIN IMMEDIATE")
    started = time.monotonic()
    with pytest.raises(DatabaseBusy, match="nothing was changed"):
        with transaction(engine, wait=False) as s:
            s.execute(text("SELECT 1"))
    assert time.monotonic() - started < 5  # no busy timeout (30 s) waited
    with reading(engine) as s:  # a read does not wait for the lock
        assert s.execute(text("SELECT count(*) FROM lists")).scalar() == 0
    write_lock_holder.execute("ROLLBACK")
    with pytest.raises(OperationalError, match="readonly"):
        with reading(engine) as s:
            s.execute(text("DELETE FROM lists"))


def test_long_write_transactions_are_logged(engine: Engine,
                                            caplog: pytest.LogCaptureFixture) -> None:
    """With MAILER_SERVER_TIMING every process logs the write transactions that kept the
    database 100 ms or more, with their first statement; reads are not logged."""
    log_long_writes(engine)
    with caplog.at_level(logging.WARNING, logger="mailer.store.db"):
        with reading(engine) as s:
            s.execute(text("SELECT count(*) FROM subscribers"))
            time.sleep(0.15)
        with transaction(engine) as s:
            s.execute(text("SELECT count(*) FROM mailings"))
            time.sleep(0.15)
    held = [r.getMessage() for r in caplog.records if LONG_WRITE in r.getMessage()]
    assert len(held) == 1, held
    assert "SELECT count(*) FROM mailings" in held[0]
