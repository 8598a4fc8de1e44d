"""Issue 13: reads never take SQLite's write lock, and a write that cannot get it fails
cleanly. Another process's connection (here: a plain sqlite3 connection) holds the write
lock with BEGIN IMMEDIATE, as a long import batch or a worker's transaction would: API GETs
and the public read-only pages still answer 200; a one-click unsubscribe waits for the
lock and succeeds once it is free, or, past the busy timeout, is answered 503 with
Retry-After (API: a JSON error), never 500, with nothing changed."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, select

import mailer.store.db as store_db
from mailer.config import Settings
from mailer.render.types import RenderedMailing
from mailer.services import accounts
from mailer.services.mailings import plan_mailing
from mailer.store.db import _writers_of, reading, transaction
from mailer.store.models import (
    ApiToken,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    UserSession,
)
from mailer.web.app import create_app
from tests.delivery_support import add_subscribers

# SQLite's database-wide write lock: these tests have no PostgreSQL counterpart.
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

#: Generous bounds for a loaded CI machine: no latency claim, only "did not wait for the
#: lock" (which would be the 30 s busy timeout, or forever).
PROMPT_S = 10.0


@dataclass
class Site:
    app: FastAPI
    client: TestClient
    list_id: int
    mailing_id: int
    sid: int  # a subscriber of the list
    token: str  # an admin's API token
    one_click: str  # the subscriber's unsubscribe link (path)


def _site(engine: Engine, settings: Settings) -> Site:
    list_id = add_subscribers(engine, 3)
    now = datetime.now(UTC)
    with transaction(engine) as s:
        mailing, _ = plan_mailing(s, RenderedMailing(subject="Nummer 1", language="sv",
                                                     html="<p>x</p>", text="x"),
                                  kind="newsletter", now=now, list_slugs=["medborgardialog"])
        user = accounts.create_user(s, "redaktor@example.org", role="admin", now=now,
                                    password="ett-langt-losenord-123")
        token = accounts.create_api_token(s, user, name="test", now=now).secret
        sid = s.scalar(select(Subscriber.id).order_by(Subscriber.id))
    assert sid is not None
    app = create_app(settings, engine=engine)
    one_click = app.state.web.links.unsubscribe(sid, list_id).removeprefix(settings.base_url)
    return Site(app, TestClient(app, raise_server_exceptions=False), list_id, mailing.id,
                sid, token, one_click)


def _status(engine: Engine, sid: int, list_id: int) -> str:
    with transaction(engine) as s:
        sub = s.scalar(select(Subscription).where(Subscription.subscriber_id == sid,
                                                  Subscription.list_id == list_id))
        assert sub is not None
        return SubscriptionStatus(sub.status).value


@SQLITE_ONLY
def test_reads_answer_while_another_connection_holds_the_write_lock(
        engine: Engine, settings: Settings, write_lock_holder: sqlite3.Connection) -> None:
    site = _site(engine, settings)
    app, client, list_id, mailing_id, sid = (site.app, site.client, site.list_id,
                                             site.mailing_id, site.sid)
    api = {"Authorization": f"Bearer {site.token}"}
    one_click = site.one_click

    write_lock_holder.execute("BEGIN IMMEDIATE")
    reads = {
        "/api/lists": api, "/api/lists/medborgardialog": api,
        "/api/subscribers?q=person": api, f"/api/subscribers/{sid}": api,
        "/api/mailings": api, f"/api/mailings/{mailing_id}": api, "/api/segments": api,
        "/api/suppressions": api,
        "/archive/medborgardialog": {}, f"/archive/view/{mailing_id}": {}, "/": {},
        "/subscribe/medborgardialog": {}, one_click: {},  # GET: the page, no change
        app.state.web.links.preferences(sid).removeprefix(settings.base_url): {},
    }
    for path, headers in reads.items():
        started = time.monotonic()
        r = client.get(path, headers=headers)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        assert time.monotonic() - started < PROMPT_S, path
    # The token's last use is noted after the answer, in a write of its own that does
    # not wait for the lock: not yet.
    with reading(engine) as s:
        assert s.scalar(select(ApiToken.last_used_at)) is None

    # A write waits for the lock and goes through once it is free.
    released = threading.Event()

    def release() -> None:
        released.set()
        write_lock_holder.execute("COMMIT")

    threading.Timer(0.5, release).start()
    started = time.monotonic()
    r = client.post(one_click, data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200, r.text[:300]
    assert released.is_set()  # it waited for the lock to be free
    assert time.monotonic() - started < PROMPT_S
    assert _status(engine, sid, list_id) == "unsubscribed"
    assert client.get("/api/lists", headers=api).status_code == 200
    with transaction(engine) as s:
        assert s.scalar(select(ApiToken.last_used_at)) is not None  # the lock is free


@SQLITE_ONLY
def test_a_write_that_cannot_get_the_lock_is_503_not_500(
        engine: Engine, settings: Settings, write_lock_holder: sqlite3.Connection,
        monkeypatch: pytest.MonkeyPatch) -> None:
    site = _site(engine, settings)
    client, list_id, sid, token, one_click = (site.client, site.list_id, site.sid,
                                              site.token, site.one_click)
    monkeypatch.setattr(store_db, "SQLITE_BUSY_TIMEOUT_MS", 300)

    write_lock_holder.execute("BEGIN IMMEDIATE")
    r = client.post(one_click, data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 503, r.text[:300]
    assert r.headers["retry-after"] == "5"
    assert "Försök igen" in r.text or "Try again" in r.text
    r = client.post("/api/subscribers", headers={"Authorization": f"Bearer {token}"},
                    json={"email": "ny@example.org", "list": "medborgardialog"})
    assert r.status_code == 503, r.text[:300]
    assert r.json()["error"]["code"] == "busy" and r.headers["retry-after"] == "5"
    write_lock_holder.execute("ROLLBACK")
    assert _status(engine, sid, list_id) == "active"  # nothing changed
    r = client.post(one_click, data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200
    assert _status(engine, sid, list_id) == "unsubscribed"


@SQLITE_ONLY
def test_server_timing_shows_the_wait_for_the_write_lock(
        engine: Engine, settings: Settings, write_lock_holder: sqlite3.Connection) -> None:
    """MAILER_SERVER_TIMING: a one-click that waited for another connection's write lock
    says so in its Server-Timing header; a read at the same time waited for no lock."""
    site = _site(engine, settings.model_copy(update={"server_timing": True}))
    write_lock_holder.execute("BEGIN IMMEDIATE")
    read = site.client.get(f"/archive/view/{site.mailing_id}")
    answers: list[Response] = []
    post = threading.Thread(target=lambda: answers.append(site.client.post(
        site.one_click, data={"List-Unsubscribe": "One-Click"})))
    post.start()
    writers = _writers_of(engine.url.database or "")
    deadline = time.monotonic() + PROMPT_S
    while not writers.has_waiting():  # the one-click waits for the lock now
        assert time.monotonic() < deadline, "the one-click never waited for the lock"
        time.sleep(0.01)
    time.sleep(0.3)
    write_lock_holder.execute("COMMIT")
    post.join(PROMPT_S)
    (r,) = answers
    assert r.status_code == 200 and read.status_code == 200
    phases = _server_timing(r.headers["server-timing"])
    assert phases["lock"] >= 300 and phases["connect"] >= phases["lock"]
    assert phases["app"] >= phases["work"] >= phases["connect"]
    assert {"pool", "gate", "sql", "held", "commit", "cpu", "t0"} <= phases.keys()
    # It waited for another connection (at least the 300 ms above), not for this process.
    assert phases["gate"] < phases["lock"]
    assert "lock" not in _server_timing(read.headers["server-timing"])


def _server_timing(header: str) -> dict[str, float]:
    found = {}
    for metric in header.split(","):
        name, *params = (p.strip() for p in metric.split(";"))
        value = next(p.split("=", 1)[1].strip('"') for p in params
                     if p.startswith(("dur=", "desc=")))
        found[name] = float(value)
    return found


@SQLITE_ONLY
def test_admin_pages_answer_while_another_connection_holds_the_write_lock(
        engine: Engine, settings: Settings, write_lock_holder: sqlite3.Connection,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The admin's GET pages read (their session's last use is noted after the answer, by a
    write that does not wait): they answer while another connection holds the lock."""
    site = _site(engine, settings)
    monkeypatch.setattr(store_db, "SQLITE_BUSY_TIMEOUT_MS", 300)  # a write would be a 503
    with TestClient(site.app, base_url="https://nyhetsbrev.example.org",
                    follow_redirects=False) as admin:
        page = admin.get("/admin/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        r = admin.post("/admin/login", data={"email": "redaktor@example.org",
                                             "password": "ett-langt-losenord-123",
                                             "csrf_token": token.group(1), "next": "/admin"})
        assert r.status_code == 303, r.text[:300]
        monkeypatch.setattr(accounts, "SEEN_EVERY", timedelta(0))  # every page notes it
        with reading(engine) as s:
            seen = s.scalar(select(UserSession.last_seen_at))
        write_lock_holder.execute("BEGIN IMMEDIATE")
        for path in ("/admin", "/admin/lists", "/admin/lists/medborgardialog",
                     "/admin/subscribers?q=person", f"/admin/subscribers/{site.sid}",
                     "/admin/mailings", f"/admin/mailings/{site.mailing_id}",
                     "/admin/segments", "/admin/suppressions", "/admin/users",
                     "/admin/webhooks", "/admin/account", "/admin/issues"):
            started = time.monotonic()
            r = admin.get(path)
            assert r.status_code == 200, (path, r.status_code, r.text[:300])
            assert time.monotonic() - started < PROMPT_S, path
        write_lock_holder.execute("ROLLBACK")
        with reading(engine) as s:  # the notes did not wait for the lock: none yet
            assert s.scalar(select(UserSession.last_seen_at)) == seen
        assert admin.get("/admin").status_code == 200
        with reading(engine) as s:
            assert s.scalar(select(UserSession.last_seen_at)) != seen
