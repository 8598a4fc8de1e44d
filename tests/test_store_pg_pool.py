"""PostgreSQL's pooled connections: no ping per transaction, and still never a dead one.

``store.db`` pings a pooled connection only when it was idle long or its socket has
something to read (the server closed it). A connection the server terminated while it sat
in the pool is replaced before use: the next transaction goes through."""

from __future__ import annotations

import time

import psycopg
import pytest
from sqlalchemy import Engine, text

import mailer.store.db as store_db
from mailer.store.db import make_engine, transaction

pytestmark = pytest.mark.postgres


def _backend_pid(engine: Engine) -> int:
    with transaction(engine) as s:
        return int(s.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(pg_url: str, pid: int) -> None:
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        deadline = time.monotonic() + 10
        while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s",
                            (pid,)).fetchone():
            assert time.monotonic() < deadline, "the backend did not end"
            time.sleep(0.05)


def test_a_connection_the_server_closed_is_replaced(pg_url: str) -> None:
    engine = make_engine(pg_url)
    try:
        first = _backend_pid(engine)
        assert _backend_pid(engine) == first  # the pooled connection, reused
        _terminate(pg_url, first)
        time.sleep(0.2)  # the server's goodbye reaches the idle socket
        assert _backend_pid(engine) != first  # a new connection, no error
    finally:
        engine.dispose()


def test_a_long_idle_connection_is_pinged(pg_url: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(pg_url)
    pings: list[object] = []
    real = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda c: pings.append(c) or real(c))
    try:
        _backend_pid(engine)
        _backend_pid(engine)
        assert pings == []  # recently used: trusted, no round trip
        monkeypatch.setattr(store_db, "PG_PING_AFTER", 0.0)
        _backend_pid(engine)
        assert len(pings) == 1
    finally:
        engine.dispose()


def test_connections_used_at_once_stay_open_for_the_next_requests(pg_url: str) -> None:
    """Fifteen requests at once leave fifteen connections in the pool, not five: a busy
    ``mailer serve`` does not open (and the server fork) a new connection for the next
    requests (SQLAlchemy's default keeps 5; benchmarks/load.py measured the difference)."""
    engine = make_engine(pg_url)
    try:
        held = [engine.connect() for _ in range(store_db.PG_POOL_SIZE)]
        pids = {c.execute(text("SELECT pg_backend_pid()")).scalar_one() for c in held}
        for c in held:
            c.close()
        assert engine.pool.checkedin() == store_db.PG_POOL_SIZE == 15  # type: ignore[attr-defined]
        again = [engine.connect() for _ in range(store_db.PG_POOL_SIZE)]
        assert {c.execute(text("SELECT pg_backend_pid()")).scalar_one()
                for c in again} == pids
        for c in again:
            c.close()
    finally:
        engine.dispose()
