"""Webhook endpoints in the admin and the API: add, the secret shown once, the log,
switch off and on, remove; only admins see them."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from standardwebhooks.webhooks import Webhook

from mailer.config import Settings
from mailer.delivery.worker import deliver_due
from mailer.services import webhooks
from mailer.services.mailings import plan_mailing
from mailer.store.db import transaction
from tests.admin.conftest import EMAILS, csrf, login, post_form, token_for
from tests.delivery_support import add_subscribers, synthetic_rendered
from tests.webhook_receiver import Receiver


def test_admin_adds_an_endpoint_sees_its_log_and_switches_it(
        client: TestClient, team: dict[str, int], engine: Engine, settings: Settings,
        receiver: Receiver) -> None:
    login(client, EMAILS["admin"])
    page = client.get("/admin/webhooks")
    assert page.status_code == 200 and "Inga mottagare ännu." in page.text
    bad = client.post("/admin/webhooks", data={"csrf_token": csrf(page.text),
                                               "url": receiver.url})
    assert bad.status_code == 422 and "välj minst en händelsetyp" in bad.text  # Swedish
    r = client.post("/admin/webhooks", data={
        "csrf_token": csrf(page.text), "url": receiver.url, "description": "CRM",
        "events": ["bounce", "subscriber.confirmed"]})
    assert r.status_code == 200
    m = re.search(r"<code>(whsec_[A-Za-z0-9+/=]+)</code>", r.text)
    assert m, "the secret is shown once"
    secret = m.group(1)
    assert "Levererade" in r.text and "CRM" in r.text
    with transaction(engine) as s:
        (ep,) = webhooks.endpoints(s)
        webhooks.emit(s, "bounce", {"subscriber": {"id": 1}, "kind": "hard"})
    deliver_due(engine, settings)
    (got,) = receiver.received
    Webhook(secret).verify(got.body, got.headers)
    page = client.get(f"/admin/webhooks/{ep.id}")
    assert "<code>bounce</code>" in page.text and got.headers["webhook-id"] in page.text
    assert secret not in page.text  # never shown again
    r = client.post(f"/admin/webhooks/{ep.id}", data={"csrf_token": csrf(page.text),
                                                      "action": "disable"})
    assert r.status_code == 303
    page = client.get(f"/admin/webhooks/{ep.id}")
    assert "Avstängd" in page.text and "Slå på" in page.text
    r = client.post(f"/admin/webhooks/{ep.id}", data={"csrf_token": csrf(page.text),
                                                      "action": "remove"})
    assert r.status_code == 303
    assert "Inga mottagare ännu." in client.get("/admin/webhooks").text


def test_only_admins_see_webhooks(client: TestClient, team: dict[str, int]) -> None:
    login(client, EMAILS["editor"])
    assert client.get("/admin/webhooks").status_code == 403
    assert "/admin/webhooks" not in client.get("/admin").text


def test_the_dashboard_warns_admins_of_an_endpoint_switched_off_for_failing(
        client: TestClient, team: dict[str, int], engine: Engine, settings: Settings,
        receiver: Receiver) -> None:
    """The worker switches an endpoint off after days of failures; the admins hear of it
    on the dashboard, not only in the worker's log."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from mailer.store.models import WebhookEndpoint

    with transaction(engine) as s:
        ep, _ = webhooks.add_endpoint(s, receiver.url, "bounce", description="CRM")
        webhooks.emit(s, "bounce", {"subscriber": {"id": 1}})
        s.execute(update(WebhookEndpoint).values(
            failing_since=datetime.now(UTC) - timedelta(days=6)))
    receiver.status = 503
    fast = settings.model_copy(update={"webhook_retry_base_seconds": 0.05,
                                       "webhook_retry_cap_seconds": 0.2})
    report = deliver_due(engine, fast)
    assert report.webhooks is not None and report.webhooks.disabled == [ep.id]
    login(client, EMAILS["admin"])
    dash = client.get("/admin").text
    warning = dash.split(f'id="webhook-off-{ep.id}"')[1].split("</div>")[0]
    assert f"Webhook-mottagare {ep.id} är avstängd" in warning, warning
    assert f'<a href="/admin/webhooks/{ep.id}">CRM</a>' in warning
    client.cookies.clear()
    login(client, EMAILS["editor"])  # may not see or fix webhooks: no warning
    assert "webhook-off-" not in client.get("/admin").text
    with transaction(engine) as s:
        webhooks.enable_endpoint(s, ep.id)
    client.cookies.clear()
    login(client, EMAILS["admin"])
    assert "webhook-off-" not in client.get("/admin").text


def test_api_create_log_enable_delete(client: TestClient, team: dict[str, int],
                                      engine: Engine, settings: Settings,
                                      receiver: Receiver) -> None:
    auth = {"authorization": f"Bearer {token_for(engine, 'admin')}"}
    r = client.post("/api/webhooks", headers=auth, json={
        "url": receiver.url, "events": ["mailing.finished", "nope"]})
    assert r.status_code == 400 and "unknown event type(s) nope" in r.json()["error"]["message"]
    r = client.post("/api/webhooks", headers=auth, json={
        "url": receiver.url, "events": ["bounce"]})
    assert r.status_code == 201
    created = r.json()
    assert created["secret"].startswith("whsec_") and created["enabled"] is True
    with transaction(engine) as s:
        webhooks.emit(s, "bounce", {"subscriber": {"id": 2}})
    deliver_due(engine, settings)
    Webhook(created["secret"]).verify(receiver.received[0].body, receiver.received[0].headers)
    (line,) = client.get(f"/api/webhooks/{created['id']}/log", headers=auth).json()
    assert (line["type"], line["status"], line["ok"], line["attempt"]) == ("bounce", 200, True, 1)
    listed = client.get("/api/webhooks", headers=auth).json()
    assert [(w["id"], w["delivered"], w["waiting"]) for w in listed] == [(created["id"], 1, 0)]
    assert "secret" not in listed[0]
    editor = {"authorization": f"Bearer {token_for(engine, 'editor')}"}
    assert client.get("/api/webhooks", headers=editor).status_code == 403
    assert client.post(f"/api/webhooks/{created['id']}/enable", headers=auth).status_code == 200
    assert client.delete(f"/api/webhooks/{created['id']}", headers=auth).status_code == 204
    assert client.get(f"/api/webhooks/{created['id']}", headers=auth).status_code == 404


