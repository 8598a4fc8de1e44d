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
        assert ev is not None and ev.list_id == sem
        assert ev.wording.startswith("[x] Seminarier och utbildningar\nJag vill få de nyhetsbrev")
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


def test_download_my_data(client: TestClient, engine: Engine, app: FastAPI,
                          lists: dict[str, int]) -> None:
    import json

    sid = add_subscriber(engine, "e@example.org", {lists["medborgardialog"]: "active"},
                         name="Eva")
    url = app.state.web.links.preferences(sid)
    page = client.get(url)
    assert client.post(f"{url}/data", data={}).status_code == 403
    r = client.post(f"{url}/data", data={"csrf_token": csrf(page.text)})
    assert r.status_code == 200
    assert r.headers["content-disposition"].startswith("attachment;")
    assert r.headers["cache-control"] == "no-store"
    data = json.loads(r.content)
    assert data["subscriber"]["email"] == "e@example.org" and data["subscriber"]["name"] == "Eva"
    assert [s["list"] for s in data["subscriptions"]] == ["medborgardialog"]


def test_erase_me_with_a_confirmation_step(client: TestClient, engine: Engine, app: FastAPI,
                                           lists: dict[str, int]) -> None:
    lid = lists["medborgardialog"]
    sid = add_subscriber(engine, "f@example.org", {lid: "active"})
    url = app.state.web.links.preferences(sid)
    page = client.get(url)
    erase = client.get(f"{url}/erase")
    assert erase.status_code == 200 and "Skriv RADERA för att bekräfta" in erase.text
    # Without typing the word: refused with a clear message, nothing erased.
    r = client.post(f"{url}/erase", data={"csrf_token": csrf(erase.text), "confirm": "ja"})
    assert r.status_code == 422 and "Skriv RADERA för att bekräfta att allt ska raderas" in r.text
    assert subscription_status(engine, "f@example.org", lid) == "active"
    assert client.post(f"{url}/erase", data={"confirm": "RADERA"}).status_code == 403
    r = client.post(f"{url}/erase", data={"csrf_token": csrf(page.text), "confirm": "radera"})
    assert r.status_code == 200 and "Dina uppgifter har raderats" in r.text
    with transaction(engine) as s:
        assert s.get(Subscriber, sid) is None
        events = list(s.scalars(select(ConsentEvent)))
        assert [e.action for e in events] == ["erase"]
        assert events[0].subscriber_id is None and events[0].source == "preferences-page"
    # The old links now lead to a friendly "nothing stored" page.
    assert client.get(url).status_code == 404
    assert client.get(app.state.web.links.unsubscribe(sid, lid)).status_code == 404


def test_saving_the_page_leaves_a_sign_up_waiting_for_its_link(
        client: TestClient, engine: Engine, app: FastAPI, lists: dict[str, int]) -> None:
    """A sign-up still waiting for its confirmation link shows unticked (with a word on
    why); saving the page to change the organisation must not end it, log an unsubscribe
    nobody asked for, and leave the confirmation link saying "you have unsubscribed"."""
    lid, pending = lists["medborgardialog"], lists["seminarier"]
    sid = add_subscriber(engine, "f@example.org", {lid: "active", pending: "unconfirmed"})
    url = app.state.web.links.preferences(sid)
    page = client.get(url)
    assert f'id="list-{pending}" name="lists" value="{pending}">' in page.text  # unticked
    assert "Väntar på att du bekräftar den med länken i e-brevet" in page.text
    r = client.post(url, data={"csrf_token": csrf(page.text), "lists": [str(lid)],
                               "name": "Fia", "organisation": "Lunds kommun",
                               "language": "sv"})
    assert r.status_code == 303
    assert subscription_status(engine, "f@example.org", pending) == "unconfirmed"
    assert subscription_status(engine, "f@example.org", lid) == "active"
    assert consent_actions(engine) == []
    confirm = client.get(app.state.web.links.confirm(sid, pending))
    assert confirm.status_code == 200 and "Bekräfta prenumerationen" in confirm.text
    # Unticking what is on still ends it; ticking the waiting one starts it.
    page = client.get(url)
    r = client.post(url, data={"csrf_token": csrf(page.text), "lists": [str(pending)],
                               "name": "Fia", "organisation": "", "language": "sv"})
    assert subscription_status(engine, "f@example.org", lid) == "unsubscribed"
    assert subscription_status(engine, "f@example.org", pending) == "active"
