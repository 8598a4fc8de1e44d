"""Benchmark: import a generated CSV of N subscribers (default 1,000,000) into a fresh database.

Generates the file (in a temporary folder unless --dir), creates a fresh SQLite workspace
(or uses --database-url, which must be an empty, migrated-or-empty database), then runs
the real command ``python -m mailer subscribers import`` in a child process and prints
its elapsed time, rows/s, the ratio to listmonk's ~10,000 rows/s, and the child's peak
RSS (the whole process tree: the import and its row-checking workers).
Targets for 1 M rows on SQLite: < 60 s and < 300 MB.

    python benchmarks/import_csv.py                 # 1,000,000 rows
    python benchmarks/import_csv.py --rows 100000   # quicker
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
TARGET_SECONDS = 60.0
TARGET_RSS_MB = 300.0

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


def _tree_rss_mb(root: int) -> float:
    """Resident memory of ``root`` and all its descendants (Linux /proc), in MB."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def run_measured(cmd: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str],
                                                               float, float]:
    """Run ``cmd``; return it, wall seconds, and the peak RSS of its whole process tree."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)
    peak = 0.0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(0.2):
            peak = max(peak, _tree_rss_mb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    if Path("/proc/self/status").exists():
        sampler.start()
    out, err = proc.communicate()
    elapsed = time.perf_counter() - t
    stop.set()
    peak = max(peak, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), elapsed, peak


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dir", type=Path, help="keep the CSV and workspace here")
    ap.add_argument("--database-url", help="default: a fresh SQLite file in the workspace")
    ap.add_argument("--workers", type=int, help="passed to the import (default: its own)")
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

        from mailer.services.lists import create_list
        from mailer.store.db import make_engine, transaction, upgrade

        engine = make_engine(url)
        upgrade(engine)
        with transaction(engine) as s:
            create_list(s, f"bench-{os.getpid()}", "Benchmark")
        engine.dispose()

        env = {**os.environ, "MAILER_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
        cmd = [sys.executable, "-m", "mailer", "-w", str(ws), "subscribers", "import",
               str(csv_path), "--list", f"bench-{os.getpid()}"]
        if args.workers is not None:
            cmd += ["--workers", str(args.workers)]
        load_before = os.getloadavg()[0]
        proc, elapsed, rss_mb = run_measured(cmd, env)
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
    print(f"CPU time of the import and its workers: {cpu:.1f} s; load average "
          f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after (other work on the machine "
          f"slows the wall-clock figure; {os.cpu_count()} CPUs)")
    if args.rows >= 1_000_000:
        ok = elapsed < TARGET_SECONDS and rss_mb < TARGET_RSS_MB
        print(f"targets for 1 M rows: < {TARGET_SECONDS:.0f} s and < {TARGET_RSS_MB:.0f} MB: "
              f"{'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
