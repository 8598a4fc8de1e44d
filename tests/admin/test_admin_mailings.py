"""Sending from the admin on the delivery layer: schedule an issue, progress and chart on
the dashboard, failures with the SMTP reply, pause/resume/cancel, role limits, the API."""

from __future__ import annotations

import shutil
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from mailer.authoring.examples import FLAGSHIP, flagship_path
from mailer.config import Settings
from mailer.delivery.worker import deliver_due
from mailer.services.lists import create_list
from mailer.services.mailings import progress
from mailer.store.db import transaction
from mailer.store.models import (
    Mailing,
    MailingKind,
    MailingStatus,
    OutboxRow,
    OutboxStatus,
    Subscriber,
    Subscription,
    utcnow,
)
from tests.admin.conftest import EMAILS, csrf, login, post_form, token_for
from tests.smtp_server import SmtpServer

PEOPLE = ["anna@hylte.se", "bo@uppsala.se", "cia@karlskoga.se"]


@pytest.fixture
def ready(settings: Settings, engine: Engine) -> None:
    shutil.copytree(flagship_path(), settings.workspace / "issues" / FLAGSHIP)
    with transaction(engine) as s:
        lst = create_list(s, "medborgardialog", "Nyhetsbrev om medborgardialog")
        for email in PEOPLE:
            sub = Subscriber(email=email, email_key=email)
            s.add(sub)
            s.flush()
            s.add(Subscription(subscriber_id=sub.id, list_id=lst.id, status="active"))


def _schedule(client: TestClient, at: str = "") -> str:
    r = post_form(client, f"/admin/issues/{FLAGSHIP}", f"/admin/issues/{FLAGSHIP}/schedule",
                  {"lists": "medborgardialog", "at": at, "confirm": "1"})
    assert r.status_code == 303, r.text
    return r.headers["location"].split("?")[0]


def test_send_now_then_progress_chart_and_failures(
        client: TestClient, team: dict[str, int], ready: None, engine: Engine,
        settings: Settings, smtp_server: SmtpServer) -> None:
    smtp_server.handler.rcpt_fault = (
        lambda addr: "550 5.1.1 <bo@uppsala.se>: Recipient address rejected"
        if addr == "bo@uppsala.se" else None)
    login(client, EMAILS["editor"], lang="en")
    page = client.get(f"/admin/issues/{FLAGSHIP}")
    r = client.post(f"/admin/issues/{FLAGSHIP}/schedule",
                    data={"csrf_token": csrf(page.text), "lists": "medborgardialog"})
    assert r.status_code == 400 and "Tick the box" in r.text  # the confirmation step
    url = _schedule(client)
    assert url.startswith("/admin/mailings/")
    deliver_due(engine, settings)
    got = smtp_server.wait_for(2)
    assert sorted(x.rcpt_tos[0] for x in got) == ["anna@hylte.se", "cia@karlskoga.se"]
    page = client.get(url)
    assert page.status_code == 200 and "<svg" in page.text
    assert "Recipient address rejected" in page.text
    dash = client.get("/admin")
    assert "<svg" in dash.text and 'id="failures"' in dash.text and 'id="health"' in dash.text
    issues = client.get("/admin/issues")
    assert f'href="{url}"' in issues.text


