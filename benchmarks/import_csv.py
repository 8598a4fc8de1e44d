"""Benchmark: import a generated CSV of N subscribers (default 1,000,000) into a fresh database.

Generates the file (in a temporary folder unless --dir), creates a fresh SQLite workspace
(or uses --database-url, which must be an empty, migrated-or-empty database), then runs
the real command ``python -m mailer subscribers import`` in a child process and prints
its elapsed time, rows/s, the ratio to listmonk's ~10,000 rows/s, and the child's peak
RSS (the whole process tree: the import and its row-checking workers).
Targets for 1 M rows: < 45 s on SQLite, < 30 s on PostgreSQL, < 300 MB.

``--compare`` (PostgreSQL) imports the same file twice in the same run, into the emptied
database: once with COPY into temporary tables (the default there), once with the
executemany path SQLite uses, and prints the ratio — the reference measured under the same
load, since the machine is shared and absolute timings vary with it.

    python benchmarks/import_csv.py                 # 1,000,000 rows
    python benchmarks/import_csv.py --rows 100000   # quicker
    python benchmarks/import_csv.py --rows 100000 --compare \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LISTMONK_ROWS_PER_S = 10_000
TARGET_SECONDS = {"sqlite": 45.0, "postgresql": 30.0}
TARGET_RSS_MB = 300.0
LOADS: list[float] = []  # 1-minute load averages sampled during the measured runs

FIRST = ["Åsa", "Göran", "Märta", "Örjan", "Maria", "Erik", "Leila", "Björn", "Ingrid", "Per",
         "Sanna", "Karin", "Mats", "Elin", "Helena", "Anders", "Daniel", "Eva", "Lars", "Fatima",
         "Tomas", "Sarah", "Johan", "Annika", "Sofia", "Mikael", "Linnéa", "Ulf", "Kristina",
         "Nils"]
LAST = ["Lindqvist", "Sjöberg", "Nyström", "Bäckström", "Holm", "Åkesson", "Näslund", "Grönlund",
        "Bergqvist", "Fröberg", "Karlsson", "Öhman", "Strömberg", "Hägglund", "Kowalski",
        "Sandström", "Wikström", "Ali", "Lindgren", "Persson", "Lundström", "Mårtensson"]
ROLES = ["utvecklingsledare", "kommunfullmäktiges ordförande", "demokratistrateg",
         "kommunikatör", "ledamot i kommunfullmäktige", "regionråd", "samhällsplanerare"]
PLACES = ["Hylte", "Uppsala", "Örnsköldsvik", "Vänersborg", "Karlskoga", "Falun", "Botkyrka",
          "Umeå", "Linköping", "Östersund", "Lund", "Sundsvall", "Härnösand", "Kramfors", "Gävle",
          "Tierp", "Kiruna", "Malmö", "Göteborg", "Växjö"]


def generate(path: Path, rows: int, seed: int = 1) -> None:
    """Write ``rows`` people: unique addresses, ~300 organisations, Swedish letters."""
    rng = random.Random(seed)
    orgs = [f"{p}{'s' if i % 2 else ''} kommun {i // len(PLACES) or ''}".strip()
            for i, p in enumerate(PLACES * 15)]
    orgs += [f"Region {p}" for p in PLACES]
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter=";")
        w.writerow(["E-post", "Förnamn", "Efternamn", "Organisation", "Roll", "Språk",
                    "Telefon"])
        for i in range(rows):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            org = orgs[i % len(orgs)]
            domain = f"kommun{i % len(orgs)}.example"
            w.writerow([f"person.{i}@{domain}", first, last, org, rng.choice(ROLES),
                        "en" if i % 20 == 0 else "sv", f"070-174 06 {i % 95 + 5:02d}"])


def _tree_pids(root: int) -> list[int]:
    """``root`` and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(children.get(pid, []))
    return pids


