"""Engines and sessions: SQLite (WAL, foreign keys, busy timeout) or PostgreSQL, same code."""

from __future__ import annotations

import logging
import os
import select
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING

try:  # the bulk writer's priority needs flock (POSIX); elsewhere it is left out
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError, InvalidatePoolError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from mailer import timing
from mailer.errors import ConfigError, DatabaseBusy, MailerError

log = logging.getLogger(__name__)

if TYPE_CHECKING:  # alembic is imported only when a migration command needs it
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def _sqlite_pragmas(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    # The sqlite3 module opens an implicit transaction on DML only; we want SQLAlchemy
    # in charge (BEGIN issued by us), so disable pysqlite's own handling.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()
    # Segment conditions compare lower-cased text; SQLite's lower() is ASCII only.
    from mailer.store.segments import SQLITE_LOWER, sqlite_lower
    dbapi_conn.create_function(SQLITE_LOWER, 1, sqlite_lower, deterministic=True)


#: Execution option of the connections ``reading`` hands out: a transaction for reads only.
READ_ONLY = "mailer_read_only"
#: Execution option of ``transaction(engine, wait=False)``: the write lock now or never.
NO_WAIT = "mailer_no_wait"


def _sqlite_begin(conn: Connection) -> None:
    # A write transaction starts with BEGIN IMMEDIATE: it takes the write lock up front, so
    # two writers wait on busy_timeout instead of failing with "database is locked" when
    # a read transaction upgrades. A read (``reading``) starts with a deferred BEGIN and
    # never takes the write lock: in WAL mode it reads its snapshot while a writer works,
    # so pages never wait behind a long write (issue 13, item 2). A read connection is
    # also ``query_only``: a write in it fails at once, loudly, instead of waiting for
    # the lock (or being rolled back unnoticed at the end of the read).
    read_only = bool(conn.get_execution_options().get(READ_ONLY))
    if conn.info.get(READ_ONLY, False) != read_only:
        conn.exec_driver_sql(f"PRAGMA query_only={int(read_only)}")
        conn.info[READ_ONLY] = read_only
    if read_only:
        conn.exec_driver_sql("BEGIN")
    else:
        _begin_immediate(conn)


#: How often the one waiting writer of a process asks for SQLite's write lock (seconds).
SQLITE_WRITE_POLL = 0.002
#: Execution option of a bulk writer (an import's batch transactions): before each
#: transaction it lets the writers of every process that wait for the write lock go first.
BULK = "mailer_bulk"
#: The longest a bulk writer stands back before one transaction (seconds): the import
#: slows while the web and the worker write, but never stops.
BULK_YIELD_MAX = 2.0


#: Execution option of an urgent writer (a one-click unsubscribe): at the gate of its
#: process it goes before every ordinary writer that waits there (not before one that
#: already asks SQLite, nor before other processes).
URGENT = "mailer_urgent"


class _Gate:
    """A lock handed on in turn: urgent waiters before ordinary ones, first come first
    served among equals (``threading.Lock`` wakes its waiters in no order).

    Each waiter waits on a lock of its own, which ``release`` hands over to the next in
    turn without letting anyone else slip in between; only one waiter is woken.
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._urgent: deque[threading.Lock] = deque()
        self._ordinary: deque[threading.Lock] = deque()

    def acquire(self, *, urgent: bool = False, timeout: float = -1) -> bool:
        """Take the gate; False after ``timeout`` seconds (-1: no limit, 0: now or never)."""
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            if timeout == 0:
                return False
            mine = threading.Lock()
            mine.acquire()
            queue = self._urgent if urgent else self._ordinary
            queue.append(mine)
        if mine.acquire(timeout=timeout):
            return True  # handed over by release()
        with self._mutex:
            try:
                queue.remove(mine)
            except ValueError:
                return True  # handed over between the timeout and here: ours now
            return False

    def release(self) -> None:
        with self._mutex:
            queue = self._urgent or self._ordinary
            if queue:
                queue.popleft().release()  # the gate stays held: it is the next one's
            else:
                self._held = False


class _Writers:
    """The writers of this process on one SQLite database file.

    ``gate``: they queue on it, so only one asks SQLite for the write lock at a time;
    urgent ones (``URGENT``) first.
    While any of them waits, the process holds a shared ``flock`` on ``<database>-writers``;
    a bulk writer (any process) stands back while it cannot take that file exclusively.
    """

    def __init__(self, database: str) -> None:
        self.gate = _Gate()
        self.marker = database + "-writers"
        self._count = 0
        self._fd: int | None = None
        self._lock = threading.Lock()

    def waiting(self) -> None:
        with self._lock:
            self._count += 1
            if self._count == 1 and fcntl is not None:
                try:
                    fd = os.open(self.marker, os.O_RDWR | os.O_CREAT, 0o600)
                except OSError:
                    return  # a read-only folder: no priority, nothing else changes
                fcntl.flock(fd, fcntl.LOCK_SH)
                self._fd = fd

    def has_waiting(self) -> bool:
        """Whether a writer of this process waits for the write lock now."""
        with self._lock:
            return self._count > 0

    def done(self) -> None:
        with self._lock:
            self._count -= 1
            if self._count == 0 and self._fd is not None:
                os.close(self._fd)  # releases the shared lock
                self._fd = None

    def others_wait(self) -> bool:
        """Whether a writer of any process (this one included) waits for the write lock now:
        one syscall, never blocks."""
        if fcntl is None:
            return False
        try:
            fd = os.open(self.marker, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return False  # closing the file below releases it at once
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    def stand_back(self) -> None:
        """For a bulk writer: wait (at most ``BULK_YIELD_MAX``) until no writer of any
        process waits for the write lock."""
        if fcntl is None:
            return
        try:
            fd = os.open(self.marker, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return
        try:
            deadline = time.monotonic() + BULK_YIELD_MAX
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return  # closing the file below releases it at once
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        return
                    time.sleep(SQLITE_WRITE_POLL)
        finally:
            os.close(fd)


_writers: dict[str, _Writers] = {}
_writers_lock = threading.Lock()


def _writers_of(database: str) -> _Writers:
    with _writers_lock:
        found = _writers.get(database)
        if found is None:
            found = _writers[database] = _Writers(database)
        return found


def writers_wait(conn: Connection) -> bool:
    """Whether another writer waits for SQLite's write lock on ``conn``'s database now, so
    that a bulk writer in a transaction should commit soon (False on PostgreSQL and for an
    in-memory database, which have no such queue)."""
    database = conn.engine.url.database or ""
    if conn.dialect.name != "sqlite" or database in ("", ":memory:"):
        return False
    return _writers_of(database).others_wait()


def _begin_immediate(conn: Connection) -> None:
    """BEGIN IMMEDIATE, waiting for the write lock in turn and without sleeping past it.

    SQLite's own busy handler lets a waiting writer retry only every 100 ms once it has
    waited a while, and in no order: with an import committing a batch every few tenths
    of a second and a worker recording outcomes, a web request could wait many seconds
    (benchmarks/load.py: one-click p99 over 10 s). Here the writers of one process queue
    on a lock of the process (one per database file) and only the first of them asks
    SQLite, every ``SQLITE_WRITE_POLL``: it gets the write lock within milliseconds of
    its release, then the next one in the process queues for it: an urgent one
    (``URGENT``: a one-click unsubscribe) before the ordinary ones (sign-ups), so it does
    not wait behind every sign-up in flight. A bulk writer (``BULK``: the import) lets
    waiting writers of every process go first. The wait is bounded by
    the same busy timeout; past it, ``DatabaseBusy`` (nothing was written).
    """
    database = conn.engine.url.database or ""
    if database in ("", ":memory:"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        return
    with timing.phase("lock"):
        _wait_for_write_lock(conn, database)


def _wait_for_write_lock(conn: Connection, database: str) -> None:
    options = conn.get_execution_options()
    timeout = 0.0 if options.get(NO_WAIT) else SQLITE_BUSY_TIMEOUT_MS / 1000
    deadline = time.monotonic() + timeout
    writers = _writers_of(database)
    raw = conn.connection.dbapi_connection
    assert isinstance(raw, sqlite3.Connection)
    bulk = bool(options.get(BULK))
    urgent = bool(options.get(URGENT))
    if bulk:
        writers.stand_back()
    else:
        writers.waiting()
    try:
        with timing.phase("gate"):  # behind this process's other writers
            if not writers.gate.acquire(urgent=urgent, timeout=timeout):
                raise _busy(timeout)
        try:
            raw.execute("PRAGMA busy_timeout=0")
            try:
                while True:
                    try:
                        raw.execute("BEGIN IMMEDIATE")
                        return
                    except sqlite3.OperationalError as exc:
                        if not _locked(exc):
                            raise
                    if time.monotonic() >= deadline:
                        raise _busy(timeout)
                    time.sleep(SQLITE_WRITE_POLL)
            finally:
                raw.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            writers.gate.release()
    finally:
        if not bulk:
            writers.done()


def _busy(waited: float) -> DatabaseBusy:
    return DatabaseBusy(f"the database stayed locked by another writer for {waited:g} s "
                        "(an import or a worker?); nothing was changed: try again")


def _locked(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY (with any extended code): another connection holds the write lock."""
    return exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY



#: A bulk writer's checkpoints: the writer waits for the checkpointer once it has committed
#: this many rows since it last waited, so that the WAL is fully copied back when its next
#: transaction starts and SQLite starts the WAL file over (otherwise it would grow through
#: the whole import). A 10,000-row import transaction writes 20-40 MB of WAL.
WAL_SETTLE_ROWS = 25_000


class WalCheckpointer:
    """Copies a bulk writer's committed WAL pages back into the SQLite database file from a
    thread of its own, while the writer prepares and writes its next batch.

    SQLite's automatic checkpoint runs in the committing connection after each commit
    (every 1,000 pages of WAL: after every batch of an import): the import waited for
    the copy and its two ``fsync`` calls before it could write the next batch. The
    writer turns its own automatic checkpoint off (``PRAGMA wal_autocheckpoint=0``) and
    calls ``committed`` after each commit; this thread then runs a PASSIVE checkpoint,
    which takes no lock a writer or a reader waits for (a web writer's own automatic
    checkpoint meanwhile finds the checkpoint lock taken and skips). Durability is
    unchanged: a committed transaction is in the WAL, which SQLite replays after a crash.
    """

    def __init__(self, database: str) -> None:
        self._db = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
        self._db.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._cond = threading.Condition()
        self._pending = False
        self._running = False
        self._stop = False
        self._rows = 0
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
        self._thread.start()

    def committed(self, rows: int) -> None:
        """The writer committed ``rows``: checkpoint soon; every ``WAL_SETTLE_ROWS``, wait
        for it."""
        with self._cond:
            self._pending = True
            self._cond.notify_all()
            self._rows += rows
            if self._rows >= WAL_SETTLE_ROWS:
                self._rows = 0
                while (self._pending or self._running) and self._thread.is_alive():
                    self._cond.wait(timeout=1.0)

    def close(self) -> None:
        """Stop after the checkpoint asked for last (its pages are in the database file)."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join()
        self._db.close()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stop:
                    self._cond.wait()
                if not self._pending:
                    return
                self._pending, self._running = False, True
            try:
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error:
                pass  # a later checkpoint (or the next writer's own) copies the pages
            finally:
                with self._cond:
                    self._running = False
                    self._cond.notify_all()


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine for ``url`` with our connection settings."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"MAILER_DATABASE_URL: cannot parse {url!r}: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            parent = Path(parsed.database).parent
            if not parent.exists():
                raise ConfigError(
                    f"MAILER_DATABASE_URL: folder {parent} does not exist; create it or "
                    "point the URL elsewhere"
                )
        # A connection for every thread of the web's threadpool (40) and then some: a
        # request waiting for the write lock holds one, and a read must not queue behind
        # it for a connection (SQLite connections are cheap; idle ones above 10 close).
        pool = ({} if parsed.database in (None, "", ":memory:")
                else {"pool_size": 10, "max_overflow": 70})
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30}, **pool)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise ConfigError(
                "MAILER_DATABASE_URL points at PostgreSQL but psycopg is not installed; "
                "install it with: pip install 'mailer[postgres]'"
            ) from None
        engine = create_engine(parsed, echo=echo, pool_size=PG_POOL_SIZE,
                               max_overflow=PG_MAX_OVERFLOW)
        _check_pooled_connections(engine)
        return engine
    raise ConfigError(f"MAILER_DATABASE_URL: unsupported database {parsed.get_backend_name()!r}")


#: PostgreSQL connections a process keeps open between uses, and how many more it may
#: open at busy moments (closed again when given back). SQLAlchemy's default keeps 5: under
#: the load benchmark's 20 requests at once, ``mailer serve`` then opened and closed a
#: connection for about one one-click in a hundred, a new server process each time (its
#: "connect" phase 72-123 ms at p99, 8-13 ms with 15 kept; benchmarks/load.py). Idle
#: connections cost the server a few MB each; only as many are kept as were used at once.
PG_POOL_SIZE = 15
PG_MAX_OVERFLOW = 10

#: A pooled PostgreSQL connection idle this long is pinged before it is used (seconds).
PG_PING_AFTER = 30.0
_IDLE_SINCE = "mailer_idle_since"


def _check_pooled_connections(engine: Engine) -> None:
    """Hand out only live PostgreSQL connections, without a round trip per request.

    SQLAlchemy's ``pool_pre_ping`` pings every connection it hands out: one more round
    trip per transaction, on a server that may share the CPUs with the web (issue 13).
    Here a connection is pinged only when it was idle for ``PG_PING_AFTER`` or when its
    socket has something to read while idle: the server closed it (a restart, an
    administrator's pg_terminate_backend) or said why before closing. A ping that finds
    the server gone reconnects every pooled connection, as ``pool_pre_ping`` does.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi: object, record: ConnectionPoolEntry) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi: DBAPIConnection, record: ConnectionPoolEntry,
                     _proxy: object) -> None:
        since = record.info.pop(_IDLE_SINCE, None)
        if since is None:  # just connected
            return
        if time.monotonic() - since < PG_PING_AFTER and not _readable(dbapi):
            return
        dialect = engine.dialect
        try:
            dialect.do_ping(dbapi)
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, dbapi, None):
                raise InvalidatePoolError(f"the database closed the connection: {exc}") \
                    from exc
            raise