def test_refused_send_form_keeps_input_with_the_error_beside_the_field(
        client: TestClient, team: dict[str, int], ready: None, engine: Engine,
        smtp_server: SmtpServer) -> None:
    login(client, EMAILS["editor"])  # Swedish, the default
    page = client.get(f"/admin/issues/{FLAGSHIP}")
    token = csrf(page.text)
    # The confirmation box not ticked: the same page again, nothing sent, input kept.
    r = client.post(f"/admin/issues/{FLAGSHIP}/schedule",
                    data={"csrf_token": token, "lists": "medborgardialog",
                          "at": "2030-06-15T08:00"})
    assert r.status_code == 400 and '<html lang="sv">' in r.text
    assert "Inget har skickats" in r.text
    box = r.text.split('id="confirm-error"')[1].split("</div>")[0]
    assert "Kryssa i rutan för att bekräfta" in box and 'id="confirm"' in box
    assert 'aria-describedby="confirm-error"' in box
    assert 'value="medborgardialog" checked' in r.text
    assert 'name="at" value="2030-06-15T08:00"' in r.text
    assert "tick the box" not in r.text.lower()
    # No list, a time that is no time: each error beside its own field.
    r = client.post(f"/admin/issues/{FLAGSHIP}/schedule",
                    data={"csrf_token": token, "at": "i morgon", "confirm": "1"})
    assert r.status_code == 400
    assert 'id="lists-error">Välj minst en lista' in r.text
    assert "&#39;i morgon&#39; är inget datum med tid" in r.text
    assert 'name="at" value="i morgon"' in r.text
    # A test to something that is no address: the typed text stays in the field.
    r = client.post(f"/admin/issues/{FLAGSHIP}/test",
                    data={"csrf_token": token, "addresses": "anna@hylte.se, inte-en-adress"})
    assert r.status_code == 400
    assert 'id="addresses-error">inte e-postadresser: inte-en-adress' in r.text
    assert 'value="anna@hylte.se, inte-en-adress"' in r.text
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(Mailing)) == 0
    # Ticked, with a list: scheduled.
    r = client.post(f"/admin/issues/{FLAGSHIP}/schedule",
                    data={"csrf_token": token, "lists": "medborgardialog", "confirm": "1",
                          "at": "2030-06-15T08:00"})
    assert r.status_code == 303


def test_schedule_pause_resume_cancel_and_role_limits(
        client: TestClient, team: dict[str, int], ready: None, settings: Settings) -> None:
    login(client, EMAILS["editor"], lang="en")
    later = (utcnow() + timedelta(days=2)).astimezone(settings.tz).strftime("%Y-%m-%dT%H:%M")
    url = _schedule(client, later)
    page = client.get(url).text
    assert "scheduled" in page
    # Nothing delivered over time yet: no empty chart framed at "08:00 08:00 08:00".
    assert "<svg" not in page and 'class="chart"' not in page
    for action, state in (("pause", "paused"), ("resume", "scheduled"),
                          ("cancel", "cancelled")):
        r = post_form(client, url, f"{url}/{action}", {"confirm": "1"})
        assert r.status_code == 303, r.text
        assert f'id="mailing-status">{state}' in client.get(url).text
    client.cookies.clear()
    login(client, EMAILS["coordinator"], lang="en")
    r = post_form(client, f"/admin/issues/{FLAGSHIP}", f"/admin/issues/{FLAGSHIP}/schedule",
                  {"lists": "medborgardialog", "confirm": "1"})
    assert r.status_code == 403  # coordinators do not send newsletter issues
    r = post_form(client, url, f"{url}/pause", {})
    assert r.status_code == 403


