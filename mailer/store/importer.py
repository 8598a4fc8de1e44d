"""Import subscribers from a CSV file into a list: streamed, set-based upserts, batch commits.

The file is read in batches of ``BATCH_BY_DIALECT`` rows (``BATCH`` otherwise); each batch
costs a handful of statements (look up who exists, insert the new, update the changed,
subscribe, log consent), never one ORM object per row, so memory stays flat for a million
rows. Batches are committed as they go: on PostgreSQL each on its own; on SQLite a
transaction takes the next batch too while no other writer waits for the write lock (up
to ``TRANSACTION_BY_DIALECT`` rows) and commits after the batch during which one starts
waiting, so a waiting writer waits for one batch at most; and each transaction lets
writers that wait for the lock go first (``store.db.BULK``): the web pages (one-click
unsubscribes, sign-ups) and the worker get their turn during a million-row import. A
fatal database error keeps the committed batches and says from which line to look again;
importing the same file again is safe (the rows already in are reported unchanged). A dry
run is one transaction, rolled back.

Rules (also in ``mailer subscribers import --help``):
- A later row with the same address (case ignored) is rejected as "duplicate of line N".
- An empty cell means "not given": it never blanks what the database already holds.
- Someone who unsubscribed from the list stays unsubscribed and untouched; someone erased
  at their request (``mailer subscribers erase``) is not added back.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import TextIO, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from mailer.domain.findings import Msg, msg
from mailer.domain.spreadsheet import SafeCsvWriter
from mailer.domain.subscriber_rows import ColumnMap, HeaderError, SubscriberRow, map_columns
from mailer.errors import MailerError, message_of
from mailer.store.collector import fewer_collections
from mailer.store.csv_input import CsvFormat, Row, open_rows, sniff
from mailer.store.db import BULK, READ_ONLY, writers_wait
from mailer.store.lists import get_list
from mailer.store.models import MailingList, utcnow
from mailer.store.parallel import RowParser, default_workers
from mailer.store.upsert import BatchUpsert, Counts, duplicate_reason

# Rows per batch (one commit each). On SQLite a batch holds the database-wide write lock
# while it is written, and is the longest a waiting writer (a one-click unsubscribe, a
# sign-up, the worker) waits: each batch first lets such writers go (``store.db.BULK``),
# and 1,000 rows keep a batch to tens of milliseconds on a quiet machine (5,000 rows held
# the lock 0.3-1.8 s on a busy 2-core one; benchmarks/load.py), for about 10 % more time
# per import than 5,000-row batches. PostgreSQL has no database-wide write lock and pays
# a fixed cost per batch statement (planning, COPY set-up, commit): 10,000.
# The workers check rows in chunks of PARSE_CHUNK whatever the batch: larger chunks in
# flight raised the peak RSS of the import and its workers by ~150 MB (20,000-row batches).
BATCH = 5000
BATCH_BY_DIALECT = {"postgresql": 10_000, "sqlite": 1_000}
# Rows per transaction at most, where it differs from the batch. SQLite: a transaction
# goes on with the next batch while no other writer waits for the write lock (checked
# after each batch, ``store.db.writers_wait``), and commits at once when one does, so a
# waiting one-click still waits for one batch at most. Each commit writes every page the
# transaction dirtied to the WAL, and the consent log's ``email_hash`` index takes random
# keys: a 1,000-row commit wrote about a page per row there, 10,000 rows share them
# (SQLite's own CPU for 200,000 rows: 11.5 s at 1,000 rows a commit, 6.3 s at 10,000).
TRANSACTION_BY_DIALECT = {"sqlite": 10_000}
PARSE_CHUNK = 5000
# Parsed chunks read ahead of the writer by a thread (with workers only).
PREFETCH = 1
SHOWN_REJECTED = 20

T = TypeVar("T")
Progress = Callable[[int, int], None]  # called with (lines read so far, lines in the file)


@dataclass(frozen=True, slots=True)
class Rejected:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ImportReport:
    """What an import did, for the CLI to print and tests to check."""

    path: Path
    list_slug: str
    format: CsvFormat
    columns: str
    mapping: ColumnMap | None = None  # the columns recognised, for the admin's report
    counts: Counts = field(default_factory=Counts)
    rows: int = 0  # data rows read (blank lines not counted)
    empty_rows: int = 0  # rows with a delimiter but no value, as Excel leaves them
    rejected: int = 0
    first_rejected: list[Rejected] = field(default_factory=list)
    rejected_path: Path | None = None
    dry_run: bool = False
    seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def rejected_path_for(path: Path) -> Path:
    """``members.csv`` -> ``members.rejected.csv`` beside it."""
    return path.with_name(f"{path.stem}.rejected.csv")


def import_subscribers(
    engine: Engine,
    path: Path,
    list_slug: str,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    rejected_path: Path | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    now: datetime | None = None,
    batch_size: int | None = None,
    workers: int | None = None,
    copy: bool | None = None,
    transaction_rows: int | None = None,
    localise: Callable[[str], str] = str,
) -> ImportReport:
    """Import ``path`` into the list ``list_slug``; raise MailerError (changing nothing)
    when the file as a whole cannot be used.

    ``workers``: processes that parse and validate rows (default: several for large
    files on a multi-core machine, none for small ones; 0 parses in this process).
    ``batch_size``: rows per batch (default: BATCH, or BATCH_BY_DIALECT's).
    ``transaction_rows``: rows per commit at most; SQLite commits earlier when another
    writer waits (default: TRANSACTION_BY_DIALECT's, else one batch a commit; with
    ``batch_size`` given, that).
    ``copy``: send each batch with COPY into temporary tables (default: on PostgreSQL);
    False uses executemany, as on SQLite — the same rows either way (tested).
    ``localise``: the rejected file's column names and reasons in the reader's language
    (a translator's ``localise``; default English).
    """
    started = time.perf_counter()
    path = Path(path)
    fmt = sniff(path, encoding=encoding, delimiter=delimiter)
    with open_rows(path, fmt) as (header, rows):
        if not header:
            raise MailerError(msg("%(path)s: the file has only blank lines; expected a "
                                  "header line with an e-mail column and one line per person",
                                  path=str(path)))
        try:
            columns = map_columns(header)
        except HeaderError as exc:
            raise MailerError(msg("%(path)s: line 1: %(problem)s", path=str(path),
                                  problem=message_of(exc))) from None
        report = ImportReport(path=path, list_slug=list_slug, format=fmt,
                              columns=columns.describe(), mapping=columns,
                              dry_run=dry_run)
        out = rejected_path or rejected_path_for(path)
        with Session(engine.execution_options(**{READ_ONLY: True})) as session:
            lst = get_list(session, list_slug)  # a read: it never waits for the write lock
        with _RejectedFile(out, header, fmt, localise) as rejects:
            committed = _Committed()
            try:
                # A bulk writer: on SQLite each batch lets the writers that wait for the
                # lock (a one-click unsubscribe, a sign-up, the worker) go first.
                with engine.connect().execution_options(**{BULK: True}) as conn, \
                        fewer_collections():
                    committed.conn = None if dry_run else conn
                    dialect = engine.dialect.name
                    size = batch_size or BATCH_BY_DIALECT.get(dialect, BATCH)
                    committed.limit = transaction_rows or (
                        size if batch_size else TRANSACTION_BY_DIALECT.get(dialect, size))
                    _run(conn, lst, rows, columns, report, rejects, now or utcnow(),
                         size, progress,
                         default_workers(fmt.lines) if workers is None else workers,
                         committed, copy)
                    if dry_run:
                        conn.rollback()
                    else:
                        committed.commit()
            except MailerError as exc:
                error = str(exc) if exc.problems else exc.message
                raise MailerError(msg("%(error)s; %(outcome)s", error=error,
                                      outcome=committed.outcome())) from None
            except (IntegrityError, OperationalError) as exc:
                raise MailerError(msg("%(path)s: the database refused the import "
                                      "(%(error)s); %(outcome)s", path=str(path),
                                      error=str(exc.orig), outcome=committed.outcome())
                                  ) from None
            report.rejected_path = rejects.finish()
    report.seconds = time.perf_counter() - started
    return report


@dataclass
class _Committed:
    """Batch commits of one import: the connection to commit (None in a dry run)."""

    conn: Connection | None = None
    rows: int = 0  # committed
    next_line: int = 2  # the first line not committed
    limit: int = 0  # rows per transaction at most (one batch a commit: 0)
    pending: int = 0  # rows written since the last commit
    pending_line: int = 2

    def outcome(self) -> Msg:
        """What a fatal error leaves behind, for its message."""
        if not self.rows:
            return msg("nothing was imported")
        return msg("the rows before line %(line)s are imported: fix the file and import it "
                   "again (the rows already in are left unchanged)", line=self.next_line)

    def batch_done(self, rows: int, next_line: int) -> int:
        """A batch is written: commit the transaction when it holds ``limit`` rows or
        another writer waits for SQLite's write lock; return the rows committed (0: the
        transaction goes on)."""
        if self.conn is None:
            return 0
        self.pending += rows
        self.pending_line = next_line
        if self.pending < self.limit and not writers_wait(self.conn):
            return 0
        return self.commit()

    def commit(self) -> int:
        """Commit what is pending; return its rows. No pause after it: the next
        transaction is a bulk one (``BULK`` in store/db.py), which lets waiting writers of
        every process go first."""
        if self.conn is None:
            return 0
        self.conn.commit()
        done, self.pending = self.pending, 0
        self.rows += done
        self.next_line = self.pending_line
        return done


def _run(conn: Connection, lst: MailingList, rows: Iterator[Row], columns: ColumnMap,
         report: ImportReport, rejects: _RejectedFile, now: datetime, batch_size: int,
         progress: Progress | None, workers: int, committed: _Committed,
         copy: bool | None = None) -> None:
    upsert = BatchUpsert(conn, lst, now, source=report.path.name, copy=copy)
    try:
        _read(rows, columns, report, rejects, upsert, batch_size, progress, workers,
              committed)
        upsert.finish()
    finally:
        upsert.restore()
    report.counts = upsert.counts


def _read(rows: Iterator[Row], columns: ColumnMap, report: ImportReport,
          rejects: _RejectedFile, upsert: BatchUpsert, batch_size: int,
          progress: Progress | None, workers: int, committed: _Committed) -> None:
    if progress is not None:
        progress(1, report.format.lines)
    chunk = min(batch_size, PARSE_CHUNK)
    # The file is read, sent to the workers and their results received in a thread of
    # its own (``_Ahead``) while this thread writes the database: on PostgreSQL this one
    # mostly waits for the server, so the two overlap instead of taking turns.
    with RowParser(columns, workers, with_json=upsert.wants_json) as parser, \
            _Ahead(parser.parse(_batched(rows, chunk)), PREFETCH if workers else 0) as ahead:
        for chunks in _batched(ahead, -(-batch_size // chunk)):
            batch = [row for b, _ in chunks for row in b]
            parsed = [p for _, ps in chunks for p in ps]
            problems: list[tuple[int, list[str], str]] = []
            valid: list[SubscriberRow] = []
            raw: dict[int, list[str]] = {}
            first_line: dict[str, int] = {}
            for (start, _, values), row in zip(batch, parsed, strict=True):
                if row is None:
                    report.empty_rows += 1
                elif isinstance(row, str):
                    problems.append((start, values, row))
                elif (earlier := first_line.get(row.key)) is not None:
                    problems.append((start, values, duplicate_reason(earlier)))
                else:
                    first_line[row.key] = start
                    valid.append(row)
                    raw[start] = values
            report.rows += len(batch)
            for line, reason in upsert.apply(valid).items():
                problems.append((line, raw[line], reason))
            problems.sort(key=lambda p: p[0])
            for line, values, reason in problems:
                rejects.write(line, values, reason)
                report.rejected += 1
                if len(report.first_rejected) < SHOWN_REJECTED:
                    report.first_rejected.append(Rejected(line, reason))
            if done := committed.batch_done(len(batch), batch[-1][1] + 1):
                upsert.committed(done)
            if progress is not None:
                progress(batch[-1][1], report.format.lines)


class _Ahead(Iterator[T]):
    """Iterates ``source`` in a thread of its own, up to ``depth`` items ahead of the
    reader (``depth`` 0: no thread, ``source`` as it is). An exception in ``source`` is
    raised to the reader at the item where it happened."""

    _END = object()

    def __init__(self, source: Iterator[T], depth: int) -> None:
        self.source = source
        self.thread: threading.Thread | None = None
        if depth <= 0:
            return
        self.items: queue.Queue[object] = queue.Queue(maxsize=depth)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._fill, name="import-read", daemon=True)
        self.thread.start()

    def _fill(self) -> None:
        item: object
        try:
            for item in self.source:
                if not self._put(item):
                    return
            item = self._END
        except BaseException as exc:  # handed to the reader, raised there
            item = _Failed(exc)
        self._put(item)

    def _put(self, item: object) -> bool:
        while not self.stop.is_set():
            try:
                self.items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __next__(self) -> T:
        if self.thread is None:
            return next(self.source)
        item = self.items.get()
        if item is self._END:
            self.items.put(item)  # asked again: still the end
            raise StopIteration
        if isinstance(item, _Failed):
            self.items.put(item)
            raise item.exc
        return item  # type: ignore[return-value]

    def close(self) -> None:
        """Stop the thread (the reader is done, or failed) and wait for it."""
        if self.thread is None:
            return
        self.stop.set()
        self.thread.join()
        self.thread = None

    def __enter__(self) -> _Ahead[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class _Failed:
    exc: BaseException


def _batched(items: Iterable[T], n: int) -> Iterator[list[T]]:
    it = iter(items)
    while batch := list(islice(it, n)):
        yield batch


class _RejectedFile:
    """Rejected rows as CSV beside the input: its columns, then ``line`` and ``reason``
    (both names, and each reason, through ``localise``; ``map_columns`` leaves them out when
    the corrected file is imported again).

    Written to a temporary name and renamed at the end, so a failed import leaves no
    half-written file and a clean import removes a stale one from an earlier run.
    """

    def __init__(self, path: Path, header: list[str], fmt: CsvFormat,
                 localise: Callable[[str], str] = str) -> None:
        self.path = path
        self.localise = localise
        self.tmp = path.with_name(path.name + ".tmp")
        self.header = header
        self.fmt = fmt
        self.count = 0
        self._file: TextIO | None = None

    def __enter__(self) -> _RejectedFile:
        # Same encoding and delimiter as the input, so it opens in Excel like the input.
        encoding = "utf-8" if self.fmt.encoding == "latin-1" else self.fmt.encoding
        try:
            self._file = self.tmp.open("w", encoding=encoding, errors="replace", newline="")
        except OSError as exc:
            raise MailerError(msg("cannot write the rejected rows to %(path)s: %(error)s; "
                                  "choose another place with --rejected PATH",
                                  path=str(self.tmp), error=exc.strerror or str(exc))
                              ) from None
        self._writer = SafeCsvWriter(self._file, delimiter=self.fmt.delimiter)
        self._writer.writerow([*self.header, self.localise(msg("line")),
                               self.localise(msg("reason"))])
        return self

    def write(self, line: int, values: list[str], reason: str) -> None:
        width = len(self.header)
        cells = values[:width] + [""] * (width - len(values))
        self._writer.writerow([*cells, line, self.localise(reason), *values[width:]])
        self.count += 1

    def finish(self) -> Path | None:
        """Put the file in place (or remove it when nothing was rejected)."""
        assert self._file is not None
        self._file.close()
        if not self.count:
            self.tmp.unlink(missing_ok=True)
            self.path.unlink(missing_ok=True)
            return None
        os.replace(self.tmp, self.path)
        return self.path

    def __exit__(self, *exc: object) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()
        self.tmp.unlink(missing_ok=True)
