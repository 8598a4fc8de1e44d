"""Coordinator pages: the 2023 network invitation with its deadline countdown, seats per
organisation, registration add/import, the reminder dry run and send-with-confirmation."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from mailer.config import Settings
from mailer.domain.registration import RegistrationHow
from mailer.store.db import transaction
from mailer.store.registrations import register
from tests.admin.conftest import EMAILS, csrf, login, post_form
from tests.invite_helpers import (
    ISSUE,
    PEOPLE,
    SLUG,
    RecordingMailer,
    add_people,
    copy_network,
    invited,
)
from tests.smtp_server import SmtpServer

NOW = datetime(2023, 2, 9, 9, 0, tzinfo=UTC)  # after the 7-day reminder, before the deadline




@pytest.fixture
def network(settings: Settings, engine: Engine, app: FastAPI) -> dict[str, int]:
    folder = settings.workspace / "issues" / SLUG
    folder.mkdir(parents=True)
    shutil.copy(ISSUE, folder / "issue.yaml")
    for extra in Path(ISSUE).parent.iterdir():
        if extra.name != "issue.yaml" and extra.is_file():
            shutil.copy(extra, folder / extra.name)
    with transaction(engine) as s:
        row, subs = invited(s)
        for email in ("anna.andersson@hylte.se", "bengt.berg@hylte.se"):
            register(s, row, subs[email], how=RegistrationHow.coordinator,
                     now=datetime(2023, 2, 1, tzinfo=UTC))
        ids = {e: sub.id for e, sub in subs.items()}
    app.state.web.now = lambda: NOW
    return ids


def test_invitation_pages(client: TestClient, team: dict[str, int], network: dict[str, int],
                          monkeypatch: pytest.MonkeyPatch) -> None:
    login(client, EMAILS["coordinator"], lang="en")
    page = client.get("/admin/invitations")
    assert page.status_code == 200, page.text
    assert SLUG in page.text and "6 days" in page.text  # deadline 2023-02-15
    page = client.get(f"/admin/invitations/{SLUG}")
    seats_part = page.text.split('id="reminders"')[0]
    assert "Hylte kommun" in seats_part and "Uppsala kommun" not in seats_part
    assert "Anna Andersson" in page.text
    # The reminders by when they go, not by their key in issue.yaml ("7d")
    reminders = page.text.split('id="reminders"')[1]
    assert "<td>7 days before the deadline</td>" in reminders, reminders
    assert "<td>1 day before the deadline</td>" in reminders
    # Dry run: who would be reminded and why not the others.
    dry = client.get(f"/admin/invitations/{SLUG}/remind")
    assert dry.status_code == 200
    assert "<h1>Reminder 7 days before the deadline</h1>" in dry.text, dry.text[:3000]
    sv = client.get(f"/admin/invitations/{SLUG}/remind?lang=sv").text
    assert "<h1>Påminnelse 7 dagar före sista anmälningsdagen</h1>" in sv
    dry = client.get(f"/admin/invitations/{SLUG}/remind?lang=en")  # the choice is kept
    assert "registered" in dry.text and "david.dahl@uppsala.se" in dry.text
    # Send with confirmation (delivery's mailer replaced by a recorder here).
    from mailer.services import invitations as service

    mailer = RecordingMailer()
    monkeypatch.setattr(service, "invitation_mailer", lambda settings: mailer)
    r = client.post(f"/admin/invitations/{SLUG}/remind",
                    data={"csrf_token": csrf(dry.text), "expected": "999", "confirm": "1"})
    assert r.status_code == 409 and "changed" in r.text
    expected = r.text.split('name="expected" value="')[1].split('"')[0]
    r = client.post(f"/admin/invitations/{SLUG}/remind",
                    data={"csrf_token": csrf(dry.text), "expected": expected, "confirm": "1"})
    assert r.status_code == 303, r.text
    assert mailer.planned and len(mailer.planned[0][1]) == int(expected)
    # A second dry run: those people are now "already reminded".
    again = client.get(f"/admin/invitations/{SLUG}/remind")
    assert "already reminded" in again.text


def test_after_the_deadline_the_dry_run_reminds_nobody(
        client: TestClient, app: FastAPI, team: dict[str, int],
        network: dict[str, int]) -> None:
    """After the deadline the page said "would be reminded" with "ja" on every row, then
    that no reminders can be sent; the rows and the count say what would really happen."""
    login(client, EMAILS["coordinator"], lang="sv")
    before = client.get(f"/admin/invitations/{SLUG}/remind").text
    would = before.split('id="decisions"')[1].split("</table>")[0].count("badge good")
    assert would > 0
    app.state.web.now = lambda: datetime(2023, 2, 16, 9, 0, tzinfo=UTC)
    login(client, EMAILS["coordinator"], lang="sv")  # the earlier session has expired
    page = client.get(f"/admin/invitations/{SLUG}/remind")
    assert page.status_code == 200, page.text
    rows = page.text.split('id="decisions"')[1].split("</table>")[0]
    assert "badge good" not in rows and rows.count("nej: anmäld<") == 2
    assert rows.count("nej: sista anmälningsdag har passerat<") == would
    assert "0 skulle få en påminnelse." in page.text
    assert "Skicka påminnelsen nu" not in page.text


def test_the_countdown_is_the_deadlines_and_counts_in_the_singular(
        client: TestClient, app: FastAPI, team: dict[str, int],
        network: dict[str, int]) -> None:
    """The reminder's page put "14 dagar 12 timmar kvar" (the deadline's time left)
    right after the reminder's own time, as if it were that reminder's; and one day one
    hour left read "1 dagar 1 timmar"."""
    login(client, EMAILS["coordinator"], lang="en")  # at NOW, 2023-02-09 09:00 UTC
    assert "6 days 13 hours left" in client.get("/admin/invitations").text
    # The deadline is 2023-02-15 23:59 in Stockholm (22:59 UTC): 1 day 1 hour 29 min.
    app.state.web.now = lambda: datetime(2023, 2, 14, 21, 30, tzinfo=UTC)
    login(client, EMAILS["coordinator"], lang="sv")  # the earlier session has expired
    for path in ("/admin/invitations", f"/admin/invitations/{SLUG}",
                 f"/admin/invitations/{SLUG}/remind"):
        page = client.get(path)
        assert page.status_code == 200, page.text
        assert "1 dag 1 timme kvar" in page.text, path
        assert not re.search(r"\bdagar \d+ timm|\bdagar kvar|timmar kvar", page.text), path
    page = client.get(f"/admin/invitations/{SLUG}/remind").text
    assert "Sista anmälningsdag 2023-02-15 23:59: <span" in page
    # Two registered, both of Hylte kommun: one organisation, in the singular.
    assert "från 1 organisation<" in client.get(f"/admin/invitations/{SLUG}").text


def test_editor_may_look_but_coordinator_work_needs_the_right(
        client: TestClient, team: dict[str, int], network: dict[str, int]) -> None:
    login(client, EMAILS["coordinator"], lang="en")
    r = post_form(client, f"/admin/invitations/{SLUG}", f"/admin/invitations/{SLUG}/registrations",
                  {"email": "eva.ek@uppsala.se"})
    assert r.status_code == 200 and "eva.ek@uppsala.se" in r.text
    r = post_form(client, f"/admin/invitations/{SLUG}", f"/admin/invitations/{SLUG}/registrations",
                  {"email": "cecilia.claesson@hylte.se"})
    assert r.status_code == 422  # Hylte's seats are taken


def test_registration_import_report(client: TestClient, team: dict[str, int],
                                    network: dict[str, int]) -> None:
    login(client, EMAILS["coordinator"], lang="en")
    page = client.get(f"/admin/invitations/{SLUG}")
    csv = ("PROJECTID;E-post;Namn;Organisation\n"
           "19425;fredrik.falk@ornskoldsvik.se;Fredrik Falk;Örnsköldsviks kommun\n"
           "19425;inte-en-adress;X;Y\n")
    r = client.post(f"/admin/invitations/{SLUG}/registrations/import",
                    data={"csrf_token": csrf(page.text)},
                    files={"file": ("export.csv", csv.encode("utf-8"), "text/csv")})
    assert r.status_code in (200, 422), r.text
    assert 'id="registration-report"' in r.text


def test_invitations_api(client: TestClient, team: dict[str, int], network: dict[str, int],
                         engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from mailer.services import invitations as service
    from tests.admin.conftest import token_for

    auth = {"authorization": f"Bearer {token_for(engine, 'coordinator')}"}
    listed = client.get("/api/invitations", headers=auth).json()
    assert [i["slug"] for i in listed] == [SLUG] and listed[0]["registered"] == 2
    detail = client.get(f"/api/invitations/{SLUG}", headers=auth).json()
    hylte = next(o for o in detail["organisations"] if o["organisation"] == "Hylte kommun")
    assert hylte["registered"] == 2 and hylte["remaining"] == detail[
        "seats_per_organisation"] - 2
    regs = client.get(f"/api/invitations/{SLUG}/registrations", headers=auth).json()
    assert regs["total"] == 2
    preview = client.get(f"/api/invitations/{SLUG}/reminders/preview", headers=auth).json()
    assert preview["dry_run"] and preview["recipients"] >= 1
    mailer = RecordingMailer()
    monkeypatch.setattr(service, "invitation_mailer", lambda settings: mailer)
    r = client.post(f"/api/invitations/{SLUG}/reminders", headers=auth, json={"expected": 999})
    assert r.status_code == 409 and r.json()["error"]["field"] == "expected"
    r = client.post(f"/api/invitations/{SLUG}/reminders", headers=auth,
                    json={"expected": preview["recipients"]})
    assert r.status_code == 200 and r.json()["recipients"] == preview["recipients"]
    r = client.post(f"/api/invitations/{SLUG}/registrations", headers=auth,
                    json={"email": "cecilia.claesson@hylte.se"})
    assert r.status_code == 400 and "Hylte kommun" in r.json()["error"]["message"]
    editor = {"authorization": f"Bearer {token_for(engine, 'editor')}"}
    assert client.get(f"/api/invitations/{SLUG}", headers=editor).status_code == 200


def test_the_issues_page_lists_an_invitations_own_mailings(
        client: TestClient, team: dict[str, int], network: dict[str, int],
        engine: Engine) -> None:
    """Its mailings column said "–" for an invitation that had gone out: its mailings'
    source is ``invitation:<folder>``, not the folder's path. A registrant's own
    confirmation (one mailing per person) is not listed there."""
    from mailer.render.types import RenderedMailing
    from mailer.services.mailings import PlannedRecipient, plan_mailing

    ids = {}
    with transaction(engine) as s:
        for kind, source in (("invitation", f"invitation:{SLUG}"),
                             ("reminder", f"invitation:{SLUG}:remind:7d"),
                             ("confirmation", f"invitation:{SLUG}:confirm")):
            ids[kind] = plan_mailing(s, RenderedMailing("Inbjudan", "<p>x</p>", "x"),
                                     kind=kind, now=NOW, source=source,
                                     recipients=[PlannedRecipient("a@example.org")])[0].id
    login(client, EMAILS["coordinator"])
    row = client.get("/admin/issues").text.split(f"<code>{SLUG}</code>")[1].split("</tr>")[0]
    assert f'href="/admin/mailings/{ids["invitation"]}"' in row, row
    assert f'href="/admin/mailings/{ids["reminder"]}"' in row, row
    assert f'/admin/mailings/{ids["confirmation"]}"' not in row, row
    assert "<td>–</td>" not in row
    page = client.get(f"/admin/issues/{SLUG}").text
    assert f'/admin/mailings/{ids["invitation"]}"' in page
    assert f'/admin/mailings/{ids["confirmation"]}"' not in page


def test_the_subscribers_page_shows_their_invitations_as_a_table(
        client: TestClient, team: dict[str, int], network: dict[str, int],
        engine: Engine) -> None:
    """Their invitations were English JSON under "Övriga uppgifter" ("registration",
    "status": "registered", times in UTC); now a table in the reader's language."""
    from mailer.store.models import (
        InvitationRow,
        LedgerState,
        ReconfirmAnswer,
        Reconfirmation,
        ReminderLedger,
    )

    anna, david = network["anna.andersson@hylte.se"], network["david.dahl@uppsala.se"]
    with transaction(engine) as s:
        inv = s.query(InvitationRow).one().id
        s.add(ReminderLedger(invitation_id=inv, subscriber_id=david, offset_key="7d",
                             state=LedgerState.sent, at=datetime(2023, 2, 8, 8, 0, tzinfo=UTC)))
        s.add(ReminderLedger(invitation_id=inv, subscriber_id=david, offset_key="1d",
                             state=LedgerState.missed,
                             at=datetime(2023, 2, 16, 8, 0, tzinfo=UTC)))
        s.add(Reconfirmation(invitation_id=inv, subscriber_id=anna, year=2024,
                             answer=ReconfirmAnswer.yes))
        s.add(Reconfirmation(invitation_id=inv, subscriber_id=anna, year=2025))
    login(client, EMAILS["coordinator"])
    page = client.get(f"/admin/subscribers/{anna}").text
    row = page.split('id="invitations"')[1].split("</table>")[0]
    assert f'<a href="/admin/invitations/{SLUG}">{SLUG}</a>' in row
    assert "<td>2023-01-20 09:00</td>" in row  # invited, Stockholm time
    assert "anmäld · samordnare · Hylte kommun · 2023-02-01 01:00" in row, row
    assert "2024: ja<br>2025: inget svar än" in row, row
    assert "Övriga uppgifter" not in page and "&#34;invitations&#34;" not in page
    page = client.get(f"/admin/subscribers/{david}").text
    row = page.split('id="invitations"')[1].split("</table>")[0]
    assert "inte anmäld" in row
    assert ("7d: skickad 2023-02-08 09:00<br>"
            "1d: skickades inte, tiden hade passerat (2023-02-16 09:00)") in row, row
    english = client.get(f"/admin/subscribers/{david}", params={"lang": "en"}).text
    assert "7d: sent 2023-02-08 09:00" in english and "not registered" in english


