"""Benchmark: import a generated CSV of N subscribers (default 1,000,000) into a fresh database.

Generates the file (in a temporary folder unless --dir), creates a fresh SQLite workspace
(or uses --database-url, which must be an empty, migrated-or-empty database), then runs
the real command ``python -m mailer subscribers import`` in a child process and prints
its elapsed time, rows/s, the ratio to listmonk's ~10,000 rows/s, and the child's peak
RSS. Targets for 1 M rows on SQLite: < 60 s and < 300 MB.

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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LISTMONK_ROWS_PER_S = 10_000
TARGET_SECONDS = 60.0
TARGET_RSS_MB = 300.0

FIRST = ["Åsa", "Göran", "Märta", "Örjan", "Maria", "Erik", "Leila", "Björn", "Ingrid", "Per",
         "Sanna", "Karin", "Mats", "Elin", "Helena", "Anders", "Daniel", "Eva", "Lars", "Fatima",
         "Tomas", "Sarah", "Johan", "Annika", "Sofia", "Mikael", "Linnéa", "Ulf", "Kristina", "Nils"]
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dir", type=Path, help="keep the CSV and workspace here")
    ap.add_argument("--database-url", help="default: a fresh SQLite file in the workspace")
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

        from mailer.store.db import make_engine, transaction, upgrade
        from mailer.store.lists import create_list

        engine = make_engine(url)
        upgrade(engine)
        with transaction(engine) as s:
            create_list(s, f"bench-{os.getpid()}", "Benchmark")
        engine.dispose()

        env = {**os.environ, "MAILER_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
        cmd = [sys.executable, "-m", "mailer", "-w", str(ws), "subscribers", "import",
               str(csv_path), "--list", f"bench-{os.getpid()}"]
        t = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
        elapsed = time.perf_counter() - t
        rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(proc.stdout.rstrip())
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return proc.returncode

    rate = args.rows / elapsed
    print(f"\nrows: {args.rows:,}  elapsed: {elapsed:.1f} s (whole command, start-up included)  "
          f"rate: {rate:,.0f} rows/s = {rate / LISTMONK_ROWS_PER_S:.2f} x listmonk's "
          f"{LISTMONK_ROWS_PER_S:,} rows/s  peak RSS: {rss_mb:.0f} MB")
    if args.rows >= 1_000_000:
        ok = elapsed < TARGET_SECONDS and rss_mb < TARGET_RSS_MB
        print(f"targets for 1 M rows: < {TARGET_SECONDS:.0f} s and < {TARGET_RSS_MB:.0f} MB: "
              f"{'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