def _tree_rss_mb(root: int) -> float:
    """Resident memory of ``root`` and all its descendants (Linux /proc), in MB."""
    total = 0
    for pid in _tree_pids(root):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of ``pid`` so far (Linux /proc), or None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ServerCpu:
    """CPU time of the PostgreSQL backends serving the import (the server's side of it).

    The server runs on this machine: every 0.2 s the client backends connected to the
    benchmark's database are listed and their CPU time read from /proc; the last reading
    of each counts (a backend's final 0.2 s may be missed). Background work (WAL writer,
    checkpointer, autovacuum) is not included. Zero when the server is elsewhere.
    """

    def __init__(self, url: str | None) -> None:
        self.conn = None
        self.seen: dict[int, float] = {}
        if url and url.startswith("postgresql"):
            import psycopg
            from sqlalchemy import make_url

            u = make_url(url)
            self.conn = psycopg.connect(host=u.host, port=u.port, user=u.username,
                                        password=u.password, dbname=u.database,
                                        autocommit=True)

    def sample(self) -> None:
        if self.conn is None:
            return
        pids = [r[0] for r in self.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()")]
        for pid in pids:
            cpu = _cpu_seconds(pid)
            if cpu is not None:
                self.seen[pid] = max(cpu, self.seen.get(pid, 0.0))

    @property
    def seconds(self) -> float:
        return sum(self.seen.values())


#: CPU seconds of the command's descendants (its row-checking workers, their fork server),
#: sampled from /proc by ``run_measured``: the workers are children of the fork server,
#: which the import does not wait for, so ``RUSAGE_CHILDREN`` never counts them.
TREE_CPU: dict[int, float] = {}


def run_measured(cmd: list[str], env: dict[str, str], server: ServerCpu | None = None,
                 ) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """Run ``cmd``; return it, wall seconds, and the peak RSS of its whole process tree
    (and sample the PostgreSQL server's CPU time for it into ``server``, its descendants'
    into ``TREE_CPU``)."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)
    peak = 0.0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(0.2):
            peak = max(peak, _tree_rss_mb(proc.pid))
            for pid in _tree_pids(proc.pid)[1:]:
                cpu = _cpu_seconds(pid)
                if cpu is not None:
                    TREE_CPU[pid] = max(cpu, TREE_CPU.get(pid, 0.0))
            LOADS.append(os.getloadavg()[0])
            if server is not None:
                server.sample()

    sampler = threading.Thread(target=sample, daemon=True)
    if Path("/proc/self/status").exists():
        sampler.start()
    out, err = proc.communicate()
    elapsed = time.perf_counter() - t
    stop.set()
    peak = max(peak, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), elapsed, peak


CHILD = """
import sys
from pathlib import Path
from mailer.store.db import make_engine
from mailer.store.importer import import_subscribers
r = import_subscribers(make_engine(sys.argv[1]), Path(sys.argv[2]), sys.argv[3],
                       copy=sys.argv[4] == "copy")
print(f"  {sys.argv[4]}: imported {r.counts.imported:,}, rejected {r.rejected:,}")
"""


def _fresh(url: str, slug: str) -> None:
    """Migrate the database, empty it, and create the list the import goes to."""
    from sqlalchemy import text

    from mailer.services.lists import create_list
    from mailer.store.db import make_engine, transaction, upgrade
    from mailer.store.models import Base

    engine = make_engine(url)
    upgrade(engine)
    if engine.dialect.name == "postgresql":
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    with transaction(engine) as s:
        create_list(s, slug, "Benchmark")
    engine.dispose()


def speed_probe() -> float:
    """CPU seconds of a fixed piece of Python (strings, dicts, integers): this machine's
    speed at the moment, for comparing runs from different hours (on the 2-CPU VM it was
    measured on, the same code ran up to 2x slower in some hours than in others)."""
    start = time.process_time()
    seen: dict[str, int] = {}
    for i in range(400_000):
        key = f"person{i}@kommun{i % 290}.se".casefold()
        seen[key] = len(key) + (i * 7919) % 104729
    return time.process_time() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dir", type=Path, help="keep the CSV and workspace here")
    ap.add_argument("--database-url", help="default: a fresh SQLite file in the workspace")
    ap.add_argument("--workers", type=int, help="passed to the import (default: its own)")
    ap.add_argument("--compare", action="store_true",
                    help="PostgreSQL: also import with executemany, in the same run")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="mailer-bench-") as tmp:
        base = args.dir or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        csv_path = base / f"subscribers-{args.rows}.csv"
        if not csv_path.exists():
            t = time.perf_counter()
            generate(csv_path, args.rows)
            print(f"generated {csv_path} ({csv_path.stat().st_size / 1e6:.0f} MB) "
                  f"in {time.perf_counter() - t:.1f} s")
        ws = base / "workspace"
        ws.mkdir(exist_ok=True)
        (ws / "mailer.db").unlink(missing_ok=True)
        url = args.database_url or f"sqlite:///{ws / 'mailer.db'}"

        slug = f"bench-{os.getpid()}"
        _fresh(url, slug)
        env = {**os.environ, "MAILER_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
        if args.compare:
            return compare(url, csv_path, slug, args.rows, env)
        cmd = [sys.executable, "-m", "mailer", "-w", str(ws), "subscribers", "import",
               str(csv_path), "--list", f"bench-{os.getpid()}"]
        if args.workers is not None:
            cmd += ["--workers", str(args.workers)]
        probe_before = speed_probe()
        load_before = os.getloadavg()[0]
        server = ServerCpu(args.database_url)
        proc, elapsed, rss_mb = run_measured(cmd, env, server)
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = usage.ru_utime + usage.ru_stime
        print(proc.stdout.rstrip())
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return proc.returncode

    rate = args.rows / elapsed
    print(f"\nrows: {args.rows:,}  elapsed: {elapsed:.1f} s (whole command, start-up included)  "
          f"rate: {rate:,.0f} rows/s = {rate / LISTMONK_ROWS_PER_S:.2f} x listmonk's "
          f"{LISTMONK_ROWS_PER_S:,} rows/s  peak RSS: {rss_mb:.0f} MB (the import process "
          "and its row-checking workers together)")
    workers = sum(TREE_CPU.values())
    print(f"CPU time of the import process: {cpu:.1f} s, of its row-checking workers "
          f"{workers:.1f} s (sampled every 0.2 s: the last moments may be missed), together "
          f"{cpu + workers:.1f} s; load average "
          f"{load_before:.1f} before, {max(LOADS, default=0):.1f} at most during the run, "
          f"{os.getloadavg()[0]:.1f} after (other work on the machine "
          f"slows the wall-clock figure; {os.cpu_count()} CPUs)")
    print(f"machine speed: a fixed piece of Python took {probe_before:.2f} s of CPU before "
          f"the import and {speed_probe():.2f} s after (compare runs of similar speed)")
    if server.conn is not None:
        print(f"CPU time of the PostgreSQL backends serving it: {server.seconds:.1f} s "
              "(sampled from /proc; background writers not included)")
    total = cpu + workers + (server.seconds if server.conn is not None else 0.0)
    ncpu = os.cpu_count() or 1
    print(f"CPU bound: the import, its workers{' and the server' if server.conn else ''} "
          f"needed {total:.1f} s of CPU in all: on {ncpu} CPUs no run of this work can take "
          f"less than {total / ncpu:.1f} s, even with every CPU busy all the time "
          f"({total / ncpu / elapsed:.0%} of this run's wall clock)")
    if args.rows >= 1_000_000:
        target = TARGET_SECONDS["postgresql" if url.startswith("postgresql") else "sqlite"]
        ok = elapsed < target and rss_mb < TARGET_RSS_MB
        print(f"targets for 1 M rows: < {target:.0f} s and < {TARGET_RSS_MB:.0f} MB: "
              f"{'met' if ok else 'NOT met'}")
    return 0


def compare(url: str, csv_path: Path, slug: str, rows: int, env: dict[str, str]) -> int:
    """Import with COPY, then (emptied database) with executemany; print both and the ratio."""
    results: dict[str, tuple[float, float]] = {}
    for i, mode in enumerate(("copy", "executemany")):
        if i:
            _fresh(url, slug)
        load = os.getloadavg()[0]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        server = ServerCpu(url)
        proc, elapsed, rss_mb = run_measured(
            [sys.executable, "-c", CHILD, url, str(csv_path), slug, mode], env, server)
        print(proc.stdout.rstrip())
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return proc.returncode
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        results[mode] = (elapsed, cpu)
        print(f"  {mode}: {elapsed:.1f} s, {rows / elapsed:,.0f} rows/s, CPU of the import "
              f"and its workers {cpu:.1f} s, server backends {server.seconds:.1f} s, "
              f"peak RSS {rss_mb:.0f} MB, load average "
              f"{load:.1f} -> {os.getloadavg()[0]:.1f}")
    ratio = results["executemany"][0] / results["copy"][0]
    cpu_ratio = results["executemany"][1] / results["copy"][1]
    print(f"\nCOPY path: {ratio:.2f}x the executemany path's speed (wall clock), "
          f"{cpu_ratio:.2f}x less client CPU; same file, same run ({os.cpu_count()} CPUs "
          "shared with other work: the wall-clock ratio shrinks as the load grows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
