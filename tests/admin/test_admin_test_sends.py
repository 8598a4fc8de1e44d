"""An issue's test send says what is true: queued after the form, then each address's copy
as the outbox has it (sent, refused with the server's reply, waiting to retry), and that
no worker runs when none takes it. Real SQLite/PostgreSQL, aiosmtpd on loopback and the
real worker (``deliver_due``, as ``mailer worker --drain``)."""

from __future__ import annotations

import os
import re
import shutil
import socket
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from mailer.authoring.examples import FLAGSHIP, flagship_path
from mailer.config import Settings
from mailer.delivery.worker import deliver_due
from mailer.store import workers
from mailer.store.db import transaction
from tests.admin.conftest import EMAILS, login, post_form, token_for
from tests.smtp_server import SmtpServer

ISSUE = f"/admin/issues/{FLAGSHIP}"
PANEL = f"{ISSUE}/tests?part=panel"


@pytest.fixture
def flagship(settings: Settings) -> Path:
    target = settings.workspace / "issues" / FLAGSHIP
    shutil.copytree(flagship_path(), target)
    return target


def _states(html: str) -> dict[str, str]:
    """Each address of the latest tests panel and its state cell's words."""
    return {m.group(2): re.sub(r"<[^>]+>", "", m.group(3)).strip()
            for m in re.finditer(r'<tr class="copy" data-state="(\w+)"><td>([^<]+)</td>\s*'
                                 r'<td>(.*?)</td>', html, re.S)}


def _send_test(client: TestClient, addresses: str) -> str:
    """Post the test form; the issue page it leads to."""
    r = post_form(client, ISSUE, f"{ISSUE}/test", {"addresses": addresses})
    assert r.status_code == 303, r.text
    assert "done=test-queued" in r.headers["location"] and r.headers["location"].endswith(
        "#tests")
    page = client.get(r.headers["location"].split("#")[0])
    assert page.status_code == 200
    return page.text


def test_the_test_is_queued_then_shown_sent_once_the_worker_sent_it(
        client: TestClient, team: dict[str, int], flagship: Path, settings: Settings,
        engine: Engine, smtp_server: SmtpServer) -> None:
    login(client, EMAILS["editor"])
    page = _send_test(client, "anna@example.org, bo@example.org")
    # What is true after the form: queued for both, not "sent".
    assert ("Testet har lagts i kö för att skickas till anna@example.org och "
            "bo@example.org. Under Senaste testerna nedan ser du om varje exemplar har "
            "skickats, eller varför inte.") in page
    assert "Testet har skickats" not in page
    assert smtp_server.received == []
    states = _states(page)
    assert set(states) == {"anna@example.org", "bo@example.org"}
    assert all(s.startswith("i kö sedan ") for s in states.values()), states
    # While a copy is open the panel follows itself (its own address, for the script).
    assert f'data-follow="{PANEL}"' in page
    panel = client.get(PANEL)
    assert panel.text.lstrip().startswith('<div id="tests"') and "<html" not in panel.text
    assert "Ingen utskicksprocess verkar vara igång" not in page  # only seconds old
    # The real worker delivers both copies to the loopback server.
    assert deliver_due(engine, settings).sent == 2
    assert len(smtp_server.wait_for(2)) == 2
    panel = client.get(PANEL).text
    states = _states(panel)
    assert all(re.fullmatch(r"skickat \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", s)
               for s in states.values()), states
    assert "data-follow" not in panel  # nothing left to follow
    # Its own page (for a browser without JavaScript) stops reloading itself too.
    assert 'http-equiv="refresh"' not in client.get(f"{ISSUE}/tests").text


def test_one_address_in_english_is_named_in_the_singular(
        client: TestClient, team: dict[str, int], flagship: Path, engine: Engine) -> None:
    login(client, EMAILS["editor"], lang="en")
    page = _send_test(client, "anna@example.org")
    assert ("The test has been queued for anna@example.org. Under Latest tests below you "
            "see whether it has been sent, or why not.") in page
    assert _states(page)["anna@example.org"].startswith("queued since ")
    full = client.get(f"{ISSUE}/tests").text
    assert '<meta http-equiv="refresh" content="5">' in full  # no JavaScript needed


def test_a_refusal_is_shown_with_the_servers_reply(
        client: TestClient, team: dict[str, int], flagship: Path, settings: Settings,
        engine: Engine, smtp_server: SmtpServer) -> None:
    reply = "550 5.1.1 <bo@example.org>: Recipient address rejected: User unknown"
    smtp_server.handler.rcpt_fault = lambda address: reply if address.startswith("bo@") else None
    login(client, EMAILS["editor"])
    _send_test(client, "anna@example.org, bo@example.org")
    report = deliver_due(engine, settings)
    assert (report.sent, report.failed) == (1, 1), report
    panel = client.get(PANEL).text
    states = _states(panel)
    assert states["anna@example.org"].startswith("skickat ")
    assert states["bo@example.org"].startswith("inte skickat: avvisad av servern ("), states
    assert f"<code>{reply.replace('<', '&lt;').replace('>', '&gt;')}</code>" in panel
    assert "data-follow" not in panel  # a refusal is final
    states = _states(client.get(PANEL + "&lang=en").text)
    assert states["bo@example.org"].startswith("not sent: refused by the server ("), states


