"""Load test on loopback: the public web under traffic while a mailing sends and an import runs.

    python benchmarks/load.py [--db sqlite|postgresql://postgres@127.0.0.1:5432/NEW_DB]
                              [--signups 200] [--unsubscribes 500] [--archive-views 20]
                              [--recipients 5000] [--import-rows 200000]
                              [--logs DIR] [--profile DIR] [--env MAILER_X=value ...]

Everything runs as it does for users, as separate processes with the real commands on one
workspace and one database URL: ``mailer serve`` (uvicorn), ``mailer worker`` and ``mailer
subscribers import``, sending to Postfix's smtp-sink on loopback; only the HTTP client runs
in this process (the setup before the clock starts, too: lists, the recipients, the
planned newsletter), except the one-click POSTs: a small client process of their own
sends and times them (``one_click_client``), so a busy main client does not add its own
delays to them. One run, in this order:
  1. reference: the one-click unsubscribe POST (RFC 8058) timed on the idle server;
  2. load: the same POSTs, concurrent sign-ups (form GET + POST with its CSRF token, each
     from its own client address via X-Forwarded-For, as behind the reverse proxy) and
     archive views, while ``mailer worker`` sends a newsletter to ``--recipients`` people
     and ``mailer subscribers import`` imports ``--import-rows`` rows into another list.
Prints the status codes, p50/p99 of the one-click POST under load, its ratio to the idle
reference, the load average at the start and the end, and checks that nothing was lost:
every sign-up recorded with its mail sent, every unsubscribe recorded, every newsletter
copy sent, every import row imported. Exits non-zero on a 5xx, a loss, or a p99 over the
target (500 ms on SQLite, 200 ms on PostgreSQL). ``run()`` is what tests/web/test_load.py
calls with small numbers. ``--profile DIR`` runs the three processes under py-spy (pip
install py-spy) and writes their raw stacks. ``--env MAILER_X=value`` (repeatable) sets a
setting for the three commands (the harness passes no other MAILER_ variable through), to
compare settings in the same conditions, e.g. ``--env MAILER_SIGNUP_CONCURRENCY=1000``.

To tell where the time went, in the same run: ``mailer serve`` runs with
MAILER_SERVER_TIMING=1, and the summary gives p50/p99 of each phase of its Server-Timing
header per kind of request (before the app saw it, threadpool, SQLite's write lock, the
statements, CPU, time runnable without a CPU, after the answer started); and the CPU time
of every process on the machine during the requests (/proc), the benchmark's own by role
and the busiest others (a shared machine's other work is in the figures).

A PostgreSQL database that does not exist is created for the run and dropped after it; an
existing one must be empty.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SECRET = "load-test-secret-key-0123456789abcdef"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
LONG_WRITE_RE = re.compile(r"write transaction held (\d+) ms")
TARGET_MS = {"sqlite": 500.0, "postgresql": 200.0}
#: The Server-Timing phases of mailer serve (mailer/web/timing.py) in the order printed.
PHASE_ORDER = ["pool", "work", "connect", "lock", "gate", "held", "sql", "commit", "cpu", "runq"]


def server_timing(header: str) -> dict[str, float]:
    """``app;dur=1.2, sql;dur=0.4;desc="3", t0;desc="123.4"`` -> {"app": 1.2, "sql": 0.4,
    "t0": 123.4} (t0 in seconds, the rest in ms)."""
    found: dict[str, float] = {}
    for metric in filter(None, (m.strip() for m in header.split(","))):
        name, *params = (x.strip() for x in metric.split(";"))
        values = dict(p.split("=", 1) for p in params if "=" in p)
        raw = values.get("dur") or values.get("desc", "").strip('"')
        with contextlib.suppress(ValueError):
            found[name] = float(raw)
    return found


@dataclass
class LoadResult:
    dialect: str
    statuses: dict[str, list[int]] = field(default_factory=dict)
    idle_ms: list[float] = field(default_factory=list)
    loaded_ms: list[float] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    seconds: float = 0.0
    http_seconds: float = 0.0
    load_start: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_end: tuple[float, float, float] = (0.0, 0.0, 0.0)
    #: Per kind of request under load, the Server-Timing phases of each answer (ms), with
    #: "before app" (the client sent it -> the app got it) and "after app" (the answer
    #: started -> the client had it all).
    phases: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    signup_ms: list[float] = field(default_factory=list)
    client_lag_ms: list[float] = field(default_factory=list)
    #: Every timed request: its kind, when it was sent (seconds after the worker and the
    #: import started), the client's time and the phases (written to requests.json).
    requests: list[dict[str, Any]] = field(default_factory=list)
    #: Per process: its write transactions of 100 ms or more (how many, the longest ms).
    long_writes: dict[str, tuple[int, float]] = field(default_factory=dict)
    #: CPU seconds (and seconds runnable but waiting for a CPU) per process group during
    #: the HTTP part of the load, and the busiest other processes on the machine.
    cpu: dict[str, tuple[float, float]] = field(default_factory=dict)
    others: list[tuple[float, str]] = field(default_factory=list)

    @property
    def server_errors(self) -> dict[str, int]:
        return {k: sum(1 for s in v if s >= 500) for k, v in self.statuses.items()
                if any(s >= 500 for s in v)}

    @staticmethod
    def p(values: list[float], q: float) -> float:
        if not values:
            return 0.0
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]

    def summary(self) -> str:
        p99, idle99 = self.p(self.loaded_ms, 0.99), self.p(self.idle_ms, 0.99)
        ratio = p99 / idle99 if idle99 else float("nan")
        codes = {k: dict(sorted({c: v.count(c) for c in set(v)}.items()))
                 for k, v in self.statuses.items()}
        return "\n".join([
            f"database: {self.dialect}; {self.seconds:.1f} s under load (mailer serve, "
            "mailer worker and mailer subscribers import as separate processes)",
            "load average (1, 5, 15 min) at the start: "
            + ", ".join(f"{x:.2f}" for x in self.load_start)
            + "; at the end: " + ", ".join(f"{x:.2f}" for x in self.load_end),
            f"status codes: {codes}",
            f"one-click POST idle (reference): p50 {self.p(self.idle_ms, .5):.1f} ms, "
            f"p99 {idle99:.1f} ms",
            f"one-click POST under load:       p50 {self.p(self.loaded_ms, .5):.1f} ms, "
            f"p99 {p99:.1f} ms  ({ratio:.1f}x the idle p99; target < "
            f"{TARGET_MS[self.dialect]:.0f} ms; {len(self.loaded_ms)} POSTs, the slowest "
            f"{max(self.loaded_ms, default=0.0):.1f} ms)",
            f"sign-up POST under load:         p50 {self.p(self.signup_ms, .5):.1f} ms, "
            f"p99 {self.p(self.signup_ms, .99):.1f} ms",
            *self.phase_lines(),
            *self.cpu_lines(),
            f"lost: {self.lost or 'nothing'}",
        ])

    def phase_lines(self) -> list[str]:
        """Where the time of each kind of request went, p50 / p99 per phase (ms)."""
        lines = []
        for kind, rows in self.phases.items():
            if not rows:
                continue
            names = ["before app", "app", *sorted({n for r in rows for n in r}
                                                   - {"before app", "app", "after app"},
                                                   key=PHASE_ORDER.index), "after app"]
            parts = [f"{n} {self.p([r.get(n, 0.0) for r in rows], .5):.0f}/"
                     f"{self.p([r.get(n, 0.0) for r in rows], .99):.0f}" for n in names]
            lines.append(f"  {kind} ({len(rows)}), p50/p99 ms: " + ", ".join(parts))
        slow = sorted((r for r in self.requests if r["kind"] == "one-click"),
                      key=lambda r: -r["client_ms"])[:3]
        if slow:
            lines.append("  the slowest one-clicks: " + "; ".join(
                f"{r['client_ms']:.0f} ms sent {r['sent_s']:.1f} s into the load (before app "
                f"{r.get('before app', 0):.0f}, of which the client sending "
                f"{r.get('client_send_ms') or 0:.0f}"
                f"{' on a new connection' if r.get('new_connection') else ''}; app "
                f"{r.get('app', 0):.0f})" for r in slow))
        if self.client_lag_ms:
            lines.append(f"  this client's own event loop woke late by p50 "
                         f"{self.p(self.client_lag_ms, .5):.0f} / p99 "
                         f"{self.p(self.client_lag_ms, .99):.0f} ms (part of before/after app)")
        return (["where the time went under load (Server-Timing of mailer serve; app = "
                 "pool + work, work = connect + statements + Python; runq = runnable, "
                 "waiting for a CPU):"] + lines) if lines else []

    def cpu_lines(self) -> list[str]:
        if not self.cpu:
            return []
        groups = ", ".join(f"{name} {cpu:.1f} s (runq {runq:.1f} s)"
                           for name, (cpu, runq) in self.cpu.items())
        top = "; ".join(f"{sec:.1f} s {cmd}" for sec, cmd in self.others[:5])
        held = ", ".join(f"{name} {n} (longest {ms:.0f} ms)"
                         for name, (n, ms) in self.long_writes.items())
        return [f"write transactions of 100 ms or more, whole run: {held or 'none'}",
                f"CPU during the {self.http_seconds:.1f} s of requests "
                f"({os.cpu_count()} CPUs = {self.http_seconds * (os.cpu_count() or 1):.0f} "
                f"CPU-seconds): {groups}",
                f"  busiest other processes: {top or 'none'}"]


class _Process:
    """One real ``mailer`` command in its own process, its output in ``log``; stopped for
    sure (SIGTERM, then SIGKILL) by ``stop``."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path,
                 profile: Path | None) -> None:
        self.name = name
        self.log = logs / f"{name}.log"
        cmd = [sys.executable, "-m", "mailer", *args]
        if profile is not None:
            # Raw collapsed stacks (one line per stack and its count) are easy to grep;
            # --idle keeps the time spent waiting (for a lock, the threadpool, a socket).
            cmd = [_py_spy(), "record", "--idle", "--subprocesses", "-r", "100", "-f", "raw",
                   "-o", str(profile / f"{name}.txt"), "--", *cmd]
        self.profiled = profile is not None
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=env["MAILER_WORKSPACE"])

    @property
    def python_pid(self) -> int:
        """The mailer process itself (under py-spy: py-spy's child)."""
        if not self.profiled:
            return self.proc.pid
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            pids = children.read_text().split()
        except OSError:
            pids = []
        return int(pids[0]) if pids else self.proc.pid

    def wait(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace: float = 30.0) -> int:
        if self.proc.poll() is None:
            try:
                os.kill(self.python_pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            if self.wait(grace) is None:
                self.proc.kill()
                if self.python_pid != self.proc.pid:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(self.python_pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode


def _py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise SystemExit("--profile needs py-spy: pip install py-spy")
    return found


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_csv(path: Path, rows: int, domain: str) -> None:
    with path.open("w", encoding="utf-8") as fh:
        fh.write("email;name;organisation\n")
        for i in range(rows):
            fh.write(f"person{i}@{domain};Person {i};Hylte kommun\n")


def _environment(workspace: Path, db_url: str, smtp_url: str, base: str,
                 extra: dict[str, str] | None = None) -> dict[str, str]:
    """What the three commands see: this workspace, ``extra`` and nothing from outside."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env.update(extra or {})
    env.update(MAILER_WORKSPACE=str(workspace), MAILER_DATABASE_URL=db_url,
               MAILER_SMTP_URL=smtp_url, MAILER_SECRET_KEY=SECRET, MAILER_BASE_URL=base,
               MAILER_SERVER_TIMING="1",  # where each request's time went (Server-Timing)
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT),
                                                        os.environ.get("PYTHONPATH")])))
    return env


class CpuWatch:
    """CPU time per process on the machine over a window, read from /proc at its start and
    its end (reading every process's threads takes this process's CPU and GIL: done while
    requests are timed it delayed them by up to 100 ms; processes that end within the
    window are missed).

    Each process's CPU (user + system, every thread) and the time its threads were
    runnable but waiting for a CPU (schedstat's run delay). ``groups`` names which processes
    are the benchmark's (``mailer serve``, ``mailer worker``, ``mailer subscribers
    import`` and the processes it starts, PostgreSQL's backends for this database, this
    client, smtp-sink); everything else is "other processes": what else ran meanwhile.
    """

    def __init__(self, groups: dict[str, int], database: str | None) -> None:
        self.groups = groups
        self.database = database
        self.tick = os.sysconf("SC_CLK_TCK")
        self.first: dict[int, tuple[float, float]] = {}
        self.last: dict[int, tuple[float, float]] = {}
        self.names: dict[int, str] = {}
        self.parents: dict[int, int] = {}
        self._read(self.first)

    def _read(self, into: dict[int, tuple[float, float]]) -> None:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                runq = sum(int((t / "schedstat").read_text().split()[1])
                           for t in (entry / "task").iterdir()) / 1e9
                if pid not in self.names:
                    cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").strip()
                    self.names[pid] = cmd.decode(errors="replace")[:90]
            except (OSError, IndexError, ValueError):
                continue
            self.parents[pid] = int(stat[1])
            into[pid] = ((int(stat[11]) + int(stat[12])) / self.tick, runq)

    def stop(self) -> tuple[dict[str, tuple[float, float]], list[tuple[float, str]]]:
        """CPU and run-queue seconds per group, and the busiest other processes."""
        self._read(self.last)
        totals: dict[str, list[float]] = {name: [0.0, 0.0] for name in self.groups}
        totals["smtp-sink"] = [0.0, 0.0]
        totals["postgres (this database)"] = [0.0, 0.0]
        totals["other processes"] = [0.0, 0.0]
        others: list[tuple[float, str]] = []
        for pid, (cpu, runq) in self.last.items():
            cpu0, runq0 = self.first.get(pid, (0.0, 0.0))
            used, waited = cpu - cpu0, runq - runq0
            group = self._group(pid)
            totals[group][0] += used
            totals[group][1] += waited
            if group == "other processes" and used >= 0.05:
                others.append((used, self.names.get(pid, str(pid))))
        return ({k: (v[0], v[1]) for k, v in totals.items()},
                sorted(others, reverse=True))

    def _group(self, pid: int) -> str:
        name = self.names.get(pid, "")
        if self.database and name.startswith("postgres:") and f" {self.database} " in name:
            return "postgres (this database)"
        seen = pid
        for _ in range(64):  # up the tree to one of ours
            for group, root in self.groups.items():
                if seen == root:
                    return "smtp-sink" if "smtp-sink" in name else group
            seen = self.parents.get(seen, 0)
            if seen <= 1:
                break
        return "other processes"


ONE_CLICK_BODY = b"List-Unsubscribe=One-Click"


def one_click_client(port: int) -> None:
    """The one-click POSTs' own client process (``load.py --one-click-client PORT``): reads
    ``<id> <path>`` lines on stdin, sends each at once as a pre-built HTTP/1.1 request over
    asyncio streams (keep-alive connections, a new one when none is idle), and writes one
    JSON line per answer: when it was sent and done (``time.monotonic()``, the machine's
    clock, as the server's ``t0``), how long writing it took, the status and the
    Server-Timing header. It does nothing else, so its times are the server's and the
    loopback's, not a busy client's: in the main client, the one-clicks waited behind
    the sign-ups' work in the same event loop (p99 "client sending" up to 1 s)."""
    asyncio.run(_one_click_client(port))


async def _one_click_client(port: int) -> None:
    loop = asyncio.get_running_loop()
    lines = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(lines), sys.stdin)
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    tasks: set[asyncio.Task[None]] = set()

    async def one(ident: str, path: str) -> None:
        answer: dict[str, Any] = {"id": ident}
        try:
            request = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                       "Content-Type: application/x-www-form-urlencoded\r\n"
                       f"Content-Length: {len(ONE_CLICK_BODY)}\r\n\r\n"
                       ).encode("ascii") + ONE_CLICK_BODY
            sent = time.monotonic()
            answer["new_connection"] = not idle
            if idle:
                r, w = idle.pop()
            else:
                r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(request)
            await w.drain()
            wrote = time.monotonic()
            head = (await r.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip()
                       for k, v in (h.split(":", 1) for h in head[1:] if ":" in h)}
            await r.readexactly(int(headers.get("content-length", "0")))
            done = time.monotonic()
            if headers.get("connection", "").lower() == "close":
                w.close()
            else:
                idle.append((r, w))
            answer.update(sent=sent, done=done, status=int(head[0].split()[1]),
                          client_send_ms=(wrote - sent) * 1000,
                          server_timing=headers.get("server-timing", ""))
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError) as exc:
            answer["error"] = repr(exc)
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()

    while line := await lines.readline():
        ident, path = line.decode().split()
        task = asyncio.create_task(one(ident, path))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)


