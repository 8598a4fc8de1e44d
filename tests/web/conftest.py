"""Fixtures for the web tests: the app on the test database, an HTTPS test client."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from mailer.config import Settings
from mailer.delivery.worker import deliver_due
from mailer.services.lists import create_list
from mailer.store.db import transaction
from mailer.store.models import ConsentEvent, Subscriber, Subscription
from mailer.web.app import create_app
from mailer.web.archive import StaticArchive
from tests.smtp_server import Received, SmtpServer

BASE = "https://nyhetsbrev.example.org"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def archive() -> StaticArchive:
    return StaticArchive()


@pytest.fixture
def app(settings: Settings, engine: Engine, archive: StaticArchive) -> FastAPI:
    return create_app(settings, engine=engine, archive=archive)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url=BASE, follow_redirects=False) as c:
        yield c


@pytest.fixture
def lists(engine: Engine) -> dict[str, int]:
    """A double opt-in list, a single opt-in list and a private list."""
    with transaction(engine) as s:
        a = create_list(s, "medborgardialog", "Nyhetsbrev om medborgardialog",
                        description="Nyheter, rapporter och exempel om medborgardialog.")
        b = create_list(s, "seminarier", "Seminarier och utbildningar", double_opt_in=False)
        c = create_list(s, "natverk-2023", "Nätverket 2023 (deltagare)", public=False)
        return {"medborgardialog": a.id, "seminarier": b.id, "natverk-2023": c.id}


def csrf(html: str) -> str:
    m = CSRF_RE.search(html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def subscription_status(engine: Engine, email: str, list_id: int) -> str | None:
    with transaction(engine) as s:
        sub = s.scalar(select(Subscription).join(Subscriber).where(
            Subscriber.email_key == email.lower(), Subscription.list_id == list_id))
        return None if sub is None else str(sub.status)


def consent_actions(engine: Engine) -> list[tuple[str, int | None, str]]:
    with transaction(engine) as s:
        return [(e.action, e.list_id, e.source) for e in
                s.scalars(select(ConsentEvent).order_by(ConsentEvent.id))]


def add_subscriber(engine: Engine, email: str, subs: dict[int, str], *, language: str = "sv",
                   name: str = "") -> int:
    from mailer.store.models import SubscriptionStatus, utcnow

    with transaction(engine) as s:
        sub = Subscriber(email=email, email_key=email.lower(), name=name, language=language)
        s.add(sub)
        s.flush()
        for list_id, status in subs.items():
            s.add(Subscription(subscriber_id=sub.id, list_id=list_id,
                               status=SubscriptionStatus(status), created_at=utcnow()))
        return sub.id


def deliver(engine: Engine, settings: Settings, smtp_server: SmtpServer,
            count: int) -> list[Received]:
    """Run the worker once (as ``mailer worker`` would) and wait for ``count`` messages:
    the web plans its mails in the outbox and answers at once; the worker sends them."""
    report = deliver_due(engine, settings)
    assert report.sent == count, report
    return smtp_server.wait_for(count)
