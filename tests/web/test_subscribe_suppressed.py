"""A suppressed address signs up again through the real form: the visitor sees the same
page as anyone, no mail goes out, the attempt shows in ``mailer suppressions``; lifting
the suppression sends the waiting confirmation link, and only following it subscribes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from mailer.config import Settings
from mailer.delivery.worker import deliver_due
from mailer.services.deliverability import add_suppression, is_suppressed
from mailer.services.lists import create_list
from mailer.store.db import transaction
from mailer.store.models import OutboxRow, Subscriber
from tests.conftest import TEST_SECRET
from tests.smtp_server import SmtpServer
from tests.test_subscribers_cli import Cli
from tests.web.conftest import BASE, add_subscriber, csrf, subscription_status
from tests.web.test_subscribe import LINK_RE, mail_text, submit

BOUNCED = "Anna.Berg@hylte.se"


def _suppress(engine: Engine, email: str, reason: str) -> None:
    with transaction(engine) as s:
        assert add_suppression(s, email, now=datetime.now(UTC), reason=reason,
                               detail="550 5.1.1 user unknown", source="smtp")


def _outbox_to(engine: Engine, email: str) -> int:
    with transaction(engine) as s:
        return s.scalar(select(func.count()).select_from(OutboxRow)
                        .where(OutboxRow.email_key == email.lower())) or 0


def _cli(settings: Settings, db_url: str, capsys: pytest.CaptureFixture[str],
         monkeypatch: pytest.MonkeyPatch) -> Cli:
    for key, value in {"MAILER_DATABASE_URL": db_url, "MAILER_SECRET_KEY": TEST_SECRET,
                       "MAILER_BASE_URL": BASE}.items():
        monkeypatch.setenv(key, value)
    return Cli(Path(settings.workspace), capsys, monkeypatch)


def test_suppressed_sign_up_looks_the_same_sends_nothing_and_lifting_sends_the_link(
        client: TestClient, engine: Engine, db_url: str, lists: dict[str, int],
        smtp_server: SmtpServer, settings: Settings, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    _suppress(engine, BOUNCED, "hard_bounce")

    # The visitor cannot tell: same redirect, same page as a fresh address.
    fresh, _ = submit(client, "bo@uppsala.se", "Bo")
    again, _ = submit(client, "anna.berg@HYLTE.se", "Anna Berg")
    assert fresh.status_code == again.status_code == 303
    assert fresh.headers["location"] == again.headers["location"]
    assert client.get(fresh.headers["location"]).text == \
        client.get(again.headers["location"]).text
    # A single opt-in list does not activate a suppressed address either.
    single, _ = submit(client, BOUNCED, path="/subscribe/seminarier")
    assert single.status_code == 303
    assert subscription_status(engine, BOUNCED, lists["medborgardialog"]) == "unconfirmed"
    assert subscription_status(engine, BOUNCED, lists["seminarier"]) == "unconfirmed"

    # No mail planned for the suppressed address (not even an empty mailing): only Bo's.
    assert _outbox_to(engine, BOUNCED) == 0
    report = deliver_due(engine, settings)
    assert report.sent == 1 and report.skipped == 0
    assert [r.rcpt_tos for r in smtp_server.received] == [["bo@uppsala.se"]]

    # The admin sees the attempts (CLI list and JSON), never the visitor.
    cli = _cli(settings, db_url, capsys, monkeypatch)
    code, out, _ = cli("suppressions")
    assert code == 0, out
    assert "signed up again 2 time(s) while suppressed" in out
    assert "(form: seminarier); no mail was sent" in out
    code, out, _ = cli("suppressions", "--json")
    (entry,) = json.loads(out)
    assert (entry["signup_attempts"], entry["last_signup"]) == (2, "form: seminarier")

    # Lifting (after the person confirmed elsewhere) sends each waiting confirmation link.
    code, out, _ = cli("suppressions", "remove", BOUNCED)
    assert code == 0, out
    assert "2 sign-up(s) made while it was suppressed: the confirmation link is queued" in out
    with transaction(engine) as s:
        assert is_suppressed(s, BOUNCED) is None
    smtp_server.handler.received.clear()
    got = sorted(deliver_due_and_wait(engine, settings, smtp_server, 2),
                 key=lambda r: str(r.message["Subject"]))
    assert [r.rcpt_tos for r in got] == [["anna.berg@hylte.se"]] * 2  # as first signed up
    assert [str(r.message["Subject"]) for r in got] == [
        "Bekräfta din prenumeration på Nyhetsbrev om medborgardialog",
        "Bekräfta din prenumeration på Seminarier och utbildningar"]
    # Still unconfirmed until the person follows the link.
    assert subscription_status(engine, BOUNCED, lists["medborgardialog"]) == "unconfirmed"
    link = LINK_RE.search(mail_text(got[0].message)).group(0)  # type: ignore[union-attr]
    page = client.get(link)
    done = client.post(link, data={"csrf_token": csrf(page.text)})
    assert done.status_code == 200
    assert subscription_status(engine, BOUNCED, lists["medborgardialog"]) == "active"


def deliver_due_and_wait(engine: Engine, settings: Settings, smtp_server: SmtpServer,
                         count: int):  # type: ignore[no-untyped-def]
    report = deliver_due(engine, settings)
    assert report.sent == count, report
    return list(smtp_server.wait_for(count))


def test_english_reader_gets_the_english_confirmation_after_lifting(
        client: TestClient, engine: Engine, db_url: str, lists: dict[str, int],
        smtp_server: SmtpServer, settings: Settings, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A sign-up Eva never confirmed before she complained is not revived by the lift.
    add_subscriber(engine, "eva@example.com", {lists["medborgardialog"]: "unconfirmed"},
                   language="en")
    _suppress(engine, "eva@example.com", "complaint")
    with transaction(engine) as s:
        create_list(s, "natverket", "The network", description="Open network list.")
    r, _ = submit(client, "eva@example.com", "Eva", lang="en", path="/subscribe/natverket")
    assert r.status_code == 303
    assert "Check your inbox" in client.get(r.headers["location"]).text
    assert deliver_due(engine, settings).sent == 0
    cli = _cli(settings, db_url, capsys, monkeypatch)
    code, out, _ = cli("suppressions", "remove", "eva@example.com")
    assert code == 0 and "1 sign-up(s) made while it was suppressed" in out, out
    (mail,) = deliver_due_and_wait(engine, settings, smtp_server, 1)
    assert str(mail.message["Subject"]) == "Confirm your subscription to The network"


def test_erased_address_signing_up_is_counted_but_not_stored(
        client: TestClient, engine: Engine, lists: dict[str, int], settings: Settings,
        smtp_server: SmtpServer) -> None:
    _suppress(engine, "gone@hylte.se", "erased")
    fresh, _ = submit(client, "new@hylte.se")
    r, _ = submit(client, "gone@hylte.se", "Gone")
    assert r.status_code == 303 and r.headers["location"] == fresh.headers["location"]
    with transaction(engine) as s:
        stored = s.scalar(select(func.count()).select_from(Subscriber)
                          .where(Subscriber.email_key == "gone@hylte.se"))
        info = is_suppressed(s, "gone@hylte.se")
    assert stored == 0
    assert info is not None and info.signup_attempts == 1
    assert _outbox_to(engine, "gone@hylte.se") == 0
