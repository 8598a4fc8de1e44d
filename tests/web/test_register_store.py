"""The registration pages on the real store (StoreDesk): the 2023 network from issues/.

A registration through the form queues its confirmation as a ``confirmation`` mailing in
the same transaction; the worker delivers it (with the meetings as .ics) over SMTP.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi.testclient import TestClient
from icalendar import Calendar
from sqlalchemy import Engine, select

from mailer.config import Settings
from mailer.delivery.worker import deliver_due
from mailer.domain.registration import RegistrationHow, RegistrationStatus
from mailer.store.db import transaction
from mailer.store.models import Mailing, MailingKind, OutboxRow, RegistrationRow, Subscriber
from mailer.tokens import Purpose
from mailer.web.invitation_desk import StoreDesk
from mailer.web.registration import Outcome
from tests.invite_helpers import ISSUE, SLUG, invited
from tests.smtp_server import SmtpServer
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


def _statuses(engine: Engine) -> dict[int, tuple[RegistrationStatus, RegistrationHow]]:
    with transaction(engine) as s:
        return {r.subscriber_id: (r.status, r.how) for r in s.scalars(select(RegistrationRow))}


def test_the_default_desk_is_the_store(app: FastAPI) -> None:
    assert isinstance(app.state.web.desk, StoreDesk)


def test_register_through_the_page(settings: Settings, engine: Engine, app: FastAPI,
                                   client: TestClient, smtp_server: SmtpServer) -> None:
    inv_id, ids = _setup(settings, engine, app)
    url = _url(app, ids["anna.andersson@hylte.se"], inv_id)
    page = client.get(url)
    assert page.status_code == 200
    assert "Professionsnätverk för tjänstepersoner" in page.text and "Zoom" in page.text
    assert _statuses(engine) == {}  # a GET (or a mail scanner) registers nobody
    done = client.post(url, data={"csrf_token": csrf(page.text), "name": "Anna Andersson",
                                  "organisation": "Hylte kommun"})
    assert done.status_code == 200
    assert _statuses(engine) == {ids["anna.andersson@hylte.se"]: (
        RegistrationStatus.registered, RegistrationHow.form)}
    # The page answered at once; the confirmation waits in the outbox for the worker.
    assert smtp_server.received == []
    with transaction(engine) as s:
        (mailing,) = s.scalars(select(Mailing)).all()
        assert mailing.kind is MailingKind.confirmation
        (row,) = s.scalars(select(OutboxRow)).all()
        assert row.email == "anna.andersson@hylte.se" and row.mailing_id == mailing.id
    assert deliver_due(engine, settings).sent == 1
    (mail,) = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["anna.andersson@hylte.se"]
    msg = mail.message
    assert str(msg["Subject"]).startswith("Bekräftelse på din anmälan")
    (ics,) = [p for p in msg.iter_attachments() if p.get_content_type() == "text/calendar"]
    assert ics.get_filename() == "inbjudan.ics"
    cal = Calendar.from_ical(ics.get_payload(decode=True))
    assert len(list(cal.walk("VEVENT"))) == 3


def test_confirmation_in_the_registrants_language(settings: Settings, engine: Engine,
                                                  app: FastAPI, client: TestClient,
                                                  smtp_server: SmtpServer) -> None:
    inv_id, ids = _setup(settings, engine, app)
    sid = ids["eva.ek@uppsala.se"]
    with transaction(engine) as s:
        sub = s.get(Subscriber, sid)
        assert sub is not None
        sub.language = "en"
    url = _url(app, sid, inv_id)
    page = client.get(url)
    done = client.post(url, data={"csrf_token": csrf(page.text), "name": "Eva Ek",
                                  "organisation": "Uppsala kommun"})
    assert done.status_code == 200
    assert deliver_due(engine, settings).sent == 1
    (mail,) = smtp_server.wait_for(1)
    assert str(mail.message["Subject"]).startswith(
        "Registration confirmed: Professionsnätverk för tjänstepersoner")
    assert any(p.get_content_type() == "text/calendar" for p in mail.message.walk())


def test_seats_full_on_the_store(settings: Settings, engine: Engine, app: FastAPI,
                                 client: TestClient) -> None:
    inv_id, ids = _setup(settings, engine, app)
    desk: StoreDesk = app.state.web.desk
    for e in ("anna.andersson@hylte.se", "bengt.berg@hylte.se"):
        assert desk.register(inv_id, ids[e], name="x", organisation="Hylte kommun",
                             now=NOW).outcome is Outcome.registered
    again = desk.register(inv_id, ids["anna.andersson@hylte.se"], name="x",
                          organisation="Hylte kommun", now=NOW)
    assert again.outcome is Outcome.already
    full = desk.register(inv_id, ids["cecilia.claesson@hylte.se"], name="x",
                         organisation="Hylte kommun", now=NOW)
    assert full.outcome is Outcome.seats_full
    assert full.holders == ("Anna Andersson", "Bengt Berg")
    page = client.get(_url(app, ids["cecilia.claesson@hylte.se"], inv_id))
    assert page.status_code == 409
    late = desk.register(inv_id, ids["eva.ek@uppsala.se"], name="x",
                         organisation="Uppsala kommun", now=datetime(2023, 2, 16, tzinfo=UTC))
    assert late.outcome is Outcome.closed
    person = desk.registrant(inv_id, ids["bengt.berg@hylte.se"])
    assert person is not None and person.registered and person.seats_taken == 2
    assert desk.facts(inv_id).seats_max == 2  # type: ignore[union-attr]
    assert desk.facts(999) is None


def test_yearly_reconfirmation_page(settings: Settings, engine: Engine, app: FastAPI,
                                    client: TestClient) -> None:
    from mailer.store.invitations import get_invitation
    from mailer.store.models import ReconfirmAnswer, Reconfirmation
    from mailer.store.reconfirmations import ask_for_year
    from mailer.store.registrations import get_subscriber, register

    inv_id, ids = _setup(settings, engine, app)
    with transaction(engine) as s:
        row = get_invitation(s, SLUG)
        register(s, row, get_subscriber(s, "eva.ek@uppsala.se"),
                 how=RegistrationHow.coordinator, now=NOW)
        ask_for_year(s, row, 2024, now=datetime(2023, 11, 15, tzinfo=UTC))
    app.state.web.now = lambda: datetime(2023, 11, 20, tzinfo=UTC)
    url = app.state.web.links.reconfirm(SLUG, 2024, ids["eva.ek@uppsala.se"], inv_id)
    path = url.removeprefix("https://nyhetsbrev.example.org")
    page = client.get(path)
    assert page.status_code == 200 and "Fortsätter du i nätverket 2024?" in page.text
    assert "Svara senast 15 december 2023." in page.text
    done = client.post(path, data={"csrf_token": csrf(page.text), "answer": "no"})
    assert "Din plats är nu ledig" in done.text
    with transaction(engine) as s:
        rec = s.scalar(select(Reconfirmation))
        assert rec is not None and rec.answer is ReconfirmAnswer.no and rec.answered_via == "web"
        reg = s.scalar(select(RegistrationRow))
        assert reg is not None and reg.status is RegistrationStatus.cancelled
    # someone who was never asked gets a clear page, not an error
    other = app.state.web.links.reconfirm(SLUG, 2024, ids["hanna.holm@karlskoga.se"], inv_id)
    assert client.get(other.removeprefix("https://nyhetsbrev.example.org")).status_code == 404


def test_municipalities_are_named_as_they_name_themselves(
        settings: Settings, engine: Engine, app: FastAPI, client: TestClient) -> None:
    """The form's list, the pre-filled organisation and what is stored say "Lunds kommun",
    "Örnsköldsviks kommun" and "Stockholms stad" (were "Lund kommun", "Örnsköldsvik
    kommun", "Stockholm kommun": wrong Swedish on a public-sector form)."""
    from mailer.store.models import Organisation

    inv_id, ids = _setup(settings, engine, app)
    url = _url(app, ids["fredrik.falk@ornskoldsvik.se"], inv_id)
    page = client.get(url)
    for name in ("Lunds kommun", "Stockholms stad", "Göteborgs Stad", "Falu kommun",
                 "Hylte kommun", "Uppsala kommun", "Region Gotland"):
        assert f">{name}</option>" in page.text, name
    for wrong in ("Lund kommun", "Stockholm kommun", "Falun kommun", "Örnsköldsvik kommun"):
        assert wrong not in page.text, wrong
    assert 'value="2284" selected>Örnsköldsviks kommun</option>' in page.text
    done = client.post(url, data={"csrf_token": csrf(page.text), "name": "Fredrik Falk",
                                  "organisation_code": "2284", "organisation": ""})
    assert done.status_code == 200
    with transaction(engine) as s:
        names = set(s.scalars(select(Organisation.name)))
    assert "Örnsköldsviks kommun" in names and "Örnsköldsvik kommun" not in names


def test_a_preliminary_meeting_says_so_on_the_page(
        settings: Settings, engine: Engine, app: FastAPI, client: TestClient) -> None:
    """The invitation's mail says the autumn meeting is preliminary; the registration page
    said nothing (a firm date, as it seemed, to plan the trip to Stockholm by)."""
    inv_id, ids = _setup(settings, engine, app)
    page = client.get(_url(app, ids["anna.andersson@hylte.se"], inv_id))
    assert page.status_code == 200
    assert "11 oktober 2023</time>, Stockholm (preliminärt)</li>" in page.text
    assert page.text.count("preliminärt") == 1  # the other two are firm
    english = client.get(_url(app, ids["anna.andersson@hylte.se"], inv_id) + "?lang=en")
    assert "Stockholm (preliminary)</li>" in english.text


def test_seats_shown_are_those_of_the_organisation_named(settings: Settings, engine: Engine,
                                                        app: FastAPI,
                                                        client: TestClient) -> None:
    """The form lets people name another organisation than the one we hold for them; the
    seats the page shows (and the refusal's count) are that organisation's, where the
    registration counts, not those of the organisation on file."""
    inv_id, ids = _setup(settings, engine, app)
    desk: StoreDesk = app.state.web.desk
    for e in ("anna.andersson@hylte.se", "bengt.berg@hylte.se"):
        assert desk.register(inv_id, ids[e], name="x", organisation="Hylte kommun",
                             now=NOW).outcome is Outcome.registered
    url = _url(app, ids["david.dahl@uppsala.se"], inv_id)  # Uppsala kommun on file
    page = client.get(url)
    assert "2 av 2 kvar" in page.text
    full = client.post(url, data={"csrf_token": csrf(page.text), "name": "David Dahl",
                                  "organisation_code": "1315"})  # Hylte: full
    assert full.status_code == 409
    assert "Hylte kommun har redan 2 av 2 platser" in full.text
    assert "0 av 2 kvar" in full.text
    done = client.post(url, data={"csrf_token": csrf(page.text), "name": "David Dahl",
                                  "organisation_code": "other",
                                  "organisation": "Uppsala universitet"})
    assert done.status_code == 200 and "Du är anmäld" in done.text
    assert "1 av 2 kvar" in done.text
    again = client.get(url)
    assert "Du är redan anmäld" in again.text and "1 av 2 kvar" in again.text
    person = desk.registrant(inv_id, ids["david.dahl@uppsala.se"])
    assert person is not None and person.organisation == "Uppsala universitet"
    # his colleague at Uppsala kommun still has both of its seats
    assert "2 av 2 kvar" in client.get(_url(app, ids["eva.ek@uppsala.se"], inv_id)).text


def _links(mail_message: object, text: str) -> list[str]:
    """The targets of the links called ``text`` in the HTML part, and the URL after
    ``text:`` in the plain-text part."""
    import re
    from email.message import EmailMessage

    assert isinstance(mail_message, EmailMessage)
    html = mail_message.get_body(("html",))
    plain = mail_message.get_body(("plain",))
    assert html is not None and plain is not None
    found = re.findall(r'<a href="([^"]+)"[^>]*>' + re.escape(text) + "</a>",
                       html.get_content())
    found += re.findall(re.escape(text) + r":\s*\n(\S+)", plain.get_content())
    return found


def test_the_confirmations_unsubscribe_link_unsubscribes(
        settings: Settings, engine: Engine, app: FastAPI, client: TestClient,
        smtp_server: SmtpServer) -> None:
    """"Avsluta prenumerationen" in the confirmation opened the preferences page; it now
    does what the newsletter's does: leave the list the person was invited through."""
    from mailer.store.models import Subscription, SubscriptionStatus

    inv_id, ids = _setup(settings, engine, app)
    sid = ids["anna.andersson@hylte.se"]
    url = _url(app, sid, inv_id)
    page = client.get(url)
    client.post(url, data={"csrf_token": csrf(page.text), "name": "Anna Andersson",
                           "organisation": "Hylte kommun"})
    assert deliver_due(engine, settings).sent == 1
    (mail,) = smtp_server.wait_for(1)
    links = _links(mail.message, "Avsluta prenumerationen")
    assert len(links) == 2 and len(set(links)) == 1, links
    path = "/u/" + links[0].split("/u/", 1)[1]
    leave = client.get(path)
    assert leave.status_code == 200 and "Avsluta prenumerationen" in leave.text
    done = client.post(path, data={"csrf_token": csrf(leave.text)})
    assert done.status_code == 200, done.text
    with transaction(engine) as s:
        statuses = set(s.scalars(select(Subscription.status)
                                 .where(Subscription.subscriber_id == sid)))
    assert statuses == {SubscriptionStatus.unsubscribed}
    # The copy is not list mail: a confirmation reaches someone who left the list since.
    assert mail.message["List-Unsubscribe"] is None


def test_a_confirmation_to_someone_not_invited_offers_no_unsubscribe(
        settings: Settings, engine: Engine, app: FastAPI, smtp_server: SmtpServer) -> None:
    """Someone a coordinator registers who was invited through no list has no list to
    leave: the confirmation offers the preferences, not an "Unsubscribe" that is not one."""
    from mailer.services.invitations import add_registration

    _setup(settings, engine, app)
    with transaction(engine) as s:
        add_registration(s, settings, SLUG, email="ny.person@hylte.se", name="Ny Person",
                         organisation="Hylte kommun", now=NOW, send_confirmation=True)
    assert deliver_due(engine, settings).sent == 1
    (mail,) = smtp_server.wait_for(1)
    assert _links(mail.message, "Avsluta prenumerationen") == []
    assert len(_links(mail.message, "Ändra dina inställningar")) == 2