class OneClicks:
    """The main process's handle on the one-click client process: ``post(path)`` in any
    event loop of this process returns the answer (a dict, see ``one_click_client``)."""

    def __init__(self, port: int, logs: Path) -> None:
        import threading

        self._err = (logs / "one-click-client.log").open("wb")
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()),
                                      "--one-click-client", str(port)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._err)
        self._waiting: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]] = {}
        self._lock = threading.Lock()
        self._n = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            answer = json.loads(line)
            with self._lock:
                loop, fut = self._waiting.pop(answer["id"])
            loop.call_soon_threadsafe(fut.set_result, answer)
        with self._lock:  # the process ended: nobody waits for ever
            for loop, fut in self._waiting.values():
                loop.call_soon_threadsafe(fut.set_result, {"error": "the client exited"})
            self._waiting.clear()

    async def post(self, path: str) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        with self._lock:
            self._n += 1
            ident = str(self._n)
            self._waiting[ident] = (loop, fut)
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{ident} {path}\n".encode())
        self.proc.stdin.flush()
        answer: dict[str, Any] = await fut
        if "error" in answer:
            raise RuntimeError(f"one-click client: {answer['error']}")
        return answer

    def stop(self) -> None:
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(5)
        self._err.close()


def _client_ip(n: int) -> str:
    """A client address of its own for sign-up ``n`` (as the reverse proxy passes it on)."""
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255 or 1}"


