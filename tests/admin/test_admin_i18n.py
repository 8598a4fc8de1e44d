"""The admin pages are Swedish by default and every text has a Swedish translation."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from mailer.render.i18n import Translator
from mailer.web.i18n import message_ids
from tests.admin.conftest import EMAILS, login

ADMIN = Path(__file__).parents[2] / "mailer" / "web" / "admin"
# Texts shown through a variable (roles, kinds, states, field labels): checked here too.
DYNAMIC = ["admin", "editor", "coordinator", "newsletter", "invitation", "event", "report",
           "scheduled", "sending", "paused", "cancelled", "done", "missed", "sent", "queued",
           "failed", "skipped", "would be reminded", "already reminded", "registered",
           "Title", "Summary", "Link", "Registration deadline", "Url", "Text",
           "manual", "hard_bounce", "soft_bounces", "complaint", "erased", "Minutes"]


def test_every_admin_text_has_a_swedish_translation() -> None:
    ids = message_ids([p for p in ADMIN.rglob("*") if p.suffix in (".py", ".html")])
    assert len(ids) > 200
    sv = Translator("sv")
    missing = sorted(i for i in [*ids, *DYNAMIC] if i not in sv)
    assert missing == []
    for i in ids:
        for ph in ("%(n)s", "%(email)s", "%(when)s", "%(key)s", "%(role)s", "%(tz)s"):
            assert (ph in i) == (ph in sv.gettext(i)), i


def test_swedish_by_default_english_on_request(client: TestClient,
                                               team: dict[str, int]) -> None:
    page = client.get("/admin/login")
    assert '<html lang="sv">' in page.text and "Logga in" in page.text
    login(client, EMAILS["admin"])
    page = client.get("/admin/lists?lang=en")
    assert '<html lang="en">' in page.text and "Lists and subscribers" in page.text
    # The choice sticks (a cookie) without ?lang= on every link.
    page = client.get("/admin")
    assert '<html lang="en">' in page.text
    page = client.get("/admin?lang=sv")
    assert "Översikt" in page.text and "Listor och prenumeranter" in page.text
