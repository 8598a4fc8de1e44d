"""Shared fixtures: a workspace, a real database (SQLite file and PostgreSQL), real SMTP.

Every test that takes ``engine`` (or ``settings``) runs once per database backend. The
PostgreSQL run uses a database created for this test run on the server at
MAILER_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test); where no
server answers, those runs are skipped with that reason. MAILER_TEST_DATABASES=sqlite
(or =postgresql) narrows the matrix; the PostgreSQL runs carry the ``postgres`` marker,
so ``-m "not postgres"`` deselects them too.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from mailer.config import Settings, load_settings
from mailer.store.db import make_engine, upgrade
from mailer.store.models import Base
from tests.smtp_server import SmtpServer
from tests.webhook_receiver import Receiver

PG_URL = os.environ.get("MAILER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = [b.strip() for b in os.environ.get("MAILER_TEST_DATABASES",
                                               "sqlite,postgresql").split(",") if b.strip()]
TEST_SECRET = "test-secret-key-not-for-production-0123456789"


def _pg_reason() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install -e '.[test]')"
    try:
        with psycopg.connect(PG_URL.replace("postgresql+psycopg", "postgresql"),
                             connect_timeout=3):
            return None
    except Exception as exc:  # any connection failure means: no server for us
        return f"no PostgreSQL server answers at {PG_URL}: {str(exc).strip()[:120]}"


@pytest.fixture(autouse=True)
def _gil_switch_interval() -> Iterator[None]:
    """``mailer worker`` run in-process shortens the GIL's switch interval for its
    process; put it back, so no later test runs with another test's timing."""
    before = sys.getswitchinterval()
    yield
    sys.setswitchinterval(before)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file made once per run; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # the last connection to close checkpoints the WAL into the file
    assert not path.with_name(path.name + "-wal").exists()
    return path


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A database of our own on the PostgreSQL server for this test run, migrated once."""
    reason = _pg_reason()
    if reason:
        pytest.skip(reason)
    import psycopg

    name = f"mailer_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = PG_URL.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin.rsplit("/", 1)[0] + "/" + name
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def empty_pg_database(pg_url: str, prefix: str) -> Iterator[Engine]:
    """An engine on a new, empty database of its own beside ``pg_url``'s (for a test that
    migrates step by step), dropped afterwards."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = pg_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(pg_url.rsplit("/", 1)[0] + "/" + name)
    try:
        yield engine
    finally:
        engine.dispose()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _backend_param(name: str) -> object:
    return pytest.param(name, marks=pytest.mark.postgres) if name == "postgresql" else name


@pytest.fixture(params=[_backend_param(b) for b in BACKENDS])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """The URL of an empty, migrated database of each backend."""
    if request.param == "sqlite":
        path = tmp_path / "mailer.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    if request.param == "postgresql":
        url: str = request.getfixturevalue("pg_url")
        engine = make_engine(url)
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            conn.execute(text("DELETE FROM alembic_version WHERE false"))
            # APScheduler's job table lives outside our metadata; clear it too if present.
            conn.execute(text("DO $$ BEGIN IF to_regclass('apscheduler_jobs') IS NOT NULL "
                              "THEN DELETE FROM apscheduler_jobs; END IF; END $$"))
        engine.dispose()
        return url
    raise ValueError(f"unknown backend {request.param!r} in MAILER_TEST_DATABASES")


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server on 127.0.0.1 that keeps every message it accepts."""
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty workspace folder, with no MAILER_* variables leaking in from outside."""
    for key in list(os.environ):
        if key.startswith("MAILER_") and not key.startswith("MAILER_TEST_"):
            monkeypatch.delenv(key)
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


@pytest.fixture
def settings(workspace: Path, db_url: str, smtp_server: SmtpServer) -> Settings:
    """Settings for a workspace on the test database, sending to the test SMTP server."""
    return load_settings(workspace, database_url=db_url, smtp_url=smtp_server.url,
                         secret_key=TEST_SECRET, base_url="https://nyhetsbrev.example.org")


@pytest.fixture
def write_lock_holder(engine: Engine) -> Iterator[sqlite3.Connection]:
    """Another connection to the SQLite database (as another process's), to take the write
    lock with (BEGIN IMMEDIATE); rolled back at the end. Skips on PostgreSQL."""
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's write lock")
    holder = sqlite3.connect(engine.url.database or "", isolation_level=None,
                             check_same_thread=False)
    yield holder
    if holder.in_transaction:
        holder.execute("ROLLBACK")
    holder.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on loopback (records each POST; answers what its test sets)."""
    r = Receiver().start()
    yield r
    r.stop()