def run(db_url: str, workspace: Path, smtp_url: str, *, signups: int, unsubscribes: int,
        archive_views: int, recipients: int, import_rows: int,
        concurrency: int = 20, time_limit: float = 900.0, logs: Path | None = None,
        profile: Path | None = None, extra_env: dict[str, str] | None = None) -> LoadResult:
    """One load run (see the module docstring); the database must be empty. Nothing runs
    longer than ``time_limit`` seconds after the load starts: what is not done then is
    reported as lost."""
    import httpx
    from sqlalchemy import func, select

    from mailer.config import load_settings
    from mailer.links import Links
    from mailer.render.types import RenderedMailing
    from mailer.services.imports import import_subscribers
    from mailer.services.lists import create_list
    from mailer.services.mailings import plan_mailing
    from mailer.store.db import make_engine, reading, transaction, upgrade
    from mailer.store.models import (
        Mailing,
        MailingList,
        OutboxRow,
        OutboxStatus,
        Subscriber,
        Subscription,
        SubscriptionStatus,
    )
    from mailer.tokens import Tokens

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    load_t0 = time.monotonic()  # reset when the load starts
    logs = logs or workspace
    logs.mkdir(parents=True, exist_ok=True)
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
    settings = load_settings(workspace, database_url=db_url, smtp_url=smtp_url,
                             secret_key=SECRET, base_url=base)
    engine = make_engine(settings.db_url)
    upgrade(engine)
    result = LoadResult(dialect=engine.dialect.name)
    idle_n = min(unsubscribes, 20)
    # The setup, before the clock starts, in this process: lists, the recipients and the
    # people who will unsubscribe.
    with transaction(engine) as s:
        create_list(s, "nyhetsbrev", "Nyhetsbrev om medborgardialog")
        create_list(s, "seminarier", "Seminarier och utbildningar")
        create_list(s, "importerad", "Importerad lista", public=False)
    people = workspace / "people.csv"
    _write_csv(people, recipients, "nyhetsbrev.example.org")
    import_subscribers(engine, people, "nyhetsbrev")
    # Those who unsubscribe in one click are on another list: the newsletter's count stays
    # exact (a copy for someone who left meanwhile would be skipped, not sent).
    others = workspace / "others.csv"
    _write_csv(others, unsubscribes + idle_n, "seminarier.example.org")
    import_subscribers(engine, others, "seminarier")
    big = workspace / "import.csv"
    _write_csv(big, import_rows, "import.example.org")
    with transaction(engine) as s:
        list_id = s.scalar(select(MailingList.id).where(MailingList.slug == "seminarier"))
        import_list = s.scalar(select(MailingList.id).where(MailingList.slug == "importerad"))
        ids = list(s.scalars(select(Subscriber.id).where(
            Subscriber.email_key.like("%@seminarier.example.org")).order_by(Subscriber.id)))
    leaving, idle_ones = ids[:unsubscribes], ids[unsubscribes:]
    links = Links(base, Tokens(settings.signing_keys()))

    def traced() -> tuple[dict[str, float], dict[str, Any]]:
        """httpx's trace of one request: when it got a connection (a new one: its TCP
        connect) and when it had sent the request, in seconds of time.monotonic()."""
        seen: dict[str, float] = {}

        async def trace(event: str, _info: dict[str, Any]) -> None:
            seen.setdefault(event, time.monotonic())

        return seen, {"trace": trace}

    def timed(kind: str | None, sent: float, r: httpx.Response,
              seen: dict[str, float] | None = None) -> float:
        """The request's time as the client saw it (ms); its phases noted under ``kind``."""
        seen = seen or {}
        wrote = seen.get("http11.send_request_body.complete")
        return noted(kind, sent, time.monotonic(), r.headers.get("server-timing"),
                     new_connection="connection.connect_tcp.started" in seen,
                     client_send_ms=(wrote - sent) * 1000 if wrote else None,
                     trace_ms={k: round((v - sent) * 1000, 1) for k, v in seen.items()})

    def noted(kind: str | None, sent: float, done: float, timing_header: str | None, *,
              new_connection: bool, client_send_ms: float | None,
              trace_ms: dict[str, float] | None = None) -> float:
        if kind is not None and timing_header:
            phases = server_timing(timing_header)
            if "t0" in phases and "app" in phases:
                got = phases.pop("t0")
                phases["before app"] = (got - sent) * 1000
                phases["after app"] = (done - got) * 1000 - phases["app"]
            result.phases.setdefault(kind, []).append(phases)
            result.requests.append({
                "kind": kind, "sent_s": round(sent - load_t0, 3),
                "client_ms": round((done - sent) * 1000, 1),
                "new_connection": new_connection,
                "client_send_ms": (round(client_send_ms, 1) if client_send_ms is not None
                                   else None),
                **({"trace_ms": trace_ms} if trace_ms is not None else {}),
                **{k: round(v, 1) for k, v in phases.items()}})
        return (done - sent) * 1000

    async def one_click(sid: int, into: list[float], statuses: list[int],
                        kind: str | None = None) -> None:
        """One RFC 8058 POST, sent and timed by the one-click client process."""
        url = links.unsubscribe(sid, list_id).removeprefix(base)
        a = await clicks.post(url)
        into.append(noted(kind, a["sent"], a["done"], a["server_timing"],
                          new_connection=a["new_connection"],
                          client_send_ms=a["client_send_ms"]))
        statuses.append(a["status"])

    async def sign_up(client: httpx.AsyncClient, n: int, statuses: list[int]) -> None:
        # Each sign-up from its own address, as the proxy in front of 'mailer serve'
        # passes it on: the per-address limit (20 in 10 minutes) is not what is measured.
        via = {"X-Forwarded-For": _client_ip(n + 1)}
        page = await client.get("/subscribe/nyhetsbrev", headers=via)
        statuses.append(page.status_code)
        m = CSRF_RE.search(page.text)
        if m is None:
            return
        seen, ext = traced()
        sent = time.monotonic()
        r = await client.post("/subscribe/nyhetsbrev", headers=via, data={
            "email": f"ny{n}@signup.example.org", "name": f"Ny Person {n}",
            "csrf_token": m.group(1)}, extensions=ext)
        result.signup_ms.append(timed("sign-up POST", sent, r, seen))
        statuses.append(r.status_code)

    async def archive(client: httpx.AsyncClient, mailing_id: int, statuses: list[int]) -> None:
        statuses.extend([(await client.get(path)).status_code
                         for path in ("/archive/nyhetsbrev", f"/archive/view/{mailing_id}")])

    async def loop_lag(into: list[float]) -> None:
        """How late this client's own event loop wakes up (every 20 ms): the part of
        "before app" and "after app" that is the client's, not the server's."""
        while True:
            asked = time.monotonic()
            await asyncio.sleep(0.02)
            into.append((time.monotonic() - asked - 0.02) * 1000)

    async def bounded(jobs: list[Any]) -> None:
        gate = asyncio.Semaphore(concurrency)

        async def one(job: Any) -> None:
            async with gate:
                await job

        await asyncio.gather(*(one(j) for j in jobs))

    env = _environment(workspace, db_url, smtp_url, base, extra_env)
    running: list[_Process] = []

    def start(name: str, *args: str) -> _Process:
        proc = _Process(name, list(args), env, logs, profile)
        running.append(proc)
        return proc

    def unsent() -> int:
        with reading(engine) as s:
            return int(s.scalar(select(func.count()).select_from(OutboxRow).where(
                OutboxRow.status != OutboxStatus.sent)) or 0)

    clicks = OneClicks(port, logs)
    try:
        server = start("serve", "serve", "--host", "127.0.0.1", "--port", str(port))

        async def idle() -> None:
            async with httpx.AsyncClient(base_url=base, timeout=120) as c:
                deadline = time.monotonic() + 60
                while True:  # the server is up when it answers
                    if server.proc.poll() is not None:
                        raise RuntimeError(f"mailer serve exited:\n{server.tail()}")
                    try:
                        if (await c.get("/")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"mailer serve did not answer:\n{server.tail()}")
                    await asyncio.sleep(0.1)
                codes: list[int] = []
                # Warm up (templates compiled, connections pooled) without unsubscribing.
                warm = links.unsubscribe(idle_ones[0], list_id).removeprefix(base)
                for _ in range(3):
                    (await c.get(warm)).raise_for_status()
                for sid in idle_ones:
                    await one_click(sid, result.idle_ms, codes, "one-click (idle)")
                result.statuses["one-click (idle)"] = codes

        asyncio.run(idle())
        with transaction(engine) as s:
            mailing, planned = plan_mailing(
                s, RenderedMailing(subject="Nyhetsbrev nr 7", language="sv",
                                   html="<p>Hej %%name%%</p>", text="Hej %%name%%"),
                kind="newsletter", now=datetime.now(UTC), list_slugs=["nyhetsbrev"])
            mailing_id = mailing.id

        result.load_start = os.getloadavg()
        started = time.perf_counter()
        load_t0 = time.monotonic()
        deadline = time.monotonic() + time_limit
        worker = start("worker", "worker")
        importer = start("import", "subscribers", "import", str(big), "--list", "importerad")
        watch = CpuWatch({"mailer serve": server.proc.pid, "mailer worker": worker.proc.pid,
                          "mailer subscribers import": importer.proc.pid,
                          "client (this process)": os.getpid(),
                          "one-click client": clicks.proc.pid},
                         engine.url.database if result.dialect == "postgresql" else None)

        async def load() -> None:
            limits = httpx.Limits(max_connections=concurrency)
            async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as c:
                # One browser: its CSRF cookie is set once, before the concurrent forms.
                (await c.get("/subscribe/nyhetsbrev")).raise_for_status()
                clicks: list[int] = []
                signs: list[int] = []
                views: list[int] = []
                jobs: list[Any] = [one_click(sid, result.loaded_ms, clicks, "one-click")
                                   for sid in leaving]
                jobs += [sign_up(c, n, signs) for n in range(signups)]
                jobs += [archive(c, mailing_id, views) for _ in range(archive_views)]
                # Spread each kind over the run so they overlap in time, in the same order
                # every run (sorting by the coroutines' hashes, as before, bunched a kind
                # at the start or the end of the run, differently from run to run).
                random.Random(13).shuffle(jobs)
                ticker = asyncio.create_task(loop_lag(result.client_lag_ms))
                try:
                    await asyncio.wait_for(bounded(jobs),
                                           max(1.0, deadline - time.monotonic()))
                finally:
                    ticker.cancel()
                result.statuses.update({"one-click": clicks, "sign-up": signs,
                                        "archive": views})

        asyncio.run(load())
        result.http_seconds = time.perf_counter() - started
        result.cpu, result.others = watch.stop()
        import_status = importer.wait(max(1.0, deadline - time.monotonic()))
        if import_status is None:
            result.lost.append(f"the import did not finish within {time_limit:.0f} s")
        elif import_status != 0:
            result.lost.append(f"the import exited with {import_status}:\n{importer.tail()}")
        # The worker sends the newsletter and the sign-ups' confirmations; done when the
        # outbox holds nothing unsent (or the time is up, and the check below says so).
        while unsent() and time.monotonic() < deadline:
            if worker.proc.poll() is not None:
                result.lost.append(f"the worker exited with {worker.proc.returncode}:\n"
                                   f"{worker.tail()}")
                break
            time.sleep(0.2)
        result.seconds = time.perf_counter() - started
        result.load_end = os.getloadavg()
    finally:
        clicks.stop()
        for proc in reversed(running):
            proc.stop()
    if server.proc.returncode not in (0, -signal.SIGTERM):
        result.lost.append(f"mailer serve exited with {server.proc.returncode}:\n"
                           f"{server.tail()}")
    for proc in running:  # who held the database 100 ms or more (store.db.log_long_writes)
        held = [float(m.group(1)) for m in LONG_WRITE_RE.finditer(
            proc.log.read_text(encoding="utf-8", errors="replace"))]
        result.long_writes[proc.name] = (len(held), max(held, default=0.0))

    with reading(engine) as s:
        unsubscribed = s.scalar(select(func.count()).select_from(Subscription).where(
            Subscription.subscriber_id.in_(leaving + idle_ones),
            Subscription.status == SubscriptionStatus.unsubscribed))
        signed = s.scalar(select(func.count()).select_from(Subscriber).where(
            Subscriber.email_key.like("ny%@signup.example.org")))
        left_unsent = s.scalar(select(func.count()).select_from(OutboxRow).where(
            OutboxRow.status != OutboxStatus.sent))
        sent_issue = s.scalar(select(func.count()).select_from(OutboxRow).where(
            OutboxRow.mailing_id == mailing_id, OutboxRow.status == OutboxStatus.sent))
        confirmations = s.scalar(select(func.count()).select_from(OutboxRow).join(
            Mailing, Mailing.id == OutboxRow.mailing_id).where(Mailing.id != mailing_id))
        imported = s.scalar(select(func.count()).select_from(Subscription).where(
            Subscription.list_id == import_list,
            Subscription.status == SubscriptionStatus.active))
    if unsubscribed != len(leaving) + len(idle_ones):
        result.lost.append(f"unsubscribes: {unsubscribed} of {len(leaving) + len(idle_ones)}")
    if signed != signups:
        result.lost.append(f"sign-ups: {signed} of {signups}")
    if confirmations != signups:
        result.lost.append(f"confirmation mails planned: {confirmations} of {signups}")
    if left_unsent:
        result.lost.append(f"outbox rows not sent: {left_unsent}")
    if sent_issue != planned:
        result.lost.append(f"newsletter copies sent: {sent_issue} of {planned}")
    if imported != import_rows:
        result.lost.append(f"import rows: {imported} of {import_rows}")
    engine.dispose()
    (logs / "requests.json").write_text(json.dumps(result.requests, indent=0))
    return result

