"""Python's garbage collector during bulk work (an import's batches, its row workers).

Bulk work allocates and frees millions of small objects. At Python's default first
threshold a collection runs every 700 net allocations, and each walks the young
objects again: in a 200,000-row PostgreSQL import that was about 40 % of the importing
process's CPU (README, Import). The collector still runs here, less often; what it may
hold back is at most ``BULK_THRESHOLD`` young objects (a few MB).

No SQLAlchemy here: the row-checking worker processes import this at start.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: The collector's first threshold during bulk work (Python's default: 700).
BULK_THRESHOLD = 50_000
_lock = threading.Lock()
_users = 0
_saved: tuple[int, int, int] | None = None


def for_bulk_process() -> None:
    """For a process that only does bulk work (an import's row-checking worker)."""
    first, second, third = gc.get_threshold()
    if 0 < first < BULK_THRESHOLD:
        gc.set_threshold(BULK_THRESHOLD, second, third)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """The first threshold is ``BULK_THRESHOLD`` inside the block; the process's own
    thresholds come back when the last such block ends (an admin's import and an API
    import may run at once in ``mailer serve``)."""
    global _users, _saved
    with _lock:
        if _users == 0:
            _saved = gc.get_threshold()
            for_bulk_process()
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                _saved = None
