"""End to end on the demo data: invite, register 10, remind 7 days before the deadline, once.

The demo list (subscribers/demo.csv, imported for real) is invited to the 2023 network;
ten people register (two from Hylte, a third from Hylte is refused); one invitee
unsubscribes; at 7 days before the deadline exactly the non-registered, still-subscribed
invitees get one reminder each, and a second run sends nothing new.

``test_up_to_the_ledger`` needs no delivery; ``test_through_smtp`` sends through the
outbox to a real SMTP server on loopback.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from icalendar import Calendar
from sqlalchemy import Engine, select, update

from mailer.config import Settings
from mailer.delivery.worker import deliver_due
from mailer.domain.registration import RegistrationHow
from mailer.invitation_files import load_invitation
from mailer.schedule.invitations import sweep
from mailer.services.invitation_mail import InvitationMail
from mailer.services.invitations import confirm_registration
from mailer.services.lists import create_list
from mailer.store.db import transaction
from mailer.store.importer import import_subscribers
from mailer.store.invitations import get_invitation, record_invitees, sync_invitation
from mailer.store.models import (
    Invitee,
    LedgerState,
    ReminderLedger,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from mailer.store.registrations import SeatsFull, get_subscriber, register
from tests.invite_helpers import ROOT, SLUG, RecordingMailer

DEMO = ROOT / "subscribers" / "demo.csv"
INVITED_AT = datetime(2023, 1, 20, 8, 0, tzinfo=UTC)
SEVEN_DAYS_BEFORE = datetime(2023, 2, 8, 8, 0, tzinfo=UTC)  # 09:00 in Stockholm

# Ten who register: two from Hylte kommun, then eight from eight other organisations.
REGISTER = [
    "asa.lindqvist@hylte.example", "goran.sjoberg@hylte.example",
    "maria.holm@uppsala.example", "ingrid.akesson@ornskoldsvik.example",
    "karin.bergqvist@vanersborg.example", "elin.karlsson@karlskoga.example",
    "helena.stromberg@rvn.example", "daniel.kowalski@regionuppsala.example",
    "lars.wikstrom@falun.example",
]
THIRD_FROM_HYLTE = "marta.nystrom@hylte.example"
UNSUBSCRIBES = "jonas.ekdahl@hylte.example"




def _workspace(settings: Settings) -> None:
    folder = settings.workspace / "issues" / SLUG
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "issues" / SLUG / "issue.yaml", folder / "issue.yaml")


def _demo(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    with transaction(engine) as s:
        create_list(s, "demo", "Demo", double_opt_in=False)
    report = import_subscribers(engine, DEMO, "demo", rejected_path=tmp_path / "rej.csv",
                                now=INVITED_AT - timedelta(days=30))
    assert report.rows >= 40 and report.rejected == 0, report


def _register_ten(engine: Engine) -> list[str]:
    """Register the ten (and see the third from Hylte refused); returns their addresses."""
    ten = []
    with transaction(engine) as s:
        row = get_invitation(s, SLUG, lock=True)
        when = datetime(2023, 2, 1, 9, tzinfo=UTC)
        for email in REGISTER:
            register(s, row, get_subscriber(s, email), how=RegistrationHow.coordinator,
                     now=when)
            ten.append(email)
    with pytest.raises(SeatsFull, match=r"Hylte kommun already has 2 of 2 seats \(held by "
                                        r"Åsa Lindqvist"), transaction(engine) as s:
        register(s, get_invitation(s, SLUG, lock=True), get_subscriber(s, THIRD_FROM_HYLTE),
                 how=RegistrationHow.coordinator, now=when)
    with transaction(engine) as s:  # the tenth: from an organisation with a free seat
        row = get_invitation(s, SLUG, lock=True)
        taken = {r for r in ten}
        other = s.scalars(select(Subscriber).join(Invitee, Invitee.subscriber_id == Subscriber.id)
                          .order_by(Subscriber.email_key)).all()
        for sub in other:
            org = sub.organisation.name if sub.organisation else ""
            if sub.email.casefold() in taken or org in ("Hylte kommun", "Uppsala kommun"):
                continue
            result = register(s, row, sub, how=RegistrationHow.form, now=when)
            if result.outcome is not None:
                ten.append(sub.email.casefold())
                break
    assert len(ten) == 10
    return ten


def _unsubscribe(engine: Engine, email: str) -> None:
    with transaction(engine) as s:
        sid = get_subscriber(s, email).id
        s.execute(update(Subscription).where(Subscription.subscriber_id == sid)
                  .values(status=SubscriptionStatus.unsubscribed))


def _expected(engine: Engine, registered: list[str]) -> set[str]:
    """Invitees who have not registered, are still subscribed, and whose organisation has a
    seat left (Hylte is full: its others are not reminded)."""
    with transaction(engine) as s:
        rows = s.execute(select(Subscriber.email_key, Subscription.status,
                                Subscriber.organisation_id)
                         .join(Invitee, Invitee.subscriber_id == Subscriber.id)
                         .join(Subscription, Subscription.subscriber_id == Subscriber.id)).all()
        hylte = get_subscriber(s, THIRD_FROM_HYLTE).organisation_id
    return {e for e, status, org in rows
            if e not in {r.casefold() for r in registered}
            and status == SubscriptionStatus.active and org != hylte}


def test_up_to_the_ledger(settings: Settings, engine: Engine, tmp_path: Path) -> None:
    _workspace(settings)
    _demo(engine, settings, tmp_path)
    inv = load_invitation(settings.workspace, SLUG, timezone=settings.timezone)
    with transaction(engine) as s:
        row = sync_invitation(s, SLUG, inv, INVITED_AT).row
        invited = record_invitees(s, row, list_slug="demo", now=INVITED_AT)
    registered = _register_ten(engine)
    _unsubscribe(engine, UNSUBSCRIBES)
    expected = _expected(engine, registered)
    assert invited - len(registered) - 3 == len(expected)  # minus 2 more Hylte, 1 unsubscribed
    rec = RecordingMailer()
    report = sweep(engine, settings, now=SEVEN_DAYS_BEFORE, mailer=rec)
    assert report.problems == {}
    ((key, ids),) = rec.planned
    with transaction(engine) as s:
        got = set(s.scalars(select(Subscriber.email_key).where(Subscriber.id.in_(ids))))
        sent = s.scalar(select(ReminderLedger.id).where(ReminderLedger.state == LedgerState.sent)
                        .limit(1))
    assert key == "7d" and got == expected and sent is not None
    again = sweep(engine, settings, now=SEVEN_DAYS_BEFORE + timedelta(minutes=10), mailer=rec)
    assert len(rec.planned) == 1 and again.reminded == 0


def _clock_at(moment: datetime):  # type: ignore[no-untyped-def]
    """A clock that starts at ``moment`` and runs: delivery sees the scenario's time (the
    seed's deadline lies in the past; invitations and reminders expire at it)."""
    shift = moment - datetime.now(UTC)
    return lambda: datetime.now(UTC) + shift


