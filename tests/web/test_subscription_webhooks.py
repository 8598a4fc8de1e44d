"""``subscriber.confirmed`` for every way a subscription becomes active over HTTP (not only
the double opt-in link): a single opt-in sign-up, the undo after unsubscribing, ticking a
list on the preferences page. Otherwise a CRM fed by the webhooks keeps seeing the person
as unsubscribed while they get the mail. Real HTTP receiver, signatures verified with the
``standardwebhooks`` package, on SQLite and PostgreSQL."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from standardwebhooks.webhooks import Webhook

from mailer.config import Settings
from mailer.delivery.worker import deliver_due
from mailer.services import webhooks
from mailer.store.db import transaction
from mailer.store.models import Subscriber
from tests.smtp_server import SmtpServer
from tests.web.conftest import csrf, deliver, subscription_status
from tests.webhook_receiver import Receiver


def test_every_activation_is_a_confirmed_event_in_order_with_its_source(
        client: TestClient, engine: Engine, app: FastAPI, lists: dict[str, int],
        settings: Settings, smtp_server: SmtpServer, receiver: Receiver) -> None:
    with transaction(engine) as s:
        _, secret = webhooks.add_endpoint(s, receiver.url,
                                          "subscriber.confirmed,subscriber.unsubscribed")
    sem = lists["seminarier"]  # single opt-in

    form = client.get("/subscribe/seminarier")
    r = client.post("/subscribe/seminarier", data={"csrf_token": csrf(form.text),
                                                   "email": "Erik@Laholm.se", "name": "Erik"})
    assert r.status_code == 303
    assert subscription_status(engine, "erik@laholm.se", sem) == "active"
    deliver(engine, settings, smtp_server, 1)  # the welcome mail (and the event)
    with transaction(engine) as s:
        sid = s.scalar(select(Subscriber.id).where(Subscriber.email_key == "erik@laholm.se"))
    assert sid is not None

    url = app.state.web.links.unsubscribe(sid, sem)
    page = client.get(url)
    done = client.post(url, data={"csrf_token": csrf(page.text)})
    assert done.status_code == 200
    again = client.post(f"{url}/undo", data={"csrf_token": csrf(done.text)})
    assert again.status_code == 200
    assert subscription_status(engine, "erik@laholm.se", sem) == "active"

    prefs = app.state.web.links.preferences(sid)
    for chosen in ([], [str(sem)]):  # untick, then tick again
        page = client.get(prefs)
        r = client.post(prefs, data={"csrf_token": csrf(page.text), "lists": chosen,
                                     "name": "Erik", "organisation": "", "language": "sv"})
        assert r.status_code == 303
    assert subscription_status(engine, "erik@laholm.se", sem) == "active"

    for _ in range(5):  # one person's events go out one after another, in order
        if len(receiver.received) >= 5:
            break
        deliver_due(engine, settings)
    got = receiver.received
    wh = Webhook(secret)
    for ev in got:
        assert wh.verify(ev.body, ev.headers) == ev.json
    assert [(ev.type, ev.json["data"]["source"].partition(":")[0]) for ev in got] == [
        ("subscriber.confirmed", "form"),
        ("subscriber.unsubscribed", "unsubscribe-page"),
        ("subscriber.confirmed", "unsubscribe-undo"),
        ("subscriber.unsubscribed", "preferences"),
        ("subscriber.confirmed", "preferences"),
    ]
    for ev in got:
        data = ev.json["data"]
        assert data["subscriber"]["id"] == sid
        assert data["lists"] == [{"id": sem, "slug": "seminarier",
                                  "name": "Seminarier och utbildningar"}]
    assert len({ev.headers["webhook-id"] for ev in got}) == 5
