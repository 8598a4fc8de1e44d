"""The built-in registration page: GET changes nothing, POST registers, seats per organisation."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from mailer.config import Settings
from mailer.domain.registration import RegistrationHow, RegistrationStatus
from mailer.store.db import transaction
from mailer.store.models import RegistrationRow
from mailer.store.reconfirmations import ask_for_year
from mailer.store.registrations import register
from mailer.tokens import Purpose
from tests.invite_helpers import ISSUE, SLUG, invited
from tests.web.conftest import csrf

NOW = datetime(2023, 2, 1, 10, tzinfo=UTC)


def _setup(settings: Settings, engine: Engine, app: FastAPI) -> tuple[int, dict[str, int]]:
    folder = settings.workspace / "issues" / SLUG
    folder.mkdir(parents=True)
    shutil.copy(ISSUE, folder / "issue.yaml")
    app.state.web.now = lambda: NOW
    with transaction(engine) as s:
        row, subs = invited(s)
        return row.id, {e: sub.id for e, sub in subs.items()}


def _url(app: FastAPI, subscriber_id: int, invitation_id: int) -> str:
    token = app.state.web.tokens.make(Purpose.register, subscriber_id, invitation_id)
    return f"/register/{SLUG}/{token}"


def _statuses(engine: Engine) -> dict[int, RegistrationStatus]:
    with transaction(engine) as s:
        return {r.subscriber_id: r.status for r in s.scalars(select(RegistrationRow))}


def test_register_through_the_page(settings: Settings, engine: Engine, app: FastAPI,
                                   client: TestClient) -> None:
    inv_id, ids = _setup(settings, engine, app)
    url = _url(app, ids["anna.andersson@hylte.se"], inv_id)
    page = client.get(url)
    assert page.status_code == 200 and "Hylte kommun" in page.text
    assert "0 av 2 tagna" in page.text and "900 kr/år/person" in page.text
    assert _statuses(engine) == {}  # a GET (or a mail scanner) registers nobody
    done = client.post(url, data={"csrf_token": csrf(page.text), "action": "register"})
    assert done.status_code == 200 and "Tack! Du är anmäld." in done.text
    assert _statuses(engine) == {ids["anna.andersson@hylte.se"]: RegistrationStatus.registered}
    with transaction(engine) as s:
        (row,) = s.scalars(select(RegistrationRow))
        assert row.how is RegistrationHow.form
    # posting again changes nothing
    again = client.post(url, data={"csrf_token": csrf(page.text), "action": "register"})
    assert "är anmäld för Hylte kommun" in again.text and len(_statuses(engine)) == 1


def test_full_organisation_and_bad_links(settings: Settings, engine: Engine, app: FastAPI,
                                         client: TestClient) -> None:
    inv_id, ids = _setup(settings, engine, app)
    with transaction(engine) as s:
        from mailer.store.invitations import get_invitation
        from mailer.store.registrations import get_subscriber

        row = get_invitation(s, SLUG)
        for e in ("anna.andersson@hylte.se", "bengt.berg@hylte.se"):
            register(s, row, get_subscriber(s, e), how=RegistrationHow.coordinator, now=NOW)
    url = _url(app, ids["cecilia.claesson@hylte.se"], inv_id)
    page = client.get(url)
    assert "Alla platser för Hylte kommun är tagna" in page.text
    assert 'value="register"' not in page.text
    post = client.post(url, data={"csrf_token": csrf(client.get(_url(
        app, ids["eva.ek@uppsala.se"], inv_id)).text), "action": "register"})
    assert post.status_code == 200 and len(_statuses(engine)) == 2
    assert client.get(url[:-3] + "xyz").status_code == 400  # tampered
    other = app.state.web.tokens.make(Purpose.register, ids["eva.ek@uppsala.se"], inv_id)
    assert client.get(f"/register/2019-natverk-fortroendevalda/{other}").status_code == 404


def test_closed_after_the_deadline(settings: Settings, engine: Engine, app: FastAPI,
                                   client: TestClient) -> None:
    inv_id, ids = _setup(settings, engine, app)
    app.state.web.now = lambda: datetime(2023, 2, 16, tzinfo=UTC)
    page = client.get(_url(app, ids["eva.ek@uppsala.se"], inv_id))
    assert "Anmälan stängde 15 februari 2023" in page.text


def test_yearly_reconfirmation_answer(settings: Settings, engine: Engine, app: FastAPI,
                                      client: TestClient) -> None:
    inv_id, ids = _setup(settings, engine, app)
    with transaction(engine) as s:
        from mailer.store.invitations import get_invitation
        from mailer.store.registrations import get_subscriber

        row = get_invitation(s, SLUG)
        register(s, row, get_subscriber(s, "eva.ek@uppsala.se"),
                 how=RegistrationHow.coordinator, now=NOW)
        ask_for_year(s, row, 2024, now=datetime(2023, 11, 15, tzinfo=UTC))
    app.state.web.now = lambda: datetime(2023, 11, 20, tzinfo=UTC)
    url = _url(app, ids["eva.ek@uppsala.se"], inv_id)
    page = client.get(url)
    assert "Deltar du även 2024?" in page.text
    done = client.post(url, data={"csrf_token": csrf(page.text), "action": "yes"})
    assert "Tack för ditt svar." in done.text and "Ditt svar: ja" in done.text