def test_an_invitations_own_checks_are_swedish_on_its_page(
        client: TestClient, team: dict[str, int], network: dict[str, int],
        app: FastAPI) -> None:
    """The warning that the deadline has passed was English on the Swedish page
    ("Deadline: the deadline … has passed; invitations and reminders will not be sent")."""
    app.state.web.now = lambda: datetime(2023, 3, 1, 9, 0, tzinfo=UTC)
    login(client, EMAILS["coordinator"])
    page = client.get(f"/admin/issues/{SLUG}").text
    assert ("Sista anmälningsdag: sista anmälningsdagen 2023-02-15 23:59 har passerat; "
            "inbjudningar och påminnelser skickas inte") in page, page
    assert "has passed" not in page and "Deadline" not in page
    english = client.get(f"/admin/issues/{SLUG}", params={"lang": "en"}).text
    assert "Deadline: the deadline 2023-02-15 23:59 has passed; invitations and " in english
    # What to do here, not the command line's '--now' (which 'mailer issue check' says).
    assert ("skickas inte. Om inbjudan fortfarande är öppen: flytta registration.deadline "
            "i dess issue.yaml; anmälningarna finns kvar på inbjudans sida") in page
    assert ("not be sent. If the invitation is still open, move registration.deadline in "
            "its issue.yaml; its registrations stay on the invitation&#39;s page") in english
    assert "--now" not in page and "--now" not in english


