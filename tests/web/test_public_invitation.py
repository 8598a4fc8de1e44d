"""The public copy (view in browser) of an invitation whose registration is our own form:
its "Anmäl dig" button cannot open one person's form, so it opens a page that says how to
register (it led to the list's archive)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from mailer.config import Settings
from mailer.store.db import transaction
from mailer.store.models import Mailing, MailingKind
from mailer.web.app import create_app
from tests.cli_support import cli_in
from tests.conftest import TEST_SECRET
from tests.delivery_support import add_subscribers
from tests.invite_helpers import SLUG, copy_network
from tests.smtp_server import SmtpServer


def _invite_by_form(engine: Engine, settings: Settings, smtp_server: SmtpServer,
                    workspace: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    """Invite the public list to the 2023 network with our form; the invitation's id."""
    for key, value in {"MAILER_DATABASE_URL": settings.database_url,
                       "MAILER_SMTP_URL": smtp_server.url, "MAILER_SECRET_KEY": TEST_SECRET,
                       "MAILER_BASE_URL": settings.base_url}.items():
        monkeypatch.setenv(key, value)
    run = cli_in(workspace)
    run("init")
    add_subscribers(engine, 2)  # the public list medborgardialog
    copy_network(workspace, "medborgardialog", form=True)
    run("invite", SLUG, "--now", "2023-01-20 09:00")
    run("worker", "--drain", "--now", "2023-01-20 09:30")
    mail = smtp_server.wait_for(2)[0].message
    html = mail.get_body(("html",)).get_content()
    assert 'href="https://nyhetsbrev.example.org/register/' in html  # the invitee's own
    with transaction(engine) as s:
        return int(s.scalars(select(Mailing.id).where(
            Mailing.kind == MailingKind.invitation)).one())


def test_register_button_of_the_public_copy(
        engine: Engine, settings: Settings, smtp_server: SmtpServer, workspace: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    mailing_id = _invite_by_form(engine, settings, smtp_server, workspace, monkeypatch)
    client = TestClient(create_app(settings, engine=engine))
    page = client.get(f"/archive/view/{mailing_id}")
    assert page.status_code == 200
    buttons = set(re.findall(r'<a href="([^"]+)"[^>]*>\s*(?:<[^>]+>\s*)*Anmäl dig',
                             page.text))
    assert buttons == {"/register?lang=sv"}  # was the list's archive
    assert "/register/" not in page.text  # no one's own form
    how = client.get("/register?lang=sv")
    assert how.status_code == 200
    assert "Anmäl dig från din egen inbjudan" in how.text
    assert "knappen i inbjudan som du fick med e-post" in how.text
    english = client.get("/register?lang=en")
    assert "Register from your own invitation" in english.text
