"""Every "view in browser" link in a mail that really went out opens a page, and the page
(the public copy) says nothing about one recipient and no sentence is left with a hole."""

from __future__ import annotations

import re
import shutil
from email.message import EmailMessage
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from mailer.config import Settings
from mailer.web.app import create_app
from tests.conftest import TEST_SECRET
from tests.delivery_support import add_subscribers
from tests.invite_helpers import ROOT, SLUG
from tests.smtp_server import SmtpServer
from tests.test_subscribers_cli import Cli

VIEW = re.compile(r"https://nyhetsbrev\.example\.org(/archive/view/\d+)")


def _bodies(msg: EmailMessage) -> str:
    return "\n".join(msg.get_body((kind,)).get_content() for kind in ("plain", "html"))


@pytest.fixture
def cli(workspace: Path, settings: Settings, smtp_server: SmtpServer,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    for key, value in {"MAILER_DATABASE_URL": settings.database_url,
                       "MAILER_SMTP_URL": smtp_server.url, "MAILER_SECRET_KEY": TEST_SECRET,
                       "MAILER_BASE_URL": settings.base_url}.items():
        monkeypatch.setenv(key, value)
    return Cli(workspace, capsys, monkeypatch)


def test_view_links_of_invitations_newsletters_and_confirmations(
        cli: Cli, engine: Engine, settings: Settings, smtp_server: SmtpServer,
        workspace: Path) -> None:
    assert cli("init")[0] == 0
    add_subscribers(engine, 2)  # the public list medborgardialog
    folder = workspace / "issues" / SLUG
    shutil.copytree(ROOT / "issues" / SLUG, folder)
    path = folder / "issue.yaml"
    path.write_text(re.sub(r"(?m)^lists: .*$", "lists: [medborgardialog]",
                           path.read_text(encoding="utf-8")), encoding="utf-8")
    code, out, err = cli("invite", SLUG, "--now", "2023-01-20 09:00")
    assert code == 0, out + err
    code, out, err = cli("registrations", "add", SLUG, "person1@example.test",
                         "--send-confirmation", "--now", "2023-02-01 10:00")
    assert code == 0, out + err
    code, out, err = cli("worker", "--drain", "--now", "2023-02-08 09:30")  # + a reminder
    assert code == 0, out + err
    got = {str(r.message["Subject"]).split(" ")[0].rstrip(":"): r.message
           for r in smtp_server.wait_for(2 + 1 + 1)}
    assert sorted(got) == ["Bekräftelse", "Inbjudan", "Påminnelse"]

    client = TestClient(create_app(settings, engine=engine))
    for kind in ("Inbjudan", "Påminnelse"):
        links = set(VIEW.findall(_bodies(got[kind])))
        assert len(links) == 1, kind  # the top note and the footer
        page = client.get(links.pop())
        assert page.status_code == 200, kind  # was the 404 page
        assert "Professionsnätverk för tjänstepersoner" in page.text
        # The public copy: no "… till  eftersom …", no unsubscribe link that leads to the
        # archive, no "view it in your browser" on the browser page itself.
        assert "eftersom du" not in page.text
        assert "Avsluta prenumerationen" not in page.text
        assert "Ändra dina inställningar" not in page.text
        assert "webbläsaren" not in page.text
        assert "person0@" not in page.text and "/u/" not in page.text and "/p/" not in page.text
    # One person's registration confirmation is not public: it carries no such link (it
    # led to the 404 page), and its footer still has the person's own links.
    confirmation = _bodies(got["Bekräftelse"])
    assert not VIEW.search(confirmation) and "webbläsaren" not in confirmation
    assert "Ändra dina inställningar" in confirmation and "/p/" in confirmation
    # Lists of issues stay newsletters only.
    assert "Inbjudan" not in client.get("/archive/medborgardialog").text


def test_the_public_copy_of_a_newsletter_leaves_out_the_personal_footer(
        cli: Cli, engine: Engine, settings: Settings, smtp_server: SmtpServer,
        workspace: Path) -> None:
    from mailer.authoring.examples import flagship_path

    assert cli("init")[0] == 0
    add_subscribers(engine, 1)
    folder = workspace / "issues" / "nr6"
    shutil.copytree(flagship_path(), folder)
    code, out, err = cli("send", str(folder), "--list", "medborgardialog")
    assert code == 0, out + err
    assert cli("worker", "--drain")[0] == 0
    (received,) = smtp_server.wait_for(1)
    sent = _bodies(received.message)
    assert "Du får det här mejlet till person0@example.test eftersom" in sent
    (view,) = set(VIEW.findall(sent))
    page = TestClient(create_app(settings, engine=engine)).get(view)
    assert page.status_code == 200
    assert "Delaktighetstrappan" in page.text  # the issue itself is all there
    assert "Du får det här mejlet till" not in page.text  # was "… till  eftersom …"
    assert "Avsluta prenumerationen" not in page.text  # was a link to the archive
    assert "webbläsaren" not in page.text