def test_the_deadline_warning_keeps_the_command_lines_advice_there() -> None:
    import datetime as dt

    from mailer.authoring import load_document
    from mailer.authoring.examples import INVITATION, bundled_issues

    loaded = load_document(bundled_issues() / INVITATION, today=dt.date(2023, 3, 1))
    [passed] = [p for p in loaded.warnings if p.field == "registration.deadline"]
    assert str(passed).endswith("(move the deadline to send, or use --now for a dry run)")


def test_registration_words_agree_on_the_invitation_and_the_dry_run(
        client: TestClient, team: dict[str, int], network: dict[str, int],
        engine: Engine) -> None:
    """The dry run counted "anmäld: 2." (one person's word with a count); a cancelled
    registration read "avbrutet", a cancelled mailing's word."""
    from mailer.store.models import InvitationRow, Subscriber
    from mailer.store.registrations import cancel

    with transaction(engine) as s:
        row = s.query(InvitationRow).one()
        cancel(s, row, s.get(Subscriber, network["bengt.berg@hylte.se"]),
               now=datetime(2023, 2, 2, tzinfo=UTC))
    login(client, EMAILS["coordinator"])
    dry = client.get(f"/admin/invitations/{SLUG}/remind").text
    summary = dry.split("skulle få en påminnelse.</strong>")[1].split("</p>")[0]
    assert summary.split() == ["1", "anmäld.", "1", "har", "avanmält", "sig."], summary
    page = client.get(f"/admin/invitations/{SLUG}").text
    assert '<span class="meta">anmälan avbokad</span>' in page and "avbrutet" not in page
    # The delivery process is "utskicksprocess" on every Swedish page (was "worker" here).
    assert "En körande utskicksprocess (mailer worker) skickar" in page
    assert "Ingen utskicksprocess har körts än" in client.get("/admin").text
    english = client.get(f"/admin/invitations/{SLUG}/remind", params={"lang": "en"}).text
    assert "1 registered. 1 cancelled their registration." in " ".join(english.split())


