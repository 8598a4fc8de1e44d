"""Outgoing webhooks end to end: events from real flows, delivered by the worker to a real
HTTP receiver on loopback, signatures verified with the ``standardwebhooks`` package."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update
from standardwebhooks.webhooks import Webhook

from mailer.config import Settings
from mailer.delivery.worker import deliver_due
from mailer.domain.invitation import parse_invitation
from mailer.domain.registration import RegistrationHow
from mailer.errors import MailerError
from mailer.services import webhooks
from mailer.services.mailings import plan_mailing
from mailer.services.subscriptions import confirm, unsubscribe_by_token
from mailer.store import webhooks as store
from mailer.store.db import transaction
from mailer.store.lists import find_list
from mailer.store.models import (
    DeliveryStatus,
    Subscriber,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from mailer.store.registrations import cancel, register, transfer
from mailer.store.subscriptions import subscribe
from tests.delivery_support import add_subscribers, synthetic_rendered
from tests.invite_helpers import INVITED_AT, invitation_data, invited
from tests.smtp_server import SmtpServer
from tests.test_subscribers_cli import Cli
from tests.webhook_receiver import Receiver


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def fast(settings: Settings) -> Settings:
    """Retries after ~50 ms instead of ~30 s, so a drain waits for them."""
    return settings.model_copy(update={"webhook_retry_base_seconds": 0.05,
                                       "webhook_retry_cap_seconds": 0.2})


def add(engine: Engine, url: str, events: str = "all") -> tuple[int, str]:
    with transaction(engine) as s:
        ep, secret = webhooks.add_endpoint(s, url, events)
        return ep.id, secret


def verify(secret: str, got: list) -> None:  # type: ignore[type-arg]
    wh = Webhook(secret)
    for r in got:
        assert wh.verify(r.body, r.headers) == r.json  # raises on a bad signature
        assert r.headers["webhook-id"].startswith("msg_")
        assert r.headers["content-type"] == "application/json"


def test_events_of_real_flows_arrive_signed_in_order(
        engine: Engine, settings: Settings, receiver: Receiver,
        smtp_server: SmtpServer) -> None:
    _, secret = add(engine, receiver.url)
    list_id = add_subscribers(engine, 3)
    with transaction(engine) as s:
        lst = find_list(s, "medborgardialog")
        assert lst is not None
        res = subscribe(s, "Åsa.Berg@Hylte.se", lst.id, double_opt_in=lst.double_opt_in,
                        now=now(), ip="127.0.0.1", wording="Ja tack", name="Åsa Berg")
        sid = res.subscriber_id
    with transaction(engine) as s:
        assert confirm(s, sid, list_id, now=now(), ip=None, wording="Ja tack")
        confirm(s, sid, list_id, now=now(), ip=None, wording="again")  # harmless: no 2nd event
    with transaction(engine) as s:
        mailing, planned = plan_mailing(s, synthetic_rendered(3000), kind="newsletter",
                                        now=now(), list_slugs=["medborgardialog"])
        mid = mailing.id
    assert planned == 4
    report = deliver_due(engine, settings)
    assert report.sent == 4
    with transaction(engine) as s:
        assert unsubscribe_by_token(s, sid, 0, now=now(), ip=None, source="one-click") == 1
    report = deliver_due(engine, settings)
    assert report.webhooks is not None and report.webhooks.delivered == 1

    got = receiver.received
    # Events about different keys travel in parallel; the person's two are in order.
    assert sorted(r.type for r in got) == ["mailing.finished", "subscriber.confirmed",
                                           "subscriber.unsubscribed"]
    assert got[-1].type == "subscriber.unsubscribed"
    verify(secret, got)
    assert len({r.headers["webhook-id"] for r in got}) == 3
    by_type = {r.type: r.json["data"] for r in got}
    confirmed, finished, gone = (by_type[t] for t in ("subscriber.confirmed",
                                                      "mailing.finished",
                                                      "subscriber.unsubscribed"))
    assert confirmed["subscriber"]["email"].lower() == "åsa.berg@hylte.se"
    assert confirmed["subscriber"]["name"] == "Åsa Berg"
    assert confirmed["lists"] == [{"id": list_id, "slug": "medborgardialog",
                                   "name": "Medborgardialog"}]
    assert finished["mailing"]["id"] == mid and finished["counts"] == {"sent": 4}
    assert gone["source"] == "one-click" and gone["subscriber"]["id"] == sid
    assert any("åsa" in r.body.lower() for r in got)  # UTF-8 JSON, not \\u escapes


def test_retries_keep_the_id_and_hold_back_the_same_persons_later_events(
        engine: Engine, fast: Settings, receiver: Receiver) -> None:
    eid, secret = add(engine, receiver.url, "bounce,complaint")
    person = {"id": 7, "email": "per@example.test"}
    with transaction(engine) as s:
        first = webhooks.emit(s, "bounce", {"subscriber": person, "kind": "hard"})
        second = webhooks.emit(s, "complaint", {"subscriber": person})
        other = webhooks.emit(s, "bounce", {"subscriber": {"id": 8}, "kind": "soft"})
        assert webhooks.emit(s, "mailing.finished", {}) is None  # nobody wants it
    assert first is not None
    receiver.by_id[first] = [500, 503]  # its first two POSTs fail, then 200
    report = deliver_due(engine, fast)
    assert report.webhooks is not None
    assert (report.webhooks.delivered, report.webhooks.failed_attempts) == (3, 2)
    ids = [r.headers["webhook-id"] for r in receiver.received]
    # Person 7's bounce failed twice and was retried with the same id; their complaint
    # waited behind it, while person 8's event was not held up.
    person7 = [i for i in ids if i != other]
    assert person7 == [first, first, first, second]
    assert ids.index(other) < ids.index(second)
    verify(secret, receiver.received)
    with transaction(engine) as s:
        log = webhooks.endpoint_log(s, eid)
        assert [(ln.attempt, ln.status) for ln in log if ln.event_id == first] == [
            (3, 200), (2, 503), (1, 500)]
        info = webhooks.get_endpoint(s, eid)
        assert (info.delivered, info.pending, info.failing_since) == (3, 0, None)


def test_a_delivery_whose_worker_died_is_due_again_after_its_lease(engine: Engine) -> None:
    with transaction(engine) as s:
        webhooks.add_endpoint(s, "http://127.0.0.1:9/x", "bounce")
        webhooks.emit(s, "bounce", {"subscriber": {"id": 1}})
    t, lease = now(), timedelta(seconds=60)
    with transaction(engine) as s:
        assert [c.attempts for c in store.claim_due(s, t, 10, lease)] == [1]
    with transaction(engine) as s:  # the worker died: no outcome recorded
        assert store.claim_due(s, t + timedelta(seconds=30), 10, lease) == []
        again = store.claim_due(s, t + timedelta(seconds=61), 10, lease)
    assert [c.attempts for c in again] == [2]


def test_an_endpoint_failing_for_days_is_disabled_and_resumes_in_order(
        engine: Engine, fast: Settings, receiver: Receiver) -> None:
    eid, _ = add(engine, receiver.url, "bounce")
    receiver.status = 503
    with transaction(engine) as s:
        for n in range(3):
            webhooks.emit(s, "bounce", {"subscriber": {"id": 1}, "n": n})
        # It has failed since six days (a fault we cannot wait for).
        s.execute(update(WebhookEndpoint).values(failing_since=now() - timedelta(days=6)))
    report = deliver_due(engine, fast)
    assert report.webhooks is not None and report.webhooks.disabled == [eid]
    assert len(receiver.received) == 1
    with transaction(engine) as s:
        info = webhooks.get_endpoint(s, eid)
        assert not info.enabled and info.pending == 3
        assert "failed for 6.0 days" in info.disabled_reason
        # shown by the API and the admin too: no command in it (the CLI's listing adds it)
        assert info.disabled_reason.endswith("its events wait and go out in order once it "
                                             "is enabled again"), info.disabled_reason
    assert deliver_due(engine, fast).webhooks.delivered == 0  # type: ignore[union-attr]
    assert len(receiver.received) == 1  # disabled: nothing is tried
    receiver.status = 204
    with transaction(engine) as s:
        webhooks.enable_endpoint(s, eid)
    deliver_due(engine, fast)
    assert [r.json["data"]["n"] for r in receiver.received[1:]] == [0, 1, 2]
    with transaction(engine) as s:
        states = s.scalars(select(WebhookDelivery.status)).all()
        assert set(states) == {DeliveryStatus.delivered}


def test_bad_input_is_refused_clearly(engine: Engine) -> None:
    with transaction(engine) as s:
        with pytest.raises(MailerError, match="unknown event type.*subscriber.confirm"):
            webhooks.add_endpoint(s, "https://crm.example.org/h", "subscriber.confirm")
        with pytest.raises(MailerError, match="absolute http"):
            webhooks.add_endpoint(s, "ftp://crm.example.org/h", "bounce")
        with pytest.raises(MailerError, match="whsec_"):
            webhooks.add_endpoint(s, "https://crm.example.org/h", "bounce", secret="hemligt")
        with pytest.raises(ValueError, match="unknown webhook event"):
            webhooks.emit(s, "bounced", {})
        assert webhooks.endpoints(s) == []


def test_cli_add_list_deliver_log_disable_enable(
        workspace: Path, db_url: str, engine: Engine, receiver: Receiver,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        smtp_server: SmtpServer) -> None:
    for key, value in {"MAILER_DATABASE_URL": db_url, "MAILER_SECRET_KEY": "x" * 32,
                       "MAILER_SMTP_URL": smtp_server.url}.items():
        monkeypatch.setenv(key, value)
    cli = Cli(workspace, capsys, monkeypatch)
    assert cli("init")[0] == 0
    key = "whsec_" + "QUFB" * 8  # a fixed, valid secret
    code, out, err = cli("webhooks", "add", receiver.url, "--events", "bounce,mailing.finished",
                         "--secret", key, "--description", "CRM")
    assert code == 0, err
    assert "added webhook endpoint 1" in out and "signing secret" not in out
    code, out, err = cli("webhooks", "add", receiver.url, "--events", "bounces")
    assert code == 2 and "unknown event type(s) bounces" in err
    code, out, _ = cli("webhooks", "add", receiver.url, "--events", "all")
    assert code == 0 and "signing secret (give it to the receiver): whsec_" in out
    assert cli("webhooks", "remove", "2")[0] == 0
    _, out, _ = cli("webhooks")
    assert "events: bounce, mailing.finished" in out and "[enabled]" in out
    assert cli("webhooks", "log", "1")[1].strip() == "no attempts yet"

    with transaction(engine) as s:
        webhooks.emit(s, "bounce", {"subscriber": {"id": 3}, "kind": "hard"})
    code, out, _ = cli("worker", "--drain")
    assert code == 0 and "webhooks: delivered 1, failed attempts 0" in out
    verify(key, receiver.received)
    _, out, _ = cli("webhooks", "log", "1")
    assert "bounce" in out and "try 1" in out and " 200 " in out
    assert "delivered 1, waiting 0; CRM" in cli("webhooks")[1]

    assert cli("webhooks", "disable", "1")[0] == 0
    listed = cli("webhooks")[1]
    assert "[DISABLED]" in listed and "disabled by hand" in listed
    assert "'mailer webhooks enable 1' sends its waiting events" in listed
    with transaction(engine) as s:
        webhooks.emit(s, "bounce", {"subscriber": {"id": 3}, "kind": "soft"})
    assert "webhooks:" not in cli("worker", "--drain")[1]
    _, out, _ = cli("webhooks", "enable", "1")
    assert "1 event waits for the worker" in out, out  # it said '1 event wait'
    assert "webhooks: delivered 1" in cli("worker", "--drain")[1]
    code, _, err = cli("webhooks", "log", "9")
    assert code == 3 and "no webhook endpoint with id 9" in err


def test_registration_created_and_cancelled_with_the_promoted_person(
        engine: Engine, fast: Settings, receiver: Receiver) -> None:
    _, secret = add(engine, receiver.url, "registration.created,registration.cancelled")
    data = invitation_data()
    data["seats"] = {**data["seats"], "per_organisation": 1, "waitlist": True}
    with transaction(engine) as s:
        row, people = invited(s, inv=parse_invitation(data))
        anna, bengt = people["anna.andersson@hylte.se"], people["bengt.berg@hylte.se"]
        at = INVITED_AT + timedelta(days=1)
        register(s, row, anna, how=RegistrationHow.form, now=at)
        register(s, row, bengt, how=RegistrationHow.coordinator, now=at)  # wait-listed
        cancel(s, row, anna, now=at)
    deliver_due(engine, fast)
    verify(secret, receiver.received)
    events = [(r.type, r.json["data"]["subscriber"]["email"],
               r.json["data"]["registration"]["status"]) for r in receiver.received]
    anna_events = [e for e in events if e[1] == "anna.andersson@hylte.se"]
    assert anna_events == [("registration.created", "anna.andersson@hylte.se", "registered"),
                           ("registration.cancelled", "anna.andersson@hylte.se", "cancelled")]
    assert ("registration.created", "bengt.berg@hylte.se", "waitlisted") in events
    cancelled = next(r.json["data"] for r in receiver.received
                     if r.type == "registration.cancelled")
    assert cancelled["promoted"]["subscriber"]["email"] == "bengt.berg@hylte.se"
    assert cancelled["invitation"]["slug"] == row.slug
    assert cancelled["registration"]["organisation"] == "Hylte kommun"


def test_a_transferred_seat_ends_for_the_giver_and_begins_for_the_taker(
        engine: Engine, fast: Settings, receiver: Receiver) -> None:
    """Without these two events an event tool would keep the giver on its list of
    attendees and never hear of the colleague who comes instead."""
    _, secret = add(engine, receiver.url, "registration.created,registration.cancelled")
    data = invitation_data()
    data["seats"] = {**data["seats"], "transferable": True}
    with transaction(engine) as s:
        row, people = invited(s, inv=parse_invitation(data))
        anna, cecilia = people["anna.andersson@hylte.se"], people["cecilia.claesson@hylte.se"]
        at = INVITED_AT + timedelta(days=1)
        register(s, row, anna, how=RegistrationHow.form, now=at)
        transfer(s, row, anna, cecilia, now=at + timedelta(hours=1))
    deliver_due(engine, fast)
    verify(secret, receiver.received)
    events = [(r.type, r.json["data"]["subscriber"]["email"],
               r.json["data"]["registration"]["status"]) for r in receiver.received]
    assert [e for e in events if e[1] == "anna.andersson@hylte.se"] == [
        ("registration.created", "anna.andersson@hylte.se", "registered"),
        ("registration.cancelled", "anna.andersson@hylte.se", "transferred")]
    assert [e for e in events if e[1] == "cecilia.claesson@hylte.se"] == [
        ("registration.created", "cecilia.claesson@hylte.se", "registered")]
    ended = next(r.json["data"] for r in receiver.received
                 if r.type == "registration.cancelled")
    assert ended["transferred_to"]["email"] == "cecilia.claesson@hylte.se"
    assert ended["promoted"] is None
    assert ended["registration"]["organisation"] == "Hylte kommun"


async def test_a_running_worker_delivers_events_as_they_come(
        engine: Engine, settings: Settings, receiver: Receiver) -> None:
    import asyncio

    from mailer.delivery.worker import Worker

    add(engine, receiver.url, "bounce")
    stop = asyncio.Event()
    async with Worker(engine, settings) as w:
        task = asyncio.create_task(w.deliver(drain=False, stop=stop, poll=0.05))
        for n in range(2):
            with transaction(engine) as s:
                webhooks.emit(s, "bounce", {"subscriber": {"id": 5}, "n": n})
            for _ in range(400):  # poll for the state, at most 20 s
                if len(receiver.received) > n:
                    break
                await asyncio.sleep(0.05)
        stop.set()
        await task
    assert [r.json["data"]["n"] for r in receiver.received] == [0, 1]


def test_erasing_a_person_removes_the_events_about_them(engine: Engine) -> None:
    from mailer.services.subscriptions import access_report, erase

    add_subscribers(engine, 2)
    with transaction(engine) as s:
        webhooks.add_endpoint(s, "http://127.0.0.1:9/x", "all")
        anna, other = s.scalars(select(Subscriber).order_by(Subscriber.id)).all()
        payload = webhooks.subscriber_payload(anna)
        first = webhooks.emit(s, "bounce", {"subscriber": payload})
        webhooks.emit(s, "complaint", {"subscriber": webhooks.subscriber_payload(other)})
        anna_id = anna.id
    with transaction(engine) as s:
        report = access_report(s, anna_id)
        assert [e["event_id"] for e in report["webhook_events"]] == [first]
        assert erase(s, anna_id, source="test")
    with transaction(engine) as s:
        left = s.scalars(select(WebhookEvent.type)).all()
        assert left == ["complaint"]
        assert len(s.scalars(select(WebhookDelivery)).all()) == 1


def test_bounces_and_complaints_of_real_mail_reach_the_endpoints_that_want_them(
        engine: Engine, db_url: str, workspace: Path, smtp_server: SmtpServer,
        receiver: Receiver, tmp_path: Path) -> None:
    """A refusal at RCPT (the worker's) and an ARF complaint read from the inbox each
    become an event about the subscriber; a bounce of an address that is no subscriber's
    (a test send) becomes none."""
    import mailbox

    from mailer.config import load_settings
    from mailer.delivery.verp import Verp
    from mailer.services.deliverability import process_inbox
    from mailer.services.mailings import plan_test
    from tests.conftest import TEST_SECRET
    from tests.test_deliverability_e2e import BOUNCES, report_for

    settings = load_settings(workspace, database_url=db_url, smtp_url=smtp_server.url,
                             secret_key=TEST_SECRET, bounce_address=BOUNCES,
                             base_url="https://nyhetsbrev.example.org")
    _, secret = add(engine, receiver.url, "bounce,complaint")
    add_subscribers(engine, 3)
    refused = {"person0@example.test", "editor@example.test"}
    smtp_server.handler.rcpt_fault = (
        lambda a: f"550 5.1.1 <{a}>: Recipient address rejected: User unknown"
        if a in refused else None)
    with transaction(engine) as s:
        mailing, _ = plan_mailing(s, synthetic_rendered(3000), kind="newsletter", now=now(),
                                  list_slugs=["medborgardialog"])
        mid = mailing.id
        plan_test(s, synthetic_rendered(3000), ["editor@example.test"],
                  base_url=settings.base_url, source="issues/x", now=now())
        people = {p.email: p.id for p in s.scalars(select(Subscriber))}
    report = deliver_due(engine, settings)
    assert report.bounced == 2

    box = mailbox.Maildir(tmp_path / "inbox", create=True)
    box.add(report_for("arf_complaint.eml", "person2@example.test", 0, Verp(BOUNCES, "x"), 1))
    box.close()
    assert process_inbox(engine, settings, tmp_path / "inbox", now=now()).complaints == 1
    deliver_due(engine, settings)

    verify(secret, receiver.received)
    got = {r.type: r.json["data"] for r in receiver.received}
    assert len(receiver.received) == 2 and set(got) == {"bounce", "complaint"}
    bounce, complaint = got["bounce"], got["complaint"]
    assert bounce["subscriber"]["id"] == people["person0@example.test"]
    assert bounce["subscriber"]["email"] == "person0@example.test"
    assert (bounce["mailing_id"], bounce["class"], bounce["status"], bounce["source"],
            bounce["suppressed"]) == (mid, "hard", "5.1.1", "smtp", True)
    assert "User unknown" in bounce["diagnostic"] and bounce["at"]
    assert complaint["subscriber"]["id"] == people["person2@example.test"]
    assert complaint["mailing_id"] == mid and complaint["suppressed"] is True
    assert complaint["detail"].startswith("ARF")
