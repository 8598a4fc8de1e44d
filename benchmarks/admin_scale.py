"""Benchmark: the admin's and the API's reading pages with 1,000,000 subscribers behind them.

    python benchmarks/admin_scale.py                       # 1,000,000 subscribers, SQLite
    python benchmarks/admin_scale.py -n 100000             # quicker
    python benchmarks/admin_scale.py --db postgresql://postgres@127.0.0.1:5432/NEW_DB
    python benchmarks/admin_scale.py --keep DIR            # keep (or reuse) the SQLite files
    python benchmarks/admin_scale.py --keep DIR --db postgresql://…/DB  # keep (or reuse) DB

Two databases are built before the clock starts: the big one (``-n`` subscribers on three
lists: 60 %, 50 % and 30 % of them, most active, some unconfirmed or unsubscribed a month
ago; one in 50 addresses suppressed; a sent mailing to the third list — a few hundred
thousand copies planned by the real planning code (``plan_mailing``), then set to sent,
failed (with hard bounces), skipped and unknown in bulk, and 1 in 500 of its recipients
unsubscribed after it) and a reference one with 1,000 subscribers built the same way.
Subscribers are written with set-based SQL as in ``big_mailing.py``; the schema comes
from the migrations.

Both also hold what the admins' pages read beyond the lists: a webhook endpoint that
wants every event, with ``--deliveries`` (default twice ``-n``) events delivered to it
over the past two years, one attempt each in its log, the last 100 still waiting; and
the 2023 network's invitation (``issues/2023-natverk-tjanstepersoner``, copied into each
server's workspace) to the lists ``nyhetsbrev`` and ``kommuner``, sent to the first one
(planned by ``plan_mailing``, recorded by ``record_invitees``, its copies set to sent in
bulk): its page counts, as ``mailer invite --dry-run`` does, who each list would still
invite.

Then ``mailer serve`` runs on each (a real server on loopback, logged in with a session
cookie for the admin and an API token for the API) and every reading page is requested
``--requests`` times, alternately on the two servers, after one warm-up request each. Per
page it prints p50 and max on the big database, p50 on the reference one and the ratio of
the two p50s, and the time of a bare ``SELECT count(*) FROM subscriptions`` on the big
database (a full pass over the table: the cost a page has when it counts every row).
Pages whose p50 is over ``--target`` ms (300) are marked. The load average is printed at
the start and the end: the machine is shared and absolute timings move with it.

A PostgreSQL database that does not exist is created for the run and dropped after it
(its reference database too, named with a ``_ref`` suffix), as ``load.py`` does; with
``--keep`` both are kept, and reused (only migrated) when they have their subscribers.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.load import (  # noqa: E402
    _environment,
    _free_port,
    _Process,
    postgres_database,
)

#: (list slug, name, share of the subscribers on it)
LISTS = [("nyhetsbrev", "Nyhetsbrev om medborgardialog", 0.6),
         ("kommuner", "Kommuner och regioner", 0.5),
         ("utskick", "Stora utskicket", 0.3)]
MAILED = "utskick"
#: The invitation on the admin's invitation page: its lists, the first one invited (a
#: week ago: its dates are moved four years on, so it is open and its page counts).
INVITATION = "2023-natverk-tjanstepersoner"
INVITED = ["nyhetsbrev", "kommuner"]
ADMIN = "bench@example.org"
PASSWORD = "benchmark-password-0123"


def _numbers(pg: bool) -> str:
    return ("SELECT generate_series(1, :n) AS i" if pg else
            "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq "
            "WHERE i < :n) SELECT i FROM seq")


def invitation_folder(workspace: Path) -> None:
    """The 2023 network's folder in ``workspace``'s issues/, inviting ``INVITED``, its
    dates four years later (open until 15 February 2027)."""
    import re
    import shutil

    folder = workspace / "issues" / INVITATION
    if folder.exists():
        return
    shutil.copytree(ROOT / "issues" / INVITATION, folder)
    path = folder / "issue.yaml"
    yaml = re.sub(r"(?m)^lists: .*$", f"lists: [{', '.join(INVITED)}]",
                  path.read_text(encoding="utf-8"))
    path.write_text(re.sub(r"\b2023-(\d\d-\d\d)\b", r"2027-\1", yaml), encoding="utf-8")


def build(url: str, n: int, workspace: Path, deliveries: int) -> tuple[str, str, int, int]:
    """A fresh database as the module docstring says; returns (session cookie, API token,
    the newsletter mailing's id, the webhook endpoint's id). A database that has the
    subscribers already (``--keep``) is only migrated and given a new login."""
    from sqlalchemy import func, select, text

    from mailer.render.types import RenderedMailing
    from mailer.services.accounts import create_api_token, create_user, start_session
    from mailer.services.lists import create_list
    from mailer.services.mailings import plan_mailing
    from mailer.store import accounts as account_store
    from mailer.store.db import make_engine, transaction, upgrade
    from mailer.store.models import Mailing, Subscriber, WebhookEndpoint

    engine = make_engine(url)
    upgrade(engine)
    pg = engine.dialect.name == "postgresql"
    now_sql = "now()" if pg else "strftime('%Y-%m-%d %H:%M:%f', 'now')"
    # the subscriptions are a month old (and so are most ends): before the mailing
    before = ("now() - interval '30 days'" if pg else
              "strftime('%Y-%m-%d %H:%M:%f', 'now', '-30 days')")
    now = datetime.now(UTC)
    invitation_folder(workspace)
    with transaction(engine) as s:
        fresh = not s.scalar(select(func.count()).select_from(Subscriber))
    if fresh:
        with transaction(engine) as s:
            ids = {slug: create_list(s, slug, name).id for slug, name, _ in LISTS}
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO subscribers (email, email_key, name, role, language, attributes, "
                f"created_at, updated_at) SELECT 'person' || i || '@example.test', "
                f"'person' || i || '@example.test', 'Åsa Öberg ' || i, '', "
                f"CASE WHEN i % 20 = 0 THEN 'en' ELSE 'sv' END, '{{}}', {now_sql}, {now_sql} "
                f"FROM ({_numbers(pg)}) AS numbers"), {"n": n})
            offset = 0.0
            for slug, _, share in LISTS:
                # Each list its own slice of the people (wrapping around), statuses mixed:
                # 1 in 25 unconfirmed, 1 in 10 unsubscribed, the rest active.
                lo, hi = int(offset * n), int((offset + share) * n)
                offset = (offset + share) % 1.0
                cond = (f"(id > {lo} AND id <= {hi})" if hi <= n else
                        f"(id > {lo} OR id <= {hi - n})")
                conn.execute(text(
                    "INSERT INTO subscriptions (subscriber_id, list_id, status, source, "
                    "created_at, updated_at, unsubscribed_at) SELECT id, :list_id, CASE "
                    "WHEN id % 25 = 3 THEN 'unconfirmed' WHEN id % 10 = 7 THEN 'unsubscribed' "
                    f"ELSE 'active' END, 'benchmark', {before}, {before}, CASE WHEN id % 10 = 7 "
                    f"THEN {before} END FROM subscribers WHERE {cond}"),
                    {"list_id": ids[slug]})
            conn.execute(text(
                "INSERT INTO suppressions (email_hash, email_key, email, reason, detail, "
                "source, created_at, signup_attempts, last_signup) SELECT 'h' || id, "
                "email_key, email, 'hard_bounce', '550 5.1.1 no such user', 'benchmark', "
                f"{now_sql}, 0, '' FROM subscribers WHERE id % 50 = 11"))
        with transaction(engine) as s:
            mailing, _planned = plan_mailing(
                s, RenderedMailing(subject="Stora utskicket", language="sv",
                                   html="<p>Hej %%name%%</p>", text="Hej %%name%%"),
                kind="newsletter", now=now - timedelta(hours=2), list_slugs=[MAILED])
            mailing_id = mailing.id
        with engine.begin() as conn:
            # The outcomes in bulk (the outbox's triggers keep its tally): most sent, 1 in
            # 100 refused (and bounced), 1 in 150 skipped, 1 in 1000 unknown.
            params = {"m": mailing_id}
            conn.execute(text(
                "UPDATE outbox SET status = CASE WHEN id % 100 = 5 THEN 'failed' "
                "WHEN id % 150 = 1 THEN 'skipped' WHEN id % 1000 = 9 THEN 'unknown' "
                "ELSE 'sent' END, attempts = 1, sent_at = CASE WHEN id % 100 = 5 OR "
                f"id % 150 = 1 THEN NULL ELSE {now_sql} END, updated_at = {now_sql}, "
                "last_reply = CASE WHEN id % 100 = 5 THEN '550 5.1.1 <' || email || "
                "'>: Recipient address rejected: User unknown' WHEN id % 150 = 1 THEN "
                "'not sent: unsubscribed before sending' WHEN id % 1000 = 9 THEN "
                "'timeout after DATA' ELSE '250 2.0.0 Ok: queued' END "
                "WHERE mailing_id = :m"), params)
            conn.execute(text(
                "INSERT INTO feedback_events (kind, outbox_id, mailing_id, email_hash, "
                "bounce_class, status, diagnostic, source, at) SELECT 'bounce', id, "
                "mailing_id, 'h' || id, CASE WHEN status = 'failed' THEN 'hard' ELSE "
                "'soft' END, '5.1.1', 'no such user', 'smtp', " + now_sql + " FROM outbox "
                "WHERE mailing_id = :m AND (status = 'failed' OR id % 400 = 3)"), params)
            conn.execute(text(
                f"UPDATE mailings SET status = 'done', finished_at = {now_sql} "
                "WHERE id = :m"), params)
            # 1 in 500 of its recipients unsubscribed after it came (sender health).
            conn.execute(text(
                f"UPDATE subscriptions SET status = 'unsubscribed', unsubscribed_at = "
                f"{now_sql}, updated_at = {now_sql} WHERE status = 'active' AND "
                "subscriber_id % 500 = 1 AND list_id = (SELECT id FROM lists WHERE slug = "
                ":slug)"), {"slug": MAILED})
        invite(engine, workspace)
        webhook_deliveries(engine, n, deliveries, now)
        if pg:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
    with transaction(engine) as s:
        mailing_id = int(s.scalar(select(func.max(Mailing.id))
                                  .where(Mailing.kind == "newsletter")) or 0)
        endpoint_id = int(s.scalar(select(func.max(WebhookEndpoint.id))) or 0)
        user = account_store.find_user(s, ADMIN) or create_user(
            s, ADMIN, role="admin", now=now, password=PASSWORD)
        cookie = start_session(s, user, now=now)
        token = create_api_token(s, user, now=now, name="benchmark").secret
    engine.dispose()
    return cookie, token, mailing_id, endpoint_id


def invite(engine: Any, workspace: Path) -> None:
    """The invitation sent to ``INVITED[0]`` as ``mailer invite`` plans it (one copy per
    active subscriber not suppressed, invitee rows naming the mailing), the copies sent."""
    from sqlalchemy import text

    from mailer.invitation_files import load_invitation
    from mailer.render.types import RenderedMailing
    from mailer.services.mailings import plan_mailing
    from mailer.store.db import transaction
    from mailer.store.invitations import record_invitees, sync_invitation

    inv = load_invitation(workspace, INVITATION, timezone="Europe/Stockholm",
                          reminder_time="09:00")
    invited_at = datetime.now(UTC) - timedelta(days=7)
    with transaction(engine) as s:
        row = sync_invitation(s, INVITATION, inv, invited_at).row
        mailing, _ = plan_mailing(
            s, RenderedMailing(subject=inv.subject, language="sv", html="<p>Hej</p>",
                               text="Hej"),
            kind="invitation", now=invited_at, list_slugs=[INVITED[0]],
            source=f"invitation:{INVITATION}", expires_at=row.deadline)
        record_invitees(s, row, list_slug=INVITED[0], now=invited_at, mailing_id=mailing.id)
        s.execute(text("UPDATE outbox SET status = 'sent', attempts = 1, sent_at = "
                       "created_at, last_reply = '250 2.0.0 Ok: queued' WHERE mailing_id = "
                       ":m"), {"m": mailing.id})
        s.execute(text("UPDATE mailings SET status = 'done', finished_at = created_at "
                       "WHERE id = :m"), {"m": mailing.id})


def webhook_deliveries(engine: Any, n: int, count: int, now: datetime) -> None:
    """An endpoint that wants every event and ``count`` events to it, evenly over the
    past two years (subscribers' confirmations and unsubscribes, in order per person),
    each delivered at its first attempt (one log row each) but the last 100, waiting."""
    from sqlalchemy import text

    from mailer.services import webhooks
    from mailer.store.db import transaction

    with transaction(engine) as s:
        ep, _ = webhooks.add_endpoint(s, "https://crm.example.org/hooks/mailer", "all",
                                      description="benchmark", now=now - timedelta(days=731))
    pg = engine.dialect.name == "postgresql"
    # the i-th event i steps of two years / count after two years ago
    ago = f"(CAST(:n - i AS BIGINT) * {2 * 365 * 86400} / :n)"
    at = (f"now() - {ago} * interval '1 second'" if pg else
          f"strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || {ago} || ' seconds')")
    payload = """('{"subscriber": {"id": ' || (i % :people + 1) || '}}')""" + (
        "::jsonb" if pg else "")
    waiting = "id > (SELECT max(id) FROM webhook_events) - 100"
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO webhook_events (event_id, type, payload, created_at) SELECT "
            "'msg_bench' || i, CASE WHEN i % 10 = 7 THEN 'subscriber.unsubscribed' ELSE "
            f"'subscriber.confirmed' END, {payload}, {at} FROM ({_numbers(pg)}) AS numbers"),
            {"n": count, "people": n})
        conn.execute(text(
            "INSERT INTO webhook_deliveries (endpoint_id, event_id, ordering_key, status, "
            "attempts, next_attempt_at, last_status, last_error, delivered_at, created_at) "
            "SELECT :ep, id, 'subscriber:' || (id % :people + 1), CASE WHEN "
            f"{waiting} THEN 'pending' ELSE 'delivered' END, CASE WHEN {waiting} THEN 0 "
            f"ELSE 1 END, created_at, CASE WHEN {waiting} THEN NULL ELSE 200 END, '', "
            f"CASE WHEN {waiting} THEN NULL ELSE created_at END, created_at "
            "FROM webhook_events ORDER BY id"), {"ep": ep.id, "people": n})
        conn.execute(text(
            "INSERT INTO webhook_attempts (delivery_id, endpoint_id, at, status, error, "
            "milliseconds) SELECT id, endpoint_id, delivered_at, 200, '', 40 + id % 50 "
            "FROM webhook_deliveries WHERE status = 'delivered' ORDER BY id"))


def bare_count(url: str) -> float:
    """The floor of a page that counts every row: one ``SELECT count(*)`` of the table."""
    from sqlalchemy import text

    from mailer.store.db import make_engine

    engine = make_engine(url)
    best = float("inf")
    with engine.connect() as conn:
        for _ in range(3):
            t = time.perf_counter()
            conn.execute(text("SELECT count(*) FROM subscriptions")).scalar()
            best = min(best, time.perf_counter() - t)
    engine.dispose()
    return best


def pages(mailing_id: int, endpoint_id: int) -> list[tuple[str, str]]:
    """(what, path) of every reading page measured; /api paths use the token."""
    m, w = mailing_id, endpoint_id
    return [
        ("admin: dashboard", "/admin"),
        ("admin: lists", "/admin/lists"),
        ("admin: one list", f"/admin/lists/{MAILED}"),
        ("admin: subscribers", "/admin/subscribers"),
        ("admin: subscribers, page 2000", "/admin/subscribers?page=2000"),
        ("admin: subscribers search", "/admin/subscribers?q=person4242"),
        ("admin: mailings", "/admin/mailings"),
        ("admin: one mailing", f"/admin/mailings/{m}"),
        ("admin: suppressions", "/admin/suppressions"),
        ("admin: audience", "/admin/audience"),
        ("admin: webhooks", "/admin/webhooks"),
        ("admin: one webhook (log)", f"/admin/webhooks/{w}"),
        ("admin: invitations", "/admin/invitations"),
        ("admin: invitation", f"/admin/invitations/{INVITATION}"),
        # the dry run of 'mailer invite' for its lists, on demand (the button on the page)
        ("admin: invitation, who to invite", f"/admin/invitations/{INVITATION}/invite"),
        ("api: lists", "/api/lists"),
        ("api: one list", f"/api/lists/{MAILED}"),
        ("api: list's subscribers", f"/api/lists/{MAILED}/subscribers"),
        ("api: list's active, page 1000", f"/api/lists/{MAILED}/subscribers?status=active"
                                          "&page=1000"),
        # The API's keyset paging: the page after an address a fifth of the way through
        # (the list's next member follows it: a cursor past its last one walks to the end).
        ("api: list's active, after=", f"/api/lists/{MAILED}/subscribers?status=active"
                                       "&after=person2%40example.test"),
        ("api: subscribers", "/api/subscribers"),
        ("api: subscribers search", "/api/subscribers?q=person4242"),
        ("api: mailings", "/api/mailings"),
        ("api: one mailing", f"/api/mailings/{m}"),
        ("api: suppressions", "/api/suppressions"),
        ("api: webhooks", "/api/webhooks"),
        ("api: one webhook", f"/api/webhooks/{w}"),
        ("api: webhook log", f"/api/webhooks/{w}/log"),
    ]


@contextlib.contextmanager
def server(url: str, workspace: Path, logs: Path) -> Iterator[str]:
    """``mailer serve`` on ``url``; yields its base URL once it answers."""
    import httpx

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    workspace.mkdir(parents=True, exist_ok=True)
    env = _environment(workspace, url, "smtp://127.0.0.1:9", base)
    env.pop("MAILER_SERVER_TIMING", None)
    proc = _Process(workspace.name, ["serve", "--host", "127.0.0.1", "--port", str(port)],
                    env, logs, None)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.proc.poll() is not None:
                raise SystemExit(f"mailer serve exited:\n{proc.tail()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(base + "/admin/login", timeout=5).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"mailer serve did not answer:\n{proc.tail()}")
            time.sleep(0.2)
        yield base
    finally:
        proc.proc.terminate()
        if proc.wait(10) is None:
            proc.proc.kill()
            proc.wait(10)


def measure(bases: dict[str, str], logins: dict[str, tuple[str, str, int, int]],
            requests: int,
            ) -> dict[str, dict[str, list[float]]]:
    """Seconds per request, per database and page: each page warmed up once, then asked
    ``requests`` times, alternately on the databases."""
    import httpx

    clients = {}
    for db, base in bases.items():
        cookie, token, _, _ = logins[db]
        clients[db] = (httpx.Client(base_url=base, timeout=300,
                                    cookies={"mailer-admin": cookie}),
                       {"authorization": f"Bearer {token}"})
    out: dict[str, dict[str, list[float]]] = {db: {} for db in bases}
    try:
        for what, _ in pages(0, 0):
            for _round in range(requests + 1):
                for db, (client, auth) in clients.items():
                    path = dict(pages(*logins[db][2:]))[what]
                    t = time.perf_counter()
                    r = client.get(path, headers=auth if path.startswith("/api") else None)
                    elapsed = time.perf_counter() - t
                    if r.status_code != 200:
                        raise SystemExit(f"{what} ({db}): {path} answered {r.status_code}: "
                                         f"{r.text[:500]}")
                    if _round:  # the first one warms up
                        out[db].setdefault(what, []).append(elapsed)
    finally:
        for client, _ in clients.values():
            client.close()
    return out


@contextlib.contextmanager
def databases(db: str, tmp: Path, keep: bool) -> Iterator[tuple[str, str]]:
    """(big, reference) database URLs: SQLite files in ``tmp`` or two PostgreSQL ones
    (created if need be; dropped after the run unless ``keep``)."""
    if db == "sqlite":
        yield f"sqlite:///{tmp / 'big.db'}", f"sqlite:///{tmp / 'ref.db'}"
        return
    from sqlalchemy.engine import make_url

    url = make_url(db)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    big = url.render_as_string(hide_password=False)
    ref = url.set(database=f"{url.database}_ref").render_as_string(hide_password=False)
    if keep:
        _create_if_missing(big)
        _create_if_missing(ref)
        yield big, ref
        return
    with postgres_database(big), postgres_database(ref):
        yield big, ref


def _create_if_missing(url: str) -> None:
    """The PostgreSQL database ``url`` names, created when it does not exist (kept)."""
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                        (parsed.database,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{parsed.database}"')


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=1_000_000, help="subscribers (default 1,000,000)")
    ap.add_argument("--db", default="sqlite",
                    help="sqlite (files in a temporary folder) or a PostgreSQL URL of a "
                         "database that does not exist yet (created and dropped)")
    ap.add_argument("--deliveries", type=int,
                    help="webhook deliveries on the big database (default twice -n)")
    ap.add_argument("--requests", type=int, default=5, help="timed requests per page")
    ap.add_argument("--target", type=float, default=300.0, help="ms; slower pages are marked")
    ap.add_argument("--keep", type=Path,
                    help="build the databases in DIR (SQLite; PostgreSQL: the servers' "
                         "workspaces) and keep them; reused when there")
    args = ap.parse_args()
    with contextlib.ExitStack() as stack:
        tmp = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory(
            prefix="mailer-admin-scale-")))
        tmp.mkdir(parents=True, exist_ok=True)
        big, ref = stack.enter_context(databases(args.db, tmp, args.keep is not None))
        t = time.perf_counter()
        deliveries = 2 * args.n if args.deliveries is None else args.deliveries
        logins = {"big": build(big, args.n, tmp / "big", deliveries),
                  "ref": build(ref, 1000, tmp / "ref", 2000)}
        print(f"built {args.n:,} and 1,000 subscribers in {time.perf_counter() - t:.0f} s "
              f"(not measured); {os.cpu_count()} CPUs; database "
              f"{'sqlite' if args.db == 'sqlite' else 'postgresql'}", flush=True)
        floor = bare_count(big)
        load_start = os.getloadavg()
        bases = {"big": stack.enter_context(server(big, tmp / "big", tmp)),
                 "ref": stack.enter_context(server(ref, tmp / "ref", tmp))}
        times = measure(bases, logins, args.requests)
        load_end = os.getloadavg()
    print(f"load average (1, 5, 15 min) at the start {', '.join(f'{x:.2f}' for x in load_start)}"
          f"; at the end {', '.join(f'{x:.2f}' for x in load_end)}")
    print(f"bare SELECT count(*) FROM subscriptions on the big database: {floor * 1000:.0f} ms")
    print(f"{'page':34} {'p50 ms':>8} {'max ms':>8} {'1,000: p50':>10} {'ratio':>7}"
          f" {'/count(*)':>9}")
    slow = 0
    for what, _ in pages(0, 0):
        b, r = times["big"][what], times["ref"][what]
        p50, p50_ref = statistics.median(b) * 1000, statistics.median(r) * 1000
        mark = "  <- over target" if p50 > args.target else ""
        slow += bool(mark)
        print(f"{what:34} {p50:8.0f} {max(b) * 1000:8.0f} {p50_ref:10.0f} "
              f"{p50 / p50_ref:6.1f}x {p50 / (floor * 1000 or 1):8.2f}x{mark}")
    print(f"{slow} page(s) over {args.target:.0f} ms with {args.n:,} subscribers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