def test_a_mailings_note_is_in_the_readers_language(
        client: TestClient, team: dict[str, int], ready: None, settings: Settings) -> None:
    """Paused, cancelled (and missed): the note on the mailing's page was stored English."""
    from mailer.domain.outcomes import NOTE_MISSED, note, note_message
    from mailer.render.i18n import Translator

    login(client, EMAILS["editor"])  # Swedish by default
    later = (utcnow() + timedelta(days=2)).astimezone(settings.tz).strftime("%Y-%m-%dT%H:%M")
    url = _schedule(client, later)
    post_form(client, url, f"{url}/pause", {})
    assert 'id="mailing-note">pausat i läget ”schemalagt”</p>' in client.get(url).text
    # A cancel cannot be undone, and its button sits beside "Pausa": one click alone is
    # refused on the page, beside the tick it needs, and nothing is cancelled.
    r = post_form(client, url, f"{url}/cancel", {})
    assert r.status_code == 400, r.text
    refused = r.text.split('id="cancel"')[1].split("</form>")[0]
    assert 'id="cancel-error"' in refused and "inget har avbrutits" in refused
    assert "pausat i läget" in client.get(url).text
    post_form(client, url, f"{url}/cancel", {"confirm": "1"})
    page = client.get(url).text
    assert 'id="mailing-note">avbrutet; 3 meddelanden skickades inte</p>' in page, page
    assert " · stoppat " in page and " · klart " not in page  # cancelled, not done
    # Why not delivered: the reason in Swedish, not our own English text as its example.
    assert "<td>utskicket avbröts</td>" in page and "not sent: the mailing was" not in page
    assert "messages not sent" not in page
    assert "cancelled; 3 messages not sent" in client.get(url, params={"lang": "en"}).text
    missed = note(NOTE_MISSED, due="2027-01-10 08:00 (Europe/Stockholm)", late="3600",
                  grace=900, n=1)
    assert missed.endswith("(grace 900 s); 1 message not sent. Plan it again to send it.")
    # its time as the workspace's local time (the store names it so), in Swedish
    assert Translator("sv").localise(note_message(missed)) == (
        "missat: det skulle gå 2027-01-10 08:00 (Europe/Stockholm), men ingen "
        "utskicksprocess körde förrän 3600 s senare (marginal 900 s); 1 meddelande "
        "skickades inte. Planera utskicket igen för att skicka det.")
    # a note stored before (in UTC) is still shown in the reader's language
    old = missed.replace("08:00 (Europe/Stockholm)", "07:00 UTC")
    assert Translator("sv").localise(note_message(old)).startswith(
        "missat: det skulle gå 2027-01-10 07:00 UTC, men")


def test_mailings_api(client: TestClient, team: dict[str, int], ready: None,
                      engine: Engine) -> None:
    editor = {"authorization": f"Bearer {token_for(engine, 'editor')}"}
    coordinator = {"authorization": f"Bearer {token_for(engine, 'coordinator')}"}
    at = (utcnow() + timedelta(days=1)).isoformat()
    body = {"issue": FLAGSHIP, "at": at}
    assert client.post("/api/mailings", json=body, headers=coordinator).status_code == 403
    r = client.post("/api/mailings", json=body, headers=editor)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["status"] == "scheduled" and made["total"] == 3
    r = client.post(f"/api/mailings/{made['id']}/pause", headers=editor)
    assert r.json()["status"] == "paused"
    listed = client.get("/api/mailings", headers=editor).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == made["id"]
    r = client.post("/api/mailings", json={"issue": FLAGSHIP, "at": "2020-01-01T08:00:00"},
                    headers=editor)
    assert r.status_code == 422 and r.json()["error"]["field"] == "at"


def test_mailings_api_pages_in_the_database(client: TestClient, team: dict[str, int],
                                            engine: Engine) -> None:
    """A page of mailings is read as a page (newest first), with the total of all of them;
    the list pages read no reasons, a mailing's own page does."""
    editor = {"authorization": f"Bearer {token_for(engine, 'editor')}"}
    with transaction(engine) as s:
        made = [Mailing(kind=MailingKind.newsletter, subject=f"Nr {i}", html="", text="",
                        status=MailingStatus.cancelled) for i in range(5)]
        s.add_all(made)
        s.flush()
        ids = [m.id for m in made]
        s.add(OutboxRow(mailing_id=ids[0], email="a@example.org", email_key="a@example.org",
                        status=OutboxStatus.skipped, last_reply="not sent: cancelled"))
    listed = client.get("/api/mailings?per_page=2&page=2", headers=editor).json()
    assert listed["total"] == 5
    assert [m["id"] for m in listed["items"]] == [ids[2], ids[1]]
    last = client.get("/api/mailings?per_page=2&page=3", headers=editor).json()
    assert [m["id"] for m in last["items"]] == [ids[0]] and last["total"] == 5
    assert last["items"][0]["reasons"][0]["count"] == 1
    with transaction(engine) as s:
        assert [p.id for p in progress(s, limit=2, offset=3)] == [ids[1], ids[0]]
        assert progress(s, [ids[0]])[0].reasons
        assert not progress(s, [ids[0]], reasons=False)[0].reasons
