"""Registration pages for an invitation (the 2023 network), on an in-memory desk.

The same pages on the real store, with the confirmation mail through the outbox, are in
``test_register_store.py``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mailer.domain.invitation import Cost
from mailer.tokens import Purpose
from mailer.web.registration import (
    InvitationFacts,
    MeetingFact,
    Registrant,
    StaticDesk,
)
from tests.web.conftest import csrf

SLUG = "2023-natverk-tjanstepersoner"


def network_2023() -> InvitationFacts:
    return InvitationFacts(
        invitation_id=7, slug=SLUG,
        title="Professionsnätverk för tjänstepersoner 2023",
        deadline=datetime(2023, 2, 15, 22, 59, tzinfo=UTC), seats_max=2, transferable=True,
        meetings=(MeetingFact(date(2023, 2, 10), time(9), time(10), online=True,
                              title="Webbsändning"),
                  MeetingFact(date(2023, 3, 10), time(10), time(15), online=True,
                              platform="Zoom", title="Första träffen"),
                  MeetingFact(date(2023, 10, 11), place="Stockholm", title="Höstens heldag")),
        cost=Cost(amount=Decimal(900)))


def person(sid: int, name: str, org: str, lang: str = "sv") -> Registrant:
    return Registrant(sid, f"p{sid}@example.org", name, org, lang, 0, False)


@pytest.fixture
def desk() -> StaticDesk:
    return StaticDesk(invitations={7: network_2023()},
                      people={1: person(1, "Anna Berg", "Hylte kommun"),
                              2: person(2, "Bo Ek", "Hylte kommun"),
                              3: person(3, "Cia Lund", "Hylte kommun", "en"),
                              4: person(4, "", "")})


@pytest.fixture
def app(settings, engine, archive, desk: StaticDesk) -> FastAPI:  # type: ignore[no-untyped-def]
    from mailer.web.app import create_app

    app = create_app(settings, engine=engine, archive=archive, desk=desk)
    app.state.web.now = lambda: datetime(2023, 2, 1, 9, 0, tzinfo=UTC)
    return app


def link(app: FastAPI, sid: int, invitation_id: int = 7, slug: str = SLUG) -> str:
    return app.state.web.links.register(slug, sid, invitation_id)


def test_register_and_seats_full(client: TestClient, app: FastAPI) -> None:
    page = client.get(link(app, 1))
    assert page.status_code == 200
    for fact in ("900 kr/år/person", "15 februari 2023 23:59", "2 av 2 kvar",
                 "10 mars 2023", "10.00–15.00", "Zoom", "Stockholm",
                 'value="Anna Berg"', '<option value="1315" selected>Hylte kommun</option>'):
        assert fact in page.text, fact
    r = client.post(link(app, 1), data={"csrf_token": csrf(page.text), "name": "Anna Berg",
                                        "organisation": "Hylte kommun"})
    assert r.status_code == 200 and "Du är anmäld." in r.text
    # Registering again is harmless.
    assert "Du är redan anmäld." in client.get(link(app, 1)).text

    page = client.get(link(app, 2))
    assert "1 av 2 kvar" in page.text
    assert client.post(link(app, 2), data={"csrf_token": csrf(page.text), "name": "Bo Ek",
                                           "organisation": "Hylte kommun"}).status_code == 200
    # The third from the same municipality is refused, clearly, with no form.
    full = client.get(link(app, 3))
    assert full.status_code == 409
    assert "Your organisation&#39;s seats are taken" in full.text
    assert "Hylte kommun already has 2 of 2 seats" in full.text
    assert 'name="name"' not in full.text


def test_seats_taken_between_page_and_post(client: TestClient, app: FastAPI,
                                           desk: StaticDesk) -> None:
    page = client.get(link(app, 3))
    desk.seats[(7, "hylte kommun")] = [1, 2]  # two colleagues were quicker
    r = client.post(link(app, 3), data={"csrf_token": csrf(page.text), "name": "Cia Lund",
                                        "organisation": "Hylte kommun"})
    assert r.status_code == 409 and "already has 2 of 2 seats" in r.text


def test_closed_after_the_deadline(client: TestClient, app: FastAPI) -> None:
    page = client.get(link(app, 1))
    app.state.web.now = lambda: datetime(2023, 2, 16, tzinfo=UTC)
    r = client.get(link(app, 1))
    assert r.status_code == 410 and "Anmälan har stängt" in r.text
    assert "15 februari 2023" in r.text
    r = client.post(link(app, 1), data={"csrf_token": csrf(page.text), "name": "Anna",
                                        "organisation": "Hylte kommun"})
    assert r.status_code == 410


def test_validation(client: TestClient, app: FastAPI) -> None:
    page = client.get(link(app, 4))
    r = client.post(link(app, 4), data={"csrf_token": csrf(page.text), "name": " ",
                                        "organisation": ""})
    assert r.status_code == 422
    assert "Ange ditt namn." in r.text and "Ange din organisation" in r.text


def test_bad_links(client: TestClient, app: FastAPI, desk: StaticDesk) -> None:
    assert client.get(link(app, 1) + "x").status_code == 400
    assert client.get(link(app, 1, slug="2019-natverk-fortroendevalda")).status_code == 400
    assert client.get(link(app, 1, invitation_id=8)).status_code == 404
    assert client.get(link(app, 99)).status_code == 404
    token = app.state.web.tokens.make(Purpose.unsubscribe, 1, 7)
    assert client.get(f"/register/{SLUG}/{token}").status_code == 400


def test_register_pages_accessibility_basics(client: TestClient, app: FastAPI,
                                             desk: StaticDesk) -> None:
    from tests.web.test_a11y import check

    page = client.get(link(app, 1))
    check(page.text, "register form")
    r = client.post(link(app, 1), data={"csrf_token": csrf(page.text), "name": "",
                                        "organisation": ""})
    check(r.text, "register with errors")
    desk.seats[(7, "hylte kommun")] = [1, 2]
    check(client.get(link(app, 3)).text, "seats full")
    assert "<script" not in r.text


def test_organisation_from_the_official_list_or_typed_counts_against_one_seat_limit(
        client: TestClient, app: FastAPI) -> None:
    """Issue 13, item 9: "Hylte kommun (IT)" does not get around a full Hylte."""
    page = client.get(link(app, 1))
    assert '<optgroup label="Kommuner">' in page.text and ">Region Halland</option>" in page.text
    assert client.post(link(app, 1), data={"csrf_token": csrf(page.text), "name": "Anna Berg",
                                           "organisation_code": "1315",
                                           "organisation": ""}).status_code == 200
    page = client.get(link(app, 2))
    assert client.post(link(app, 2), data={"csrf_token": csrf(page.text), "name": "Bo Ek",
                                           "organisation_code": "other",
                                           "organisation": "Hylte kommun (IT)"}
                       ).status_code == 200
    full = client.get(link(app, 3))  # both seats went to Hylte, however it was written
    assert full.status_code == 409 and "Hylte kommun already has 2 of 2 seats" in full.text
