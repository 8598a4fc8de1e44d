"""Benchmark: one mailing to N recipients (default 1,000,000): planning, the worker's memory
while it sends to Postfix's smtp-sink, progress read while it runs, and the throughput
against Postfix's smtp-source on the same sink and message size.

    python benchmarks/big_mailing.py                      # 1,000,000: plan and send
    python benchmarks/big_mailing.py -n 20000             # quicker
    python benchmarks/big_mailing.py --plan-only          # planning only
    python benchmarks/big_mailing.py --database-url postgresql+psycopg://…/bench

Steps, each printed with its reference measured in the same run (the machine is shared;
absolute timings vary with the load, which is printed too):
  1. N active subscribers are written straight with SQL (set-based; not measured);
  2. ``mailer send ISSUE --list L`` plans the mailing in a child process: wall time and
     peak RSS, against a bare ``INSERT … SELECT`` of the same rows into a scratch table
     (the database's own floor for writing N rows);
  3. ``mailer worker --drain`` sends them to smtp-sink; its RSS is sampled every 0.5 s and
     the mailing's progress is read through the service every second meanwhile; then
     smtp-source sends N messages of the same size to the same sink: the ratio is the
     pipeline's share of the C client's rate. Printed too: the rate and the worker's
     CPU per copy over the first, middle and last 10 % of the copies (flat when a
     batch's cost does not grow with the queue), the RSS range, and the progress reads'
     median, 95th percentile and slowest latency.
Targets (issue 14): planning < 15 s and < 200 MB for 1 M; worker RSS flat and < 250 MB;
throughput >= 50 % of smtp-source.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.import_csv import (  # noqa: E402
    _cpu_seconds,
    _tree_pids,
    _tree_rss_mb,
    run_measured,
)
from benchmarks.send import SECRET, Sink, ensure_postfix_tools, run_smtp_source  # noqa: E402

FLAGSHIP = ROOT / "issues" / "2023-06-nyhetsbrev-6"
SLUG = "storlista"
# The same command to a list of one (start-up and rendering, one row); a send to an empty
# list is refused (services.mailings.NobodyToSend).
ONE = "enperson"
OPEN = ("queued", "retry", "sending")  # a copy not settled yet


def seed(url: str, n: int) -> None:
    """A fresh database with one list of ``n`` active subscribers, written with SQL."""
    from sqlalchemy import text

    from mailer.services.lists import create_list
    from mailer.store.db import make_engine, transaction, upgrade
    from mailer.store.models import Base

    engine = make_engine(url)
    upgrade(engine)
    pg = engine.dialect.name == "postgresql"
    if pg:
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    with transaction(engine) as s:
        list_id = create_list(s, SLUG, "Stor lista").id
        one_id = create_list(s, ONE, "En person").id
    numbers = ("SELECT generate_series(1, :n) AS i" if pg else
               "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq "
               "WHERE i < :n) SELECT i FROM seq")
    now = "now()" if pg else "strftime('%Y-%m-%d %H:%M:%f', 'now')"
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO subscribers (email, email_key, name, role, language, attributes, "
            f"created_at, updated_at) SELECT 'person' || i || '@example.test', "
            f"'person' || i || '@example.test', 'Åsa Öberg ' || i, '', 'sv', '{{}}', "
            f"{now}, {now} FROM ({numbers}) AS numbers"), {"n": n})
        conn.execute(text(
            "INSERT INTO subscriptions (subscriber_id, list_id, status, source, created_at, "
            f"updated_at) SELECT id, :list_id, 'active', 'benchmark', {now}, {now} "
            "FROM subscribers"), {"list_id": list_id})
        # one more person, on the list of one only (someone on both would get the issue
        # once, and the measured mailing would be one copy short of n)
        conn.execute(text(
            "INSERT INTO subscribers (email, email_key, name, role, language, attributes, "
            "created_at, updated_at) VALUES ('en@example.test', 'en@example.test', "
            f"'En Person', '', 'sv', '{{}}', {now}, {now})"))
        conn.execute(text(
            "INSERT INTO subscriptions (subscriber_id, list_id, status, source, created_at, "
            f"updated_at) SELECT id, :list_id, 'active', 'benchmark', {now}, {now} "
            "FROM subscribers WHERE email_key = 'en@example.test'"), {"list_id": one_id})
    engine.dispose()


def bare_insert_select(url: str) -> float:
    """The floor: copy the same rows into a scratch table with one INSERT … SELECT."""
    from sqlalchemy import text

    from mailer.store.db import make_engine

    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_scratch"))
        conn.execute(text("CREATE TABLE bench_scratch (subscriber_id integer, email "
                          "varchar(320), email_key varchar(320) UNIQUE, name varchar(200))"))
    t = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO bench_scratch SELECT s.id, s.email, s.email_key, s.name FROM "
            "subscribers s JOIN subscriptions b ON b.subscriber_id = s.id "
            "JOIN lists l ON l.id = b.list_id WHERE b.status = 'active' AND l.slug = :slug"),
            {"slug": SLUG})
    elapsed = time.perf_counter() - t
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE bench_scratch"))
    engine.dispose()
    return elapsed


CATEGORIES = [  # (what, a substring of the frame's file), matched from the leaf upwards
    ("signing links (hmac, tokens)", "hmac"), ("signing links (hmac, tokens)", "tokens.py"),
    ("DKIM", "dkim"),
    ("building messages (message.py, qp.py)", "delivery/message.py"),
    ("building messages (message.py, qp.py)", "delivery/qp.py"),
    ("SMTP client (aiosmtplib)", "aiosmtplib"),
    ("database (SQLAlchemy, driver)", "sqlalchemy"), ("database (SQLAlchemy, driver)", "sqlite3"),
    ("database (SQLAlchemy, driver)", "psycopg"),
    ("crash journal", "delivery/journal.py"),
    ("asyncio event loop and sockets", "asyncio"), ("asyncio event loop and sockets", "selectors"),
    ("other mailer code", "/mailer/"),
]


# Leaf frames of a thread with nothing to do: the event loop in epoll, a database thread
# waiting for its next job (py-spy counts them unless they sleep in a known call).
IDLE = ("EpollSelector.select", "concurrent/futures/thread.py:81)",
        "concurrent/futures/thread.py:83)")


def summarise_profile(path: Path) -> None:
    """Where the worker's time went: py-spy's raw samples, each put in its first category."""
    totals: dict[str, int] = {}
    leaves: dict[str, int] = {}
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        frames = stack.split(";")
        n = int(count)
        if any(part in frames[-1] for part in IDLE):
            what = "idle: waiting for sockets (epoll) or for work (database threads)"
        else:
            what = next((name for frame in reversed(frames) for name, part in CATEGORIES
                         if part in frame), "start-up, imports, other")
        totals[what] = totals.get(what, 0) + n
        leaves[frames[-1]] = leaves.get(frames[-1], 0) + n
    all_ = sum(totals.values()) or 1
    print(f"  where the worker's time went ({all_:,} samples, py-spy, wall clock incl. idle):")
    for what, n in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"    {n / all_:6.1%}  {what}")
    print("  busiest functions (self time):")
    for frame, n in sorted(leaves.items(), key=lambda kv: -kv[1])[:10]:
        print(f"    {n / all_:6.1%}  {frame[:110]}")


Sample = tuple[float, int, float]  # seconds since the start, copies settled, worker CPU s


def rate_between(samples: list[Sample], n: int, lo: float, hi: float) -> tuple[float, float]:
    """msg/s and the worker's CPU ms per copy while the settled copies went from ``lo``
    to ``hi`` (shares of ``n``); the first share starts at the first settled copy."""
    def first(share: float) -> Sample:
        return next((x for x in samples if x[1] >= max(share * n, 1)), samples[-1])
    (t0, d0, c0), (t1, d1, c1) = first(lo), first(hi)
    if t1 <= t0 or d1 <= d0:
        return 0.0, 0.0
    return (d1 - d0) / (t1 - t0), (c1 - c0) * 1000 / (d1 - d0)


def _worker_cpu(pid: int, profiled: bool) -> float:
    """CPU seconds of the worker (under py-spy: its children, not py-spy itself)."""
    pids = _tree_pids(pid)[1 if profiled else 0:]
    return sum(_cpu_seconds(p) or 0.0 for p in pids)


def send(url: str, env: dict[str, str], n: int, profile: Path | None = None,
         ) -> tuple[float, list[float], list[float], list[Sample]]:
    """Run the worker until the outbox is drained; sample RSS and read progress meanwhile.

    Returns the wall time, the RSS samples, the progress reads' latencies and the
    (seconds, copies settled, worker CPU seconds) at each read."""
    from mailer.services.mailings import progress
    from mailer.store.db import make_engine, reading, transaction

    engine = make_engine(url)
    rss: list[float] = []
    latencies: list[float] = []
    samples: list[Sample] = [(0.0, 0, 0.0)]
    t0 = time.perf_counter()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_before = children.ru_utime + children.ru_stime
    cmd = [sys.executable, "-m", "mailer", "worker", "--drain"]
    if profile is not None:  # py-spy samples the worker (its own RSS is counted too)
        cmd = [str(Path(sys.executable).with_name("py-spy")), "record", "--format", "raw",
               "--rate", "200", "-o", str(profile), "--", *cmd]
    worker = subprocess.Popen(cmd, cwd=ROOT,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(worker.stdout or []), daemon=True)
    reader.start()
    next_read = time.monotonic()
    while worker.poll() is None:
        rss.append(_tree_rss_mb(worker.pid))
        if time.monotonic() >= next_read:
            r0 = time.perf_counter()
            with reading(engine) as s:  # as the admin's reader would: never the write lock
                shown = progress(s)
            latencies.append(time.perf_counter() - r0)
            next_read += 1.0
            done = sum(v for k, v in shown[0].counts.items() if k not in OPEN) if shown else 0
            cpu = _worker_cpu(worker.pid, profile is not None)
            samples.append((r0 - t0, done, cpu))
            if len(latencies) % 10 == 1:
                print(f"  progress after {r0 - t0:.0f} s: {done:,} of {n:,} settled (read in "
                      f"{latencies[-1] * 1000:.0f} ms, load {os.getloadavg()[0]:.1f})",
                      flush=True)
        time.sleep(0.5)
    elapsed = time.perf_counter() - t0
    reader.join(5)
    if worker.returncode != 0:
        raise SystemExit("worker failed:\n" + "".join(output))
    with transaction(engine) as s:
        shown = progress(s)
    print(f"  outbox at the end: {shown[0].counts if shown else {}}")
    engine.dispose()
    # the worker's whole CPU time, once reaped (the last read missed its last moments;
    # under py-spy that would count py-spy too: the last read's figure then)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    samples.append((elapsed, n, samples[-1][2] if profile is not None
                    else children.ru_utime + children.ru_stime - cpu_before))
    return elapsed, rss, latencies, samples


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=1_000_000, help="recipients (default 1,000,000)")
    ap.add_argument("--database-url", help="default: a fresh SQLite file")
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--plan-only", action="store_true", help="stop after planning")
    ap.add_argument("--profile", type=Path,
                    help="run the worker under py-spy (pip install py-spy), raw samples here")
    ap.add_argument("--summarise", type=Path, help="only summarise an earlier --profile file")
    args = ap.parse_args()
    if args.summarise:
        summarise_profile(args.summarise)
        return 0
    n = args.n
    with tempfile.TemporaryDirectory(prefix="mailer-big-") as tmp:
        ws = Path(tmp)
        url = args.database_url or f"sqlite:///{ws / 'mailer.db'}"
        t = time.perf_counter()
        seed(url, n)
        print(f"seeded {n:,} subscribers in {time.perf_counter() - t:.1f} s (not measured); "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        floor = bare_insert_select(url)
        env = {**os.environ, "MAILER_DATABASE_URL": url, "MAILER_SECRET_KEY": SECRET,
               "MAILER_WORKSPACE": str(ws), "PYTHONPATH": str(ROOT)}
        load = os.getloadavg()[0]
        measured = {}
        for slug in (ONE, SLUG):
            proc, seconds, rss_mb = run_measured(
                [sys.executable, "-m", "mailer", "-w", str(ws), "send", str(FLAGSHIP),
                 "--list", slug], env)
            if proc.returncode != 0:
                print(proc.stdout, proc.stderr, file=sys.stderr)
                return proc.returncode
            print(proc.stdout.rstrip())
            measured[slug] = (seconds, rss_mb)
        (fixed, _), (planned_s, plan_rss) = measured[ONE], measured[SLUG]
        rows_s = max(planned_s - fixed, 1e-3)
        print(f"planning: {planned_s:.1f} s for {n:,} recipients (the whole command), peak RSS "
              f"{plan_rss:.0f} MB; the same command to a list of one {fixed:.1f} s (start-up "
              f"and rendering), so {rows_s:.1f} s for the rows; a bare INSERT … SELECT of the "
              f"same rows {floor:.1f} s: the rows cost {rows_s / floor:.1f}x that floor; load "
              f"average {load:.1f} -> {os.getloadavg()[0]:.1f}")
        if n >= 1_000_000:
            ok = planned_s < 15 and plan_rss < 200
            print(f"targets for 1 M: < 15 s and < 200 MB: {'met' if ok else 'NOT met'}")
        if args.plan_only:
            return 0

        ensure_postfix_tools()
        sink = Sink(None)
        try:
            env["MAILER_SMTP_URL"] = f"smtp://127.0.0.1:{sink.port}"
            env["MAILER_SMTP_CONNECTIONS"] = str(args.connections)
            env["MAILER_SMTP_RECYCLE_AFTER"] = "100000"
            load = os.getloadavg()[0]
            elapsed, rss, latencies, samples = send(url, env, n, args.profile)
            load_send = os.getloadavg()[0]
            from benchmarks.send import flagship, sample_bytes

            size = len(sample_bytes(flagship()[0]))
            t_src = run_smtp_source(n, sink.port, size, args.connections, None)
        finally:
            sink.stop()
        ours, src = n / elapsed, n / t_src
        warm = rss[len(rss) // 10:] or rss
        print(f"worker: {n:,} sent in {elapsed:.1f} s = {ours:,.0f} msg/s; RSS after start-up "
              f"{min(warm):.0f}-{max(warm):.0f} MB (peak {max(rss):.0f} MB, {len(rss)} samples); "
              f"load average {load:.1f} -> {load_send:.1f}")
        (start, c_start), (middle, c_middle), (end, c_end) = (
            rate_between(samples, n, lo, hi) for lo, hi in ((0, 0.1), (0.45, 0.55), (0.9, 1.0)))
        print(f"rate as the queue empties: first 10 % of the copies {start:,.0f} msg/s, "
              f"45-55 % {middle:,.0f} msg/s, last 10 % {end:,.0f} msg/s (end/start "
              f"{end / start if start else 0:.2f}; flat is about 1); the worker's CPU per "
              f"copy (less load-dependent) {c_start:.2f} / {c_middle:.2f} / {c_end:.2f} ms")
        lat = sorted(latencies) or [0.0]
        print(f"progress read {len(latencies)} times while sending: median "
              f"{lat[len(lat) // 2] * 1000:.0f} ms, 95th percentile "
              f"{lat[int(len(lat) * 0.95)] * 1000:.0f} ms, slowest {lat[-1] * 1000:.0f} ms")
        print(f"smtp-source: {src:,.0f} msg/s ({n:,} x {size:,} bytes, {args.connections} "
              f"sessions, same sink): mailer at {ours / src:.0%} of it (goal 50 %); load "
              f"average now {os.getloadavg()[0]:.1f}")
        if n >= 1_000_000:
            ok = ours >= 0.5 * src and max(warm) < 250
            print(f"targets for 1 M: worker RSS < 250 MB and >= 50 % of smtp-source: "
                  f"{'met' if ok else 'NOT met'}")
        if args.profile is not None:
            summarise_profile(args.profile)
        print("(the mailings are numbered 1 for the list of one and 2 for the measured one)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
