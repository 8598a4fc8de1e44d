"""Fixtures and helpers for the admin and API tests: users of each role, logged-in clients."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from mailer.config import Settings
from mailer.services import accounts
from mailer.store.db import transaction
from mailer.store.models import utcnow
from mailer.web.app import create_app
from mailer.web.archive import StaticArchive

BASE = "https://nyhetsbrev.example.org"
PASSWORD = "correct horse battery staple"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
EMAILS = {"admin": "ada@example.org", "editor": "eddie@example.org",
          "coordinator": "cora@example.org"}


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with small parameters: same code path, milliseconds instead of ~0.3 s."""
    monkeypatch.setattr(accounts, "HASHER",
                        PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    monkeypatch.setattr(accounts, "_DUMMY_HASH", None)


@pytest.fixture
def app(settings: Settings, engine: Engine) -> FastAPI:
    return create_app(settings, engine=engine, archive=StaticArchive())


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url=BASE, follow_redirects=False) as c:
        yield c


@pytest.fixture
def team(engine: Engine) -> dict[str, int]:
    """One user of each role, all with PASSWORD."""
    ids = {}
    with transaction(engine) as s:
        for role, email in EMAILS.items():
            ids[role] = accounts.create_user(s, email, role=role, name=role.title(),
                                             password=PASSWORD, now=utcnow()).id
    return ids


def csrf(html: str) -> str:
    m = CSRF_RE.search(html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def login(client: TestClient, email: str, password: str = PASSWORD, *,
          lang: str | None = None) -> None:
    """Log in through the form; ``lang`` chooses the pages' language (kept in a cookie)."""
    page = client.get("/admin/login" + (f"?lang={lang}" if lang else ""))
    r = client.post("/admin/login", data={"email": email, "password": password,
                                          "csrf_token": csrf(page.text), "next": "/admin"})
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/admin"


def token_for(engine: Engine, role: str) -> str:
    with transaction(engine) as s:
        user = accounts.get_user(s, EMAILS[role])
        return accounts.create_api_token(s, user, name="test", now=utcnow()).secret


def post_form(client: TestClient, page_url: str, action: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
    """GET a page, take its CSRF token, POST ``data`` to ``action``."""
    page = client.get(page_url)
    assert page.status_code == 200, page.text
    return client.post(action, data={**data, "csrf_token": csrf(page.text)})