def test_through_smtp(settings: Settings, engine: Engine, tmp_path: Path,
                      smtp_server) -> None:  # type: ignore[no-untyped-def]
    _workspace(settings)
    _demo(engine, settings, tmp_path)
    inv = load_invitation(settings.workspace, SLUG, timezone=settings.timezone)
    mailer = InvitationMail(settings)
    with transaction(engine) as s:
        row = sync_invitation(s, SLUG, inv, INVITED_AT).row
        _, invited = mailer.plan_invitation(s, slug=SLUG, invitation=inv, row=row,
                                            list_slug="demo", now=INVITED_AT)
    deliver_due(engine, settings, clock=_clock_at(INVITED_AT))
    assert len(smtp_server.wait_for(invited)) == invited
    first = smtp_server.received[0].message
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "<https://nyhetsbrev.example.org/u/" in first["List-Unsubscribe"]
    assert str(first["Subject"]).startswith("Inbjudan till professionsnätverk")
    _view_in_browser(first)
    smtp_server.received.clear()
    registered = _register_ten(engine)
    _unsubscribe(engine, UNSUBSCRIBES)
    expected = _expected(engine, registered)
    sweep(engine, settings, now=SEVEN_DAYS_BEFORE, mailer=mailer)
    deliver_due(engine, settings, clock=_clock_at(SEVEN_DAYS_BEFORE))
    got = smtp_server.wait_for(len(expected))
    assert sorted(r.rcpt_tos[0].casefold() for r in got) == sorted(expected)
    subjects = {str(r.message["Subject"]) for r in got}
    assert subjects == {"Påminnelse: sista anmälningsdag 15 februari"}
    _view_in_browser(got[0].message)
    sweep(engine, settings, now=SEVEN_DAYS_BEFORE + timedelta(minutes=10), mailer=mailer)
    deliver_due(engine, settings, clock=_clock_at(SEVEN_DAYS_BEFORE + timedelta(minutes=10)))
    assert len(smtp_server.received) == len(expected)



def test_confirmation_carries_the_ics_through_smtp(
        settings: Settings, engine: Engine, tmp_path: Path,
        smtp_server) -> None:  # type: ignore[no-untyped-def]
    _workspace(settings)
    _demo(engine, settings, tmp_path)
    inv = load_invitation(settings.workspace, SLUG, timezone=settings.timezone)
    with transaction(engine) as s:
        row = sync_invitation(s, SLUG, inv, INVITED_AT).row
        sub = get_subscriber(s, "maria.holm@uppsala.example")
        result = register(s, row, sub, how=RegistrationHow.form, now=INVITED_AT)
        confirm_registration(s, settings, SLUG, inv, sub, result.registration, INVITED_AT)
    deliver_due(engine, settings)
    (got,) = smtp_server.wait_for(1)
    msg = got.message
    assert msg.get_content_type() == "multipart/mixed"
    assert str(msg["Subject"]).startswith("Bekräftelse på din anmälan")
    assert msg["Auto-Submitted"] == "auto-generated"
    parts = {p.get_content_type(): p for p in msg.walk()}
    assert {"text/plain", "text/html", "text/calendar"} <= set(parts)
    ics = parts["text/calendar"]
    assert ics.get_filename() == "inbjudan.ics"
    cal = Calendar.from_ical(ics.get_payload(decode=True))
    starts = sorted(e.decoded("dtstart").isoformat() for e in cal.walk("VEVENT"))
    assert "2023-03-10T10:00:00+01:00" in starts
    assert "Hej Maria!" in parts["text/plain"].get_content()
    _no_view_in_browser(msg)


def _bodies(msg: EmailMessage) -> list[str]:
    return [part.get_content() for part in msg.walk()
            if part.get_content_type() in ("text/plain", "text/html")]


def _view_in_browser(msg: EmailMessage) -> None:
    """An invitation or a reminder went to a whole list: its copies link its archive page
    (tests/web/test_view_in_browser.py opens it)."""
    for body in _bodies(msg):
        assert "/archive/view/" in body and "webbläsaren" in body, body[-600:]


def _no_view_in_browser(msg: EmailMessage) -> None:
    """One person's registration confirmation is not in the archive: no such link."""
    for body in _bodies(msg):
        assert "/archive/view/" not in body and "webbläsaren" not in body, body[-600:]
        assert "/p/" in body  # the footer with its other links is still there