def test_an_invitation_is_not_sent_as_a_newsletter_from_its_issue_page(
        client: TestClient, team: dict[str, int], network: dict[str, int],
        engine: Engine) -> None:
    """Its issue page offered "Skicka till listor": that planned the invitation as a
    newsletter to the whole list (no invitees recorded, the deadline ignored, everyone
    invited again), where 'mailer send' and the API refuse it."""
    from sqlalchemy import func, select

    from mailer.store.models import Mailing

    login(client, EMAILS["editor"])
    page = client.get(f"/admin/issues/{SLUG}").text
    assert f'action="/admin/issues/{SLUG}/schedule' not in page
    assert "En inbjudan skickas från sin egen sida (eller med 'mailer invite MAPP')" in \
        page.replace("&#39;", "'")
    assert f'<a href="/admin/invitations/{SLUG}">Öppna inbjudans sida</a>' in page
    r = post_form(client, f"/admin/issues/{SLUG}", f"/admin/issues/{SLUG}/schedule",
                  {"lists": "demo", "confirm": "1"})
    assert r.status_code == 400 and "Inget har skickats" in r.text, r.text
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(Mailing)) == 0


def test_a_coordinator_sends_the_invitation_from_its_page_and_it_arrives(
        client: TestClient, app: FastAPI, team: dict[str, int], settings: Settings,
        engine: Engine, smtp_server: SmtpServer) -> None:
    """The page said "not reached: invite again" while only 'mailer invite' could invite: a
    coordinator without a terminal could neither send the invitation nor re-invite."""
    from sqlalchemy import select

    from mailer.store import suppressions
    from mailer.store.models import SuppressionReason

    copy_network(settings.workspace, "natverk")
    with transaction(engine) as s:
        add_people(s, PEOPLE[:4], "natverk")
        suppressions.suppress(s, PEOPLE[3][0], SuppressionReason.hard_bounce, now=NOW)
    app.state.web.now = lambda: NOW
    login(client, EMAILS["coordinator"])
    page = client.get(f"/admin/invitations/{SLUG}")
    assert page.status_code == 200, page.text
    # Not counted on every view (it reads every subscriber of the lists): on demand.
    assert 'id="invite-plan"' not in page.text and "personer skulle" not in page.text
    assert f'href="/admin/invitations/{SLUG}/invite#invite">Vilka skulle bjudas in nu?' \
        in page.text
    page = client.get(f"/admin/invitations/{SLUG}/invite")
    assert page.status_code == 200, page.text
    # Counted as the send plans it: the suppressed address is left out.
    assert "natverk: 3 personer skulle bjudas in" in page.text
    assert 'name="expected" value="3"' in page.text
    r = post_form(client, f"/admin/invitations/{SLUG}", f"/admin/invitations/{SLUG}/invite",
                  {"expected": "3"})
    assert r.status_code == 400 and "Kryssa i rutan" in r.text
    r = post_form(client, f"/admin/invitations/{SLUG}", f"/admin/invitations/{SLUG}/invite",
                  {"expected": "7", "confirm": "1"})
    assert r.status_code == 409 and "Antalet att bjuda in har ändrats" in r.text
    r = post_form(client, f"/admin/invitations/{SLUG}", f"/admin/invitations/{SLUG}/invite",
                  {"expected": "3", "confirm": "1"})
    assert r.status_code == 303 and "invited" in r.headers["location"], r.text
    _three_invited(engine, settings, smtp_server)
    with transaction(engine) as s:
        assert s.scalar(select(func_count_mailings())) == 1
    page = client.get(f"/admin/invitations/{SLUG}/invite")
    assert "Alla på inbjudans listor har bjudits in." in page.text
    # After the deadline the page offers no send, and a stale form is refused.
    app.state.web.now = lambda: datetime(2023, 2, 16, 9, 0, tzinfo=UTC)
    login(client, EMAILS["coordinator"])  # the session of a week ago has lapsed
    for path in (f"/admin/invitations/{SLUG}", f"/admin/invitations/{SLUG}/invite"):
        page = client.get(path)
        assert 'id="invite-closed"' in page.text and 'id="invite-plan"' not in page.text
    r = post_form(client, f"/admin/invitations/{SLUG}", f"/admin/invitations/{SLUG}/invite",
                  {"expected": "0", "confirm": "1"})
    assert r.status_code == 422 and "kan inte skicka inbjudan: sista anmälningsdag" in r.text


