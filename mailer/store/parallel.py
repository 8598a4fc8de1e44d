"""Parse and validate CSV rows in worker processes while this process writes the database.

Checking an address with email-validator costs ~25 µs, about half of a million-row
import; worker processes do that in parallel with the database writes. Batches travel
as plain tuples (pickling dataclasses costs more than the parsing saves). Results come
back in file order; at most ``workers + 1`` batches are in flight (the importer reads one
more ahead in a thread of its own), so memory stays flat.
Small files are parsed in this process: starting workers costs more than it saves.

The workers run at a lower CPU priority (``ROW_WORKER_NICE``): an import is bulk work,
and on a small server the web's requests and the worker's sending go first when the CPUs
are busy (issue 13); when they are idle the workers get them all the same. The importing
process itself keeps its priority: on SQLite it holds the write lock while it commits a
batch, and a starved lock holder would keep everyone else waiting.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from mailer.domain.addresses import email_hash
from mailer.domain.subscriber_rows import ColumnMap, Parsed, RawRow, SubscriberRow, parse_batch
from mailer.errors import MailerError
from mailer.store.collector import for_bulk_process

PARALLEL_MIN_LINES = 50_000

_columns: ColumnMap | None = None
_with_json = False


#: How much nicer than the import the row-checking worker processes are (os.nice).
ROW_WORKER_NICE = 10


def _init_worker(columns: ColumnMap, with_json: bool) -> None:
    global _columns, _with_json
    _columns, _with_json = columns, with_json
    for_bulk_process()  # it only parses: collections every 700 allocations cost
    try:
        os.nice(ROW_WORKER_NICE)
    except (AttributeError, OSError):  # not on POSIX: the usual priority
        pass


# A SubscriberRow's fields as a plain tuple (pickles cheaply), a row error, or a blank row.
RowFields = tuple[int, str, str, str | None, str | None, str | None, str | None, str | None,
                  dict[str, str], str, str | None]
WorkerRow = RowFields | str | None


def _parse_in_worker(rows: list[RawRow]) -> list[WorkerRow]:
    assert _columns is not None
    # The hash and the attributes' JSON are computed here too (SubscriberRow.key_hash,
    # .attributes_json): a few µs a row the importing process, the one that writes the
    # database, need not spend.
    return [(p.line, p.email, p.key, p.name, p.organisation, p.code, p.role, p.language,
             p.attributes, email_hash(p.key), json.dumps(p.attributes) if _with_json else None)
            if isinstance(p, SubscriberRow) else p
            for p in parse_batch(_columns, rows)]


def default_workers(lines: int) -> int:
    """How many worker processes for a file of ``lines`` lines (0: parse in this process)."""
    if lines < PARALLEL_MIN_LINES:
        return 0
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return 0 if cpus < 2 else min(cpus, 4)


class RowParser:
    """Turns batches of raw rows into (batch, parsed rows), in order, in workers or here."""

    def __init__(self, columns: ColumnMap, workers: int, *, with_json: bool = False) -> None:
        """``with_json``: the workers also give each row's attributes as JSON text
        (``SubscriberRow.attributes_json``; only SQLite's executemany uses it)."""
        self.columns = columns
        self.pool: ProcessPoolExecutor | None = None
        if workers > 0:
            method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() \
                else "spawn"
            self.pool = ProcessPoolExecutor(workers, multiprocessing.get_context(method),
                                            initializer=_init_worker,
                                            initargs=(columns, with_json))
        self.workers = workers

    def parse(self, batches: Iterable[list[RawRow]]) -> Iterator[tuple[list[RawRow],
                                                                       list[Parsed]]]:
        if self.pool is None:
            for batch in batches:
                yield batch, parse_batch(self.columns, batch)
            return
        pending: deque[tuple[list[RawRow], Future[list[WorkerRow]]]] = deque()
        it = iter(batches)
        exhausted = False
        while True:
            while not exhausted and len(pending) < self.workers + 1:
                nxt: list[RawRow] | None = next(it, None)
                if nxt is None:
                    exhausted = True
                else:
                    pending.append((nxt, self.pool.submit(_parse_in_worker, nxt)))
            if not pending:
                return
            batch, future = pending.popleft()
            try:
                parsed = future.result()
            except BrokenProcessPool:
                raise MailerError(
                    "a worker process that checks rows stopped unexpectedly (out of memory?); "
                    "try again with --workers 0") from None
            yield batch, [SubscriberRow(*p) if isinstance(p, tuple) else p for p in parsed]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> RowParser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