def test_a_temporary_refusal_says_when_it_is_tried_again(
        client: TestClient, team: dict[str, int], flagship: Path, settings: Settings,
        engine: Engine, smtp_server: SmtpServer) -> None:
    smtp_server.handler.rcpt_fault = lambda address: "451 4.3.0 Mailbox busy, try later"
    login(client, EMAILS["editor"])
    _send_test(client, "anna@example.org")
    assert deliver_due(engine, settings).sent == 0
    panel = client.get(PANEL).text
    state = _states(panel)["anna@example.org"]
    assert re.fullmatch(r"inte skickat än: \d försök misslyckades; nästa försök "
                        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", state), state
    assert "451 4.3.0 Mailbox busy, try later" in panel
    assert "data-follow" in panel  # it will still change


def test_a_test_nobody_takes_says_that_no_worker_runs(
        client: TestClient, app: FastAPI, team: dict[str, int], flagship: Path,
        engine: Engine) -> None:
    login(client, EMAILS["editor"])
    page = _send_test(client, "anna@example.org")
    assert 'id="no-worker"' not in page
    real = app.state.web.now
    app.state.web.now = lambda: real() + timedelta(seconds=45)
    panel = client.get(PANEL).text
    assert 'id="no-worker"' in panel
    assert "Ingen utskicksprocess verkar vara igång" in panel
    assert "Be den som sköter servern att starta en (kommandot mailer worker" in panel
    assert _states(panel)["anna@example.org"].startswith("i kö sedan ")
    # A worker that beats its heart: the test is late, not stranded.
    with transaction(engine) as s:
        workers.register(s, "w-test", host=socket.gethostname(), pid=os.getpid(),
                         role="worker", now=app.state.web.now())
    panel = client.get(PANEL).text
    assert 'id="no-worker"' not in panel and 'id="test-late"' in panel


def test_the_api_queues_a_test_and_its_state_route_follows_it(
        client: TestClient, team: dict[str, int], flagship: Path, settings: Settings,
        engine: Engine, smtp_server: SmtpServer) -> None:
    auth = {"authorization": f"Bearer {token_for(engine, 'editor')}"}
    r = client.post(f"/api/issues/{FLAGSHIP}/test", headers=auth,
                    json={"addresses": ["anna@example.org", "bo@example.org"]})
    assert r.status_code == 202, r.text  # accepted: queued, not sent
    body = r.json()
    mid = body["mailing_id"]
    assert body["open"] is True and body["worker_running"] is False
    assert body["state"] == f"/api/mailings/{mid}/copies"
    assert [(c["email"], c["state"]) for c in body["copies"]] == [
        ("anna@example.org", "queued"), ("bo@example.org", "queued")]
    smtp_server.handler.rcpt_fault = lambda a: "550 5.1.1 no such user" if a[:3] == "bo@" else None
    assert deliver_due(engine, settings).sent == 1
    later = client.get(body["state"], headers=auth).json()
    assert later["open"] is False
    states = {c["email"]: c for c in later["copies"]}
    assert states["anna@example.org"]["state"] == "sent"
    assert states["bo@example.org"]["state"] == "failed"
    assert states["bo@example.org"]["reply"] == "550 5.1.1 no such user"
    assert states["bo@example.org"]["reason"] == "refused by the server"
    # A newsletter's copies are counted, not listed: the route says where to look.
    r = client.get("/api/mailings/999/copies", headers=auth)
    assert r.status_code == 404 and "GET /api/mailings/999" in r.json()["error"]["message"]


def test_the_api_refuses_a_test_to_a_suppressed_address_in_its_own_words(
        client: TestClient, team: dict[str, int], flagship: Path, engine: Engine) -> None:
    auth = {"authorization": f"Bearer {token_for(engine, 'editor')}"}
    assert client.post("/api/suppressions", headers=auth,
                       json={"email": "bo@example.org"}).status_code == 201
    r = client.post(f"/api/issues/{FLAGSHIP}/test", headers=auth,
                    json={"addresses": ["anna@example.org", "bo@example.org"]})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["field"] == "addresses"
    assert "lift it with DELETE /api/suppressions/{email}" in error["message"]
    assert "mailer suppressions" not in error["message"]
    r = client.post(f"/api/issues/{FLAGSHIP}/test", headers=auth, json={"addresses": ["x"]})
    assert r.status_code == 400 and r.json()["error"]["field"] == "addresses"


def test_a_paused_test_waits_for_a_person_not_for_a_worker(
        client: TestClient, app: FastAPI, team: dict[str, int], flagship: Path) -> None:
    login(client, EMAILS["editor"])
    _send_test(client, "anna@example.org")
    r = post_form(client, "/admin/mailings/1", "/admin/mailings/1/pause", {})
    assert r.status_code == 303, r.text
    real = app.state.web.now
    app.state.web.now = lambda: real() + timedelta(seconds=45)
    panel = client.get(PANEL).text
    assert _states(panel)["anna@example.org"].startswith("i kö sedan ")
    assert "· pausat" in panel, panel
    # Nothing moves until someone resumes it: no poll, and no word about workers.
    assert "data-follow" not in panel and 'id="no-worker"' not in panel