def _readable(dbapi: DBAPIConnection) -> bool:
    """Whether an idle connection's socket has data (or end of file) waiting: a healthy
    idle connection has nothing to read; when in doubt, True (ping it)."""
    try:
        ready, _, _ = select.select([dbapi.fileno()], [], [], 0)
    except (OSError, ValueError, AttributeError):
        return True
    return bool(ready)


def time_statements(engine: Engine) -> None:
    """Note every statement's time as ``sql`` in the timed request (``mailer.timing``)."""
    started: ContextVar[float] = ContextVar("mailer_statement_started", default=0.0)

    @event.listens_for(engine, "before_cursor_execute")
    def _before(*_: object) -> None:
        started.set(time.perf_counter())

    @event.listens_for(engine, "after_cursor_execute")
    def _after(*_: object) -> None:
        timing.note("sql", (time.perf_counter() - started.get()) * 1000)


#: What ``log_long_writes`` logs (a load test counts these lines in each process's log).
LONG_WRITE = "write transaction held"


def log_long_writes(engine: Engine, threshold_ms: float = 100.0) -> None:
    """Log every write transaction of this engine that lasted ``threshold_ms`` or more
    from its BEGIN (on SQLite: from taking the write lock) to its COMMIT, with its first
    statement: who kept the others waiting (``MAILER_SERVER_TIMING``, in every process)."""

    @event.listens_for(engine, "begin")
    def _began(conn: Connection) -> None:
        if not conn.get_execution_options().get(READ_ONLY):
            conn.info["mailer_began"] = time.perf_counter()
            conn.info["mailer_first"] = ""

    @event.listens_for(engine, "before_cursor_execute")
    def _statement(conn: Connection, _cursor: object, statement: str, *_: object) -> None:
        if conn.info.get("mailer_first") == "":
            conn.info["mailer_first"] = " ".join(statement.split())[:90]

    def _ended(conn: Connection) -> None:
        began = conn.info.pop("mailer_began", None)
        first = conn.info.pop("mailer_first", "")
        if began is None:
            return
        ms = (time.perf_counter() - began) * 1000
        if ms >= threshold_ms:
            log.warning("%s %.0f ms (first statement: %s)", LONG_WRITE, ms, first or "none")

    event.listen(engine, "commit", _ended)
    event.listen(engine, "rollback", _ended)


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(engine: Engine, *, wait: bool = True,
                urgent: bool = False) -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on error. With
    ``wait=False``, on SQLite, ``DatabaseBusy`` at once when another connection holds
    the write lock (for writes that may be skipped, never for data someone sent). With
    ``urgent=True``, on SQLite, it waits for the write lock before the process's ordinary
    writers (``URGENT``: short writes a person waits for, such as a one-click unsubscribe)."""
    options: dict[str, bool] = {}
    if not wait:
        options[NO_WAIT] = True
    if urgent:
        options[URGENT] = True
    bind = engine.execution_options(**options) if options else engine
    with Session(bind, expire_on_commit=False) as session, session.begin():
        if timing.current() is None:
            yield session
            return
        with timing.phase("connect"):  # pool, BEGIN (SQLite: the write lock)
            session.connection()
        with timing.phase("held"):  # from BEGIN to the end of COMMIT
            yield session
            with timing.phase("commit"):
                session.commit()


@contextmanager
def reading(engine: Engine) -> Iterator[Session]:
    """A session for reads only (rolled back at the end). On SQLite it never takes the
    write lock, so it does not wait for a writer; use it only where nothing is written:
    a write in it is refused at once (SQLite ``query_only``, PostgreSQL ``READ ONLY``).
    What it loaded stays readable afterwards, as after ``transaction`` (detached, not
    expired by the rollback)."""
    options: dict[str, bool] = {READ_ONLY: True}
    if is_postgres(engine):
        # The same promise on PostgreSQL: psycopg begins with BEGIN READ ONLY (no extra
        # round trip), and a write in it is an error, not a silent rollback.
        options["postgresql_readonly"] = True
    with Session(engine.execution_options(**options)) as session:
        with session.begin():
            if timing.current() is not None:
                with timing.phase("connect"):
                    session.connection()
            yield session
            session.expunge_all()
            session.rollback()


def _alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (creating the schema on an empty database)."""
    from alembic import command

    try:
        command.upgrade(_alembic_config(engine), revision)
    except OperationalError as exc:
        raise MailerError(f"cannot migrate the database at {engine.url!r}: {exc.orig}") from None


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None before the first migration)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
    if len(heads) > 1:  # stamped by a development build from before the history was linear
        raise MailerError(f"the database is stamped with several migrations ({', '.join(heads)})"
                          "; it comes from a development build: make a new one with "
                          "'mailer init'")
    return heads[0] if heads else None


def head_revision(engine: Engine) -> str | None:
    """The newest revision this mailer ships (the history is one line: one head)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config(engine)).get_current_head()


def require_current(engine: Engine) -> None:
    """Refuse to work on a database that is missing or not migrated, with the fix."""
    db = engine.url.database
    if engine.dialect.name == "sqlite" and db and db != ":memory:" and not Path(db).exists():
        raise MailerError(f"no mailer database at {db}; run 'mailer init' first")
    try:
        have = current_revision(engine)
    except OperationalError as exc:
        raise MailerError(f"cannot open the database {engine.url!r}: {exc.orig}") from None
    if have is None:
        if not inspect(engine).get_table_names():
            raise MailerError(
                f"no mailer database at {engine.url!r}; run 'mailer init' first"
            )
        raise MailerError("the database has tables but no migration stamp; run 'mailer db upgrade'")
    if have != head_revision(engine):
        raise MailerError(
            f"the database is at migration {have}, this mailer needs {head_revision(engine)}; "
            "run 'mailer db upgrade'"
        )