def test_the_api_previews_and_sends_the_invitation_and_it_arrives(
        client: TestClient, app: FastAPI, team: dict[str, int], settings: Settings,
        engine: Engine, smtp_server: SmtpServer) -> None:
    """The API said `not_reached` (invite again) but had no way to invite: now a preview
    counted as the send plans it, and the send, refused when the count changed, after the
    deadline, or for a list that does not exist, in the API's words."""
    from mailer.store import suppressions
    from mailer.store.models import SuppressionReason
    from tests.admin.conftest import token_for

    copy_network(settings.workspace, "natverk")
    with transaction(engine) as s:
        add_people(s, PEOPLE[:4], "natverk")
        suppressions.suppress(s, PEOPLE[3][0], SuppressionReason.hard_bounce, now=NOW)
    app.state.web.now = lambda: NOW
    auth = {"authorization": f"Bearer {token_for(engine, 'coordinator')}"}
    preview = client.get(f"/api/invitations/{SLUG}/invite/preview", headers=auth)
    assert preview.status_code == 200, preview.text
    assert preview.json() == {"dry_run": True, "total": 3, "lists": [
        {"list": "natverk", "people": 3, "mailing_id": None}]}
    assert client.post(f"/api/invitations/{SLUG}/invite", json={}).status_code == 401
    r = client.post(f"/api/invitations/{SLUG}/invite", headers=auth, json={"expected": 7})
    assert r.status_code == 409 and r.json()["error"]["field"] == "expected", r.text
    r = client.post(f"/api/invitations/{SLUG}/invite", headers=auth,
                    json={"list": "nope", "expected": 0})
    assert r.status_code == 404 and "mailer " not in r.json()["error"]["message"], r.text
    with transaction(engine) as s:
        assert s.scalar(select(func_count_mailings())) == 0  # nothing sent by the refusals
    r = client.post(f"/api/invitations/{SLUG}/invite", headers=auth,
                    json={"list": "natverk", "expected": 3})
    assert r.status_code == 200, r.text
    sent = r.json()
    assert sent["dry_run"] is False and sent["total"] == 3 and sent["lists"][0]["mailing_id"]
    _three_invited(engine, settings, smtp_server)
    again = client.get(f"/api/invitations/{SLUG}/invite/preview", headers=auth).json()
    assert again["total"] == 0  # nobody is invited twice
    detail = client.get(f"/api/invitations/{SLUG}", headers=auth).json()
    assert detail["invitees"] == 3 and detail["not_reached"] == 0
    app.state.web.now = lambda: datetime(2023, 2, 16, 9, 0, tzinfo=UTC)
    r = client.post(f"/api/invitations/{SLUG}/invite", headers=auth, json={})
    assert r.status_code == 400, r.text
    message = r.json()["error"]["message"]
    assert "deadline" in message and "mailer " not in message and "--" not in message


def _three_invited(engine: Engine, settings: Settings, smtp_server: SmtpServer) -> None:
    """The worker delivers the invitation to the first three people, who count as invited."""
    from mailer.delivery.worker import deliver_due
    from mailer.store.invitations import get_invitation, invitee_count

    assert deliver_due(engine, settings, clock=lambda: NOW).sent == 3
    got = smtp_server.wait_for(3)
    assert sorted(x.rcpt_tos[0] for x in got) == sorted(e for e, _n, _o in PEOPLE[:3])
    with transaction(engine) as s:
        assert invitee_count(s, get_invitation(s, SLUG)) == 3


def func_count_mailings():  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from mailer.store.models import Mailing

    return select(func.count()).select_from(Mailing).scalar_subquery()