@contextlib.contextmanager
def postgres_database(url: str) -> Iterator[str]:
    """The PostgreSQL database ``url`` names, empty: created here (and dropped after the
    run) when it does not exist; an existing one must have no tables."""
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    name = parsed.database or ""
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                              (name,)).fetchone() is not None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    if exists:
        with psycopg.connect(parsed.set(drivername="postgresql").render_as_string(
                hide_password=False)) as conn:
            tables = conn.execute("SELECT count(*) FROM information_schema.tables "
                                  "WHERE table_schema = 'public'").fetchone()
        if tables and tables[0]:
            raise SystemExit(f"the database {name!r} is not empty: drop it (or name one that "
                             "does not exist: it is created and dropped after the run)")
    try:
        yield url
    finally:
        if not exists:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", default="sqlite",
                    help="sqlite (a file in a temporary folder) or a PostgreSQL URL of an "
                         "empty database")
    ap.add_argument("--signups", type=int, default=200)
    ap.add_argument("--unsubscribes", type=int, default=500,
                    help="one-click POSTs under load (500: their p99 is the 6th slowest; "
                         "of 50 it would be the slowest)")
    ap.add_argument("--archive-views", type=int, default=20)
    ap.add_argument("--recipients", type=int, default=5000)
    ap.add_argument("--import-rows", type=int, default=200_000)
    ap.add_argument("--logs", type=Path, default=None,
                    help="keep the output of mailer serve, worker and import here")
    ap.add_argument("--profile", type=Path, default=None,
                    help="run the three processes under py-spy; raw stacks go here")
    ap.add_argument("--env", action="append", default=[], metavar="MAILER_X=value",
                    help="a setting for mailer serve, worker and import (repeatable)")
    ap.add_argument("--one-click-client", type=int, default=None, metavar="PORT",
                    help=argparse.SUPPRESS)  # the one-click client process (see above)
    args = ap.parse_args()
    if args.one_click_client is not None:
        one_click_client(args.one_click_client)
        return
    extra_env = dict(item.split("=", 1) for item in args.env)
    if any(not k.startswith("MAILER_") for k in extra_env):
        ap.error("--env takes MAILER_ settings only")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from send import Sink, ensure_postfix_tools  # the same sink as the send benchmark

    ensure_postfix_tools()
    sink = Sink(None)
    port = sink.port
    try:
        with contextlib.ExitStack() as stack:
            workspace = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            db = (f"sqlite:///{workspace / 'load.db'}" if args.db == "sqlite"
                  else stack.enter_context(postgres_database(args.db)))
            result = run(db, workspace, f"smtp://127.0.0.1:{port}", signups=args.signups,
                         unsubscribes=args.unsubscribes, archive_views=args.archive_views,
                         recipients=args.recipients, import_rows=args.import_rows,
                         logs=args.logs, profile=args.profile, extra_env=extra_env)
    finally:
        sink.stop()
    if extra_env:
        print("settings:", " ".join(f"{k}={v}" for k, v in extra_env.items()))
    print(result.summary())
    p99 = result.p(result.loaded_ms, 0.99)
    if result.server_errors or result.lost or p99 >= TARGET_MS[result.dialect]:
        sys.exit(1)


if __name__ == "__main__":
    main()
