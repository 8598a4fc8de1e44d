"""The preferences page: lists, language, name, organisation, unsubscribe from everything."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from mailer.store.db import transaction
from mailer.store.models import ConsentEvent, Subscriber
from tests.web.conftest import add_subscriber, consent_actions, csrf, subscription_status


def test_change_lists_language_name_and_organisation(client: TestClient, engine: Engine,
                                                     app: FastAPI,
                                                     lists: dict[str, int]) -> None:
    md, sem, net = lists["medborgardialog"], lists["seminarier"], lists["natverk-2023"]
    sid = add_subscriber(engine, "anna@hylte.se", {md: "active", net: "active"}, name="Anna")
    url = app.state.web.links.preferences(sid)
    page = client.get(url)
    assert page.status_code == 200 and '<html lang="sv">' in page.text
    assert page.headers["cache-control"] == "no-store"
    # Public lists and the private list she is on; never other private lists.
    for name in ("Nyhetsbrev om medborgardialog", "Seminarier och utbildningar",
                 "Nätverket 2023"):
        assert name in page.text
    r = client.post(url, data={"csrf_token": csrf(page.text), "lists": [str(sem), str(net)],
                               "name": "  Anna   Berg ", "organisation": "Hylte kommun",
                               "language": "en"})
    assert r.status_code == 303 and r.headers["location"].endswith("?lang=en&saved=1")
    assert subscription_status(engine, "anna@hylte.se", md) == "unsubscribed"
    assert subscription_status(engine, "anna@hylte.se", sem) == "active"
    assert subscription_status(engine, "anna@hylte.se", net) == "active"
    with transaction(engine) as s:
        sub = s.get(Subscriber, sid)
        assert sub is not None
        assert (sub.name, sub.language, sub.organisation.name if sub.organisation else None) \
            == ("Anna Berg", "en", "Hylte kommun")
        ev = s.scalar(select(ConsentEvent).where(ConsentEvent.action == "subscribe"))
        assert ev is not None and ev.list_id == sem and "Seminarier" in ev.wording
    after = client.get(r.headers["location"])
    assert '<html lang="en">' in after.text and "Your changes have been saved." in after.text
    assert sorted(consent_actions(engine)) == sorted(
        [("unsubscribe", md, "preferences"), ("subscribe", sem, "preferences")])


def test_lists_not_offered_are_refused(client: TestClient, engine: Engine, app: FastAPI,
                                       lists: dict[str, int]) -> None:
    sid = add_subscriber(engine, "b@example.org", {lists["medborgardialog"]: "active"})
    url = app.state.web.links.preferences(sid)
    page = client.get(url)
    assert "Nätverket 2023" not in page.text
    for bad in (str(lists["natverk-2023"]), "999", "abc"):
        r = client.post(url, data={"csrf_token": csrf(page.text), "lists": bad, "name": "",
                                   "organisation": "", "language": "sv"})
        assert r.status_code == 422 and "Välj bland de nyhetsbrev som visas." in r.text
    r = client.post(url, data={"csrf_token": csrf(page.text), "name": "x" * 300,
                               "organisation": "", "language": "de"})
    assert r.status_code == 422
    assert "Namnet får vara högst 200 tecken" in r.text and "Välj svenska eller engelska" in r.text
    assert subscription_status(engine, "b@example.org", lists["medborgardialog"]) == "active"
    assert consent_actions(engine) == []


def test_unsubscribe_from_everything(client: TestClient, engine: Engine, app: FastAPI,
                                     lists: dict[str, int]) -> None:
    sid = add_subscriber(engine, "c@example.org", {lists["medborgardialog"]: "active",
                                                   lists["seminarier"]: "unconfirmed"})
    url = app.state.web.links.preferences(sid)
    page = client.get(url)
    r = client.post(f"{url}/unsubscribe-all", data={"csrf_token": csrf(page.text)})
    assert r.status_code == 303
    assert "Du har avslutat alla prenumerationer" in client.get(r.headers["location"]).text
    for slug in ("medborgardialog", "seminarier"):
        assert subscription_status(engine, "c@example.org", lists[slug]) == "unsubscribed"
    # Without the CSRF token nothing happens.
    r = client.post(f"{url}/unsubscribe-all", data={})
    assert r.status_code == 403


def test_preferences_token_is_checked(client: TestClient, engine: Engine, app: FastAPI,
                                      lists: dict[str, int]) -> None:
    sid = add_subscriber(engine, "d@example.org", {lists["medborgardialog"]: "active"})
    links = app.state.web.links
    assert client.get(links.preferences(sid) + "x").status_code == 400
    unsub_token = links.unsubscribe(sid, lists["medborgardialog"]).rsplit("/", 1)[1]
    assert client.get(f"/p/{unsub_token}").status_code == 400
    assert client.get(links.preferences(sid + 1000)).status_code == 404