def test_refusals_name_their_field_in_the_api_and_beside_it_in_the_admin(
        client: TestClient, team: dict[str, int], engine: Engine) -> None:
    """A URL with "events" in it is refused beside the URL field (the field was guessed
    from the message's words); the API names the field, and no CLI flag (--secret)."""
    auth = {"authorization": f"Bearer {token_for(engine, 'admin')}"}

    def refused(body: dict[str, object]) -> dict[str, str]:
        r = client.post("/api/webhooks", headers=auth, json=body)
        assert r.status_code == 400, r.text
        return r.json()["error"]  # type: ignore[no-any-return]

    assert refused({"url": "ftp://crm.example.org/events", "events": ["all"]})["field"] == "url"
    assert refused({"url": "https://crm.example.org/", "events": ["nope"]})["field"] == "events"
    secret = refused({"url": "https://crm.example.org/", "events": ["all"], "secret": "abc"})
    assert secret["field"] == "secret" and "--secret" not in secret["message"]
    r = client.post("/api/suppressions", headers=auth, json={"email": "a@b.se", "reason": "z"})
    assert r.json()["error"]["field"] == "reason"
    r = client.post("/api/suppressions", headers=auth, json={"email": "inte-en-adress"})
    assert r.json()["error"]["field"] == "email"

    login(client, EMAILS["admin"])
    page = client.get("/admin/webhooks")
    r = client.post("/admin/webhooks", data={"csrf_token": csrf(page.text),
                                             "url": "ftp://crm.example.org/events",
                                             "events": "bounce"})
    assert r.status_code == 422
    assert '<div class="field has-error">' in r.text, r.text  # the URL's
    assert '<fieldset class="field has-error">' not in r.text  # not the events'
    assert "webhookadressen 'ftp://crm.example.org/events' måste vara" in html.unescape(r.text)


def test_the_subscribers_page_lists_the_events_about_them(
        client: TestClient, team: dict[str, int], engine: Engine) -> None:
    """They were English JSON under "Övriga uppgifter"; now a table, times local."""
    from sqlalchemy import select

    from mailer.store.models import Subscriber
    from tests.delivery_support import add_subscribers

    add_subscribers(engine, 2)
    with transaction(engine) as s:
        webhooks.add_endpoint(s, "http://127.0.0.1:9/x", "all")
        anna, other = s.scalars(select(Subscriber).order_by(Subscriber.id)).all()
        first = webhooks.emit(s, "bounce", {"subscriber": webhooks.subscriber_payload(anna)})
        anna_id, other_id = anna.id, other.id
    login(client, EMAILS["editor"])
    page = client.get(f"/admin/subscribers/{anna_id}").text
    table = page.split('id="webhook-events"')[1].split("</table>")[0]
    assert f"<td><code>bounce</code></td><td><code>{first}</code></td>" in table, table
    assert "Skickat till andra system" in page and "Övriga uppgifter" not in page
    assert 'id="webhook-events"' not in client.get(f"/admin/subscribers/{other_id}").text


def test_a_mailing_cancelled_in_the_admin_or_the_api_tells_the_endpoint_once_each(
        client: TestClient, team: dict[str, int], engine: Engine, settings: Settings,
        receiver: Receiver) -> None:
    login(client, EMAILS["admin"])
    page = client.get("/admin/webhooks")
    assert ("<code>mailing.cancelled</code> · ett utskick slutade ofullbordat: avbrutet, "
            "ingen att skicka till eller missat</label>") in page.text
    r = client.post("/admin/webhooks", data={"csrf_token": csrf(page.text),
                                             "url": receiver.url,
                                             "events": ["mailing.cancelled"]})
    assert r.status_code == 200, r.text
    shown = re.search(r"<code>(whsec_[A-Za-z0-9+/=]+)</code>", r.text)
    assert shown, "the secret is shown once"
    secret = shown.group(1)
    add_subscribers(engine, 2)
    now = datetime.now(UTC)
    with transaction(engine) as s:
        ids = [plan_mailing(s, synthetic_rendered(2000), kind="newsletter", now=now,
                            at=now + timedelta(days=1), list_slugs=["medborgardialog"])[0].id
               for _ in range(2)]
    url = f"/admin/mailings/{ids[0]}"
    assert post_form(client, url, f"{url}/cancel", {"confirm": "1"}).status_code == 303
    auth = {"authorization": f"Bearer {token_for(engine, 'editor')}"}
    r = client.post(f"/api/mailings/{ids[1]}/cancel", headers=auth)
    assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
    assert client.post(f"/api/mailings/{ids[1]}/cancel", headers=auth).status_code == 400
    deliver_due(engine, settings)
    got = receiver.received
    assert sorted(r.json["data"]["mailing"]["id"] for r in got) == ids
    for r in got:
        assert Webhook(secret).verify(r.body, r.headers) == r.json
        assert r.type == "mailing.cancelled" and r.json["data"]["reason"] == "cancelled"
        assert r.json["data"]["not_sent"] == 2
