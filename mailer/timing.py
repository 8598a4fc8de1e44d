"""Where a web request's time goes, for ``MAILER_SERVER_TIMING`` (off by default).

The web's middleware (``mailer.web.timing``) starts a ``Timings`` per request; the code
that may wait notes its phases in it through a context variable (which follows the
request into the threadpool): waiting for a threadpool thread, for a database connection
and SQLite's write lock, the SQL statements, the commit. Nothing is noted while no
request is timed, and the cost of a phase is one context-variable look-up then.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass
class Timings:
    """The phases of one request, in milliseconds (a phase may occur more than once)."""

    start: float = field(default_factory=time.monotonic)
    phases: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, ms: float) -> None:
        self.phases[name] = self.phases.get(name, 0.0) + ms
        self.counts[name] = self.counts.get(name, 0) + 1


_current: ContextVar[Timings | None] = ContextVar("mailer_timings", default=None)


def current() -> Timings | None:
    return _current.get()


@contextmanager
def timed_request() -> Iterator[Timings]:
    """Time what runs inside (and in the threads it starts with the context copied)."""
    timings = Timings()
    token = _current.set(timings)
    try:
        yield timings
    finally:
        _current.reset(token)


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Note the time spent inside as ``name`` when a request is being timed."""
    timings = _current.get()
    if timings is None:
        yield
        return
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings.add(name, (time.perf_counter() - t0) * 1000)


def note(name: str, ms: float) -> None:
    """Note ``ms`` as ``name`` when a request is being timed."""
    timings = _current.get()
    if timings is not None:
        timings.add(name, ms)


def _run_delay() -> float | None:
    """This thread's time runnable but waiting for a CPU so far, in ms (Linux), or None."""
    try:
        with open("/proc/thread-self/schedstat", "rb") as fh:
            return int(fh.read().split()[1]) / 1e6
    except (OSError, IndexError, ValueError):
        return None


@contextmanager
def thread_work() -> Iterator[None]:
    """Note the work inside (run in a threadpool thread) as ``work``, with the thread's
    CPU time as ``cpu`` and its time waiting for a CPU as ``runq``."""
    timings = _current.get()
    if timings is None:
        yield
        return
    t0, cpu0, runq0 = time.perf_counter(), time.thread_time(), _run_delay()
    try:
        yield
    finally:
        timings.add("work", (time.perf_counter() - t0) * 1000)
        timings.add("cpu", (time.thread_time() - cpu0) * 1000)
        runq1 = _run_delay()
        if runq0 is not None and runq1 is not None:
            timings.add("runq", runq1 - runq0)
