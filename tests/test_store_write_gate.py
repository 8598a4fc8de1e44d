"""The in-process gate at SQLite's write lock (store/db.py ``_Gate``): urgent writers (a
one-click unsubscribe) go before ordinary ones (sign-ups) waiting in the same process,
first come first served among equals; a waiter that times out leaves its place. Real
threads; the tests assert the order, never a duration."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, text

from mailer.errors import DatabaseBusy
from mailer.store import db as store_db
from mailer.store.db import _Gate, _writers_of, transaction

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _until(check: Callable[[], bool], what: str) -> None:
    """Wait until ``check()`` (a thread reached its place); a bound only against hanging."""
    deadline = time.monotonic() + 20
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.001)


def _queued(gate: _Gate) -> int:
    return len(gate._urgent) + len(gate._ordinary)


def test_urgent_waiters_go_first_and_equals_in_arrival_order() -> None:
    gate = _Gate()
    assert gate.acquire()
    order: list[str] = []

    def waiter(name: str, urgent: bool) -> None:
        assert gate.acquire(urgent=urgent, timeout=30)
        order.append(name)
        gate.release()

    threads = []
    for n, (name, urgent) in enumerate([("sign-up 1", False), ("sign-up 2", False),
                                        ("one-click 1", True), ("sign-up 3", False),
                                        ("one-click 2", True)], start=1):
        t = threading.Thread(target=waiter, args=(name, urgent))
        t.start()
        threads.append(t)
        _until(lambda n=n: _queued(gate) == n, f"{name} queued")
    gate.release()
    for t in threads:
        t.join(30)
    assert order == ["one-click 1", "one-click 2", "sign-up 1", "sign-up 2", "sign-up 3"]
    assert gate.acquire(timeout=0)  # free again, nobody left in the queue
    gate.release()


def test_a_waiter_that_times_out_leaves_its_place() -> None:
    gate = _Gate()
    assert gate.acquire()
    assert not gate.acquire(timeout=0)  # now or never
    assert not gate.acquire(urgent=True, timeout=0.05)
    assert _queued(gate) == 0
    order: list[str] = []

    def waiter(name: str) -> None:
        assert gate.acquire(timeout=30)
        order.append(name)
        gate.release()

    t = threading.Thread(target=waiter, args=("sign-up",))
    t.start()
    _until(lambda: _queued(gate) == 1, "queued")
    gate.release()
    t.join(30)
    assert order == ["sign-up"]
    assert gate.acquire(timeout=0)
    gate.release()


@SQLITE_ONLY
def test_an_urgent_transaction_passes_the_waiting_ordinary_ones(
        engine: Engine, write_lock_holder: sqlite3.Connection) -> None:
    """Another process holds the write lock; the first ordinary writer of this process asks
    SQLite, two more wait at the gate, then an urgent one arrives: when the lock is free,
    the urgent one writes right after the one already asking, before the other two."""
    with transaction(engine) as s:
        s.execute(text("CREATE TABLE turns (id INTEGER PRIMARY KEY, name TEXT)"))
    gate = _writers_of(engine.url.database or "").gate
    write_lock_holder.execute("BEGIN IMMEDIATE")

    def writer(name: str, urgent: bool) -> None:
        with transaction(engine, urgent=urgent) as s:
            s.execute(text("INSERT INTO turns (name) VALUES (:n)"), {"n": name})

    threads = [threading.Thread(target=writer, args=("sign-up 1", False))]
    threads[0].start()
    _until(lambda: gate._held, "the first writer asks SQLite")
    for n, (name, urgent) in enumerate([("sign-up 2", False), ("sign-up 3", False),
                                        ("one-click", True)], start=1):
        t = threading.Thread(target=writer, args=(name, urgent))
        t.start()
        threads.append(t)
        _until(lambda n=n: _queued(gate) == n, f"{name} queued")
    write_lock_holder.execute("COMMIT")
    for t in threads:
        t.join(30)
    with transaction(engine) as s:
        order = list(s.execute(text("SELECT name FROM turns ORDER BY id")).scalars())
    assert order == ["sign-up 1", "one-click", "sign-up 2", "sign-up 3"]


@SQLITE_ONLY
def test_an_urgent_writer_still_times_out(engine: Engine, write_lock_holder: sqlite3.Connection,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the busy timeout an urgent writer gets DatabaseBusy like any other (nothing
    written), leaves the gate's queue and its 'waiting' mark (the flock the imports
    stand back for)."""
    monkeypatch.setattr(store_db, "SQLITE_BUSY_TIMEOUT_MS", 300)
    writers = _writers_of(engine.url.database or "")
    write_lock_holder.execute("BEGIN IMMEDIATE")
    holder_done = threading.Event()

    def ordinary() -> None:
        with pytest.raises(DatabaseBusy):
            with transaction(engine) as s:
                s.execute(text("SELECT 1"))
        holder_done.set()

    first = threading.Thread(target=ordinary)
    first.start()
    _until(lambda: writers.gate._held, "the ordinary writer asks SQLite")
    with pytest.raises(DatabaseBusy, match="nothing was changed"):
        with transaction(engine, urgent=True) as s:
            s.execute(text("SELECT 1"))
    first.join(30)
    assert holder_done.is_set()
    assert _queued(writers.gate) == 0 and not writers.gate._held
    assert not writers.has_waiting()
    write_lock_holder.execute("ROLLBACK")
    with transaction(engine, urgent=True) as s:  # and it works once the lock is free
        assert s.execute(text("SELECT 1")).scalar() == 1
