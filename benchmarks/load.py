"""Load test on loopback: the public web under traffic while a mailing sends and an import runs.

    python benchmarks/load.py [--db sqlite|postgresql://postgres@127.0.0.1:5432/test]
                              [--signups 200] [--unsubscribes 50] [--archive-views 20]
                              [--recipients 5000] [--import-rows 200000]

One run, in this order, against one database and Postfix's smtp-sink on loopback:
  1. reference: the one-click unsubscribe POST (RFC 8058) timed on an idle server;
  2. load: the same POSTs, concurrent sign-ups (form GET + POST with its CSRF token) and
     archive views, while a worker sends a newsletter to ``--recipients`` people and a
     ``--import-rows`` CSV import runs into another list;
Prints the status codes, p50/p99 of the one-click POST under load, its ratio to the idle
reference, and checks that nothing was lost: every sign-up recorded with its mail sent,
every unsubscribe recorded, every newsletter copy sent, every import row imported. Exits
non-zero on a 5xx, a loss, or a p99 over the target (500 ms on SQLite, 200 ms on
PostgreSQL). ``run()`` is what tests/web/test_load.py calls with small numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SECRET = "load-test-secret-key-0123456789abcdef"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
TARGET_MS = {"sqlite": 500.0, "postgresql": 200.0}


@dataclass
class LoadResult:
    dialect: str
    statuses: dict[str, list[int]] = field(default_factory=dict)
    idle_ms: list[float] = field(default_factory=list)
    loaded_ms: list[float] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    seconds: float = 0.0

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
            f"database: {self.dialect}; {self.seconds:.1f} s under load",
            f"status codes: {codes}",
            f"one-click POST idle (reference): p50 {self.p(self.idle_ms, .5):.1f} ms, "
            f"p99 {idle99:.1f} ms",
            f"one-click POST under load:       p50 {self.p(self.loaded_ms, .5):.1f} ms, "
            f"p99 {p99:.1f} ms  ({ratio:.1f}x the idle p99; target < "
            f"{TARGET_MS[self.dialect]:.0f} ms)",
            f"lost: {self.lost or 'nothing'}",
        ])


class _Server:
    def __init__(self, app: Any, port: int) -> None:
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                                    log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(20)


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


def run(db_url: str, workspace: Path, smtp_url: str, *, signups: int, unsubscribes: int,
        archive_views: int, recipients: int, import_rows: int,
        concurrency: int = 20) -> LoadResult:
    """One load run (see the module docstring); the database must be empty."""
    import httpx
    from sqlalchemy import func, select

    from mailer.config import load_settings
    from mailer.delivery.worker import deliver_due
    from mailer.render.types import RenderedMailing
    from mailer.services.imports import import_subscribers
    from mailer.services.lists import create_list
    from mailer.services.mailings import plan_mailing
    from mailer.store.db import make_engine, transaction, upgrade
    from mailer.store.models import (
        Mailing,
        MailingList,
        OutboxRow,
        OutboxStatus,
        Subscriber,
        Subscription,
        SubscriptionStatus,
    )
    from mailer.web.app import create_app
    from mailer.web.ratelimit import SlidingWindowLimiter

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    settings = load_settings(workspace, database_url=db_url, smtp_url=smtp_url,
                             secret_key=SECRET, base_url=base)
    engine = make_engine(settings.db_url)
    upgrade(engine)
    result = LoadResult(dialect=engine.dialect.name)
    idle_n = min(unsubscribes, 20)
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
        ids = list(s.scalars(select(Subscriber.id).where(
            Subscriber.email_key.like("%@seminarier.example.org")).order_by(Subscriber.id)))
    leaving, idle_ones = ids[:unsubscribes], ids[unsubscribes:]

    app = create_app(settings, engine=engine)
    # All traffic comes from 127.0.0.1: the per-IP sign-up limit would stop the test, not
    # the server (the per-address limit stays: every address here is different).
    app.state.web.per_ip = SlidingWindowLimiter(10**6, 600.0)
    links = app.state.web.links

    async def one_click(client: httpx.AsyncClient, sid: int, into: list[float],
                        statuses: list[int]) -> None:
        url = links.unsubscribe(sid, list_id).removeprefix(base)
        t0 = time.perf_counter()
        r = await client.post(url, data={"List-Unsubscribe": "One-Click"})
        into.append((time.perf_counter() - t0) * 1000)
        statuses.append(r.status_code)

    async def sign_up(client: httpx.AsyncClient, n: int, statuses: list[int]) -> None:
        page = await client.get("/subscribe/nyhetsbrev")
        statuses.append(page.status_code)
        m = CSRF_RE.search(page.text)
        if m is None:
            return
        r = await client.post("/subscribe/nyhetsbrev", data={
            "email": f"ny{n}@signup.example.org", "name": f"Ny Person {n}",
            "csrf_token": m.group(1)})
        statuses.append(r.status_code)

    async def archive(client: httpx.AsyncClient, mailing_id: int, statuses: list[int]) -> None:
        statuses.extend([(await client.get(path)).status_code
                         for path in ("/archive/nyhetsbrev", f"/archive/view/{mailing_id}")])

    async def bounded(jobs: list[Any]) -> None:
        gate = asyncio.Semaphore(concurrency)

        async def one(job: Any) -> None:
            async with gate:
                await job

        await asyncio.gather(*(one(j) for j in jobs))

    with _Server(app, port):
        async def idle() -> None:
            async with httpx.AsyncClient(base_url=base, timeout=120) as c:
                codes: list[int] = []
                # Warm up (templates compiled, connections pooled) without unsubscribing.
                warm = links.unsubscribe(idle_ones[0], list_id).removeprefix(base)
                (await c.get(warm)).raise_for_status()
                for sid in idle_ones:
                    await one_click(c, sid, result.idle_ms, codes)
                result.statuses["one-click (idle)"] = codes

        asyncio.run(idle())
        with transaction(engine) as s:
            mailing, planned = plan_mailing(
                s, RenderedMailing(subject="Nyhetsbrev nr 7", language="sv",
                                   html="<p>Hej %%name%%</p>", text="Hej %%name%%"),
                kind="newsletter", now=datetime.now(UTC), list_slugs=["nyhetsbrev"])
            mailing_id = mailing.id
        done = threading.Event()
        errors: list[BaseException] = []
        import_report: list[Any] = []

        def worker() -> None:
            try:
                while not done.is_set():
                    deliver_due(engine, settings)
                    time.sleep(0.05)
                deliver_due(engine, settings)  # what the sign-ups planned last
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        def importer() -> None:
            try:
                import_report.append(import_subscribers(engine, big, "importerad"))
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker), threading.Thread(target=importer)]
        started = time.perf_counter()
        for t in threads:
            t.start()

        async def load() -> None:
            limits = httpx.Limits(max_connections=concurrency)
            async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as c:
                # One browser: its CSRF cookie is set once, before the concurrent forms.
                (await c.get("/subscribe/nyhetsbrev")).raise_for_status()
                clicks: list[int] = []
                signs: list[int] = []
                views: list[int] = []
                jobs: list[Any] = [one_click(c, sid, result.loaded_ms, clicks)
                                   for sid in leaving]
                jobs += [sign_up(c, n, signs) for n in range(signups)]
                jobs += [archive(c, mailing_id, views) for _ in range(archive_views)]
                # Spread each kind over the run so they overlap in time.
                jobs.sort(key=lambda j: hash(j) % 997)
                await bounded(jobs)
                result.statuses.update({"one-click": clicks, "sign-up": signs,
                                        "archive": views})

        asyncio.run(load())
        threads[1].join()
        done.set()
        threads[0].join()
        result.seconds = time.perf_counter() - started
    if errors:
        raise errors[0]

    with transaction(engine) as s:
        unsubscribed = s.scalar(select(func.count()).select_from(Subscription).where(
            Subscription.subscriber_id.in_(leaving + idle_ones),
            Subscription.status == SubscriptionStatus.unsubscribed))
        signed = s.scalar(select(func.count()).select_from(Subscriber).where(
            Subscriber.email_key.like("ny%@signup.example.org")))
        unsent = s.scalar(select(func.count()).select_from(OutboxRow).where(
            OutboxRow.status != OutboxStatus.sent))
        sent_issue = s.scalar(select(func.count()).select_from(OutboxRow).where(
            OutboxRow.mailing_id == mailing_id, OutboxRow.status == OutboxStatus.sent))
        confirmations = s.scalar(select(func.count()).select_from(OutboxRow).join(
            Mailing, Mailing.id == OutboxRow.mailing_id).where(Mailing.id != mailing_id))
    if unsubscribed != len(leaving) + len(idle_ones):
        result.lost.append(f"unsubscribes: {unsubscribed} of {len(leaving) + len(idle_ones)}")
    if signed != signups:
        result.lost.append(f"sign-ups: {signed} of {signups}")
    if confirmations != signups:
        result.lost.append(f"confirmation mails planned: {confirmations} of {signups}")
    if unsent:
        result.lost.append(f"outbox rows not sent: {unsent}")
    if sent_issue != planned:
        result.lost.append(f"newsletter copies sent: {sent_issue} of {planned}")
    imported = import_report[0].counts.imported if import_report else 0
    if imported != import_rows:
        result.lost.append(f"import rows: {imported} of {import_rows}")
    engine.dispose()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", default="sqlite",
                    help="sqlite (a file in a temporary folder) or a PostgreSQL URL of an "
                         "empty database")
    ap.add_argument("--signups", type=int, default=200)
    ap.add_argument("--unsubscribes", type=int, default=50)
    ap.add_argument("--archive-views", type=int, default=20)
    ap.add_argument("--recipients", type=int, default=5000)
    ap.add_argument("--import-rows", type=int, default=200_000)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from send import Sink, ensure_postfix_tools  # the same sink as the send benchmark

    ensure_postfix_tools()
    sink = Sink(None)
    port = sink.port
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workspace = Path(tmp)
            db = f"sqlite:///{workspace / 'load.db'}" if args.db == "sqlite" else args.db
            result = run(db, workspace, f"smtp://127.0.0.1:{port}", signups=args.signups,
                         unsubscribes=args.unsubscribes, archive_views=args.archive_views,
                         recipients=args.recipients, import_rows=args.import_rows)
    finally:
        sink.stop()
    print(result.summary())
    p99 = result.p(result.loaded_ms, 0.99)
    if result.server_errors or result.lost or p99 >= TARGET_MS[result.dialect]:
        sys.exit(1)


if __name__ == "__main__":
    main()
