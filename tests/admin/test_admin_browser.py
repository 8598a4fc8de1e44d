"""The admin in Debian's headless Chromium (Playwright), served by uvicorn on loopback.

An editor logs in, composes a small issue from typed items, looks at the previews, sends a
test (it arrives at the loopback SMTP server) and schedules it; a coordinator opens the
2023 network invitation, sees the seats per organisation, makes a reminder dry run and
sends the reminder; an editor is refused the user admin. The flows run with JavaScript
off (everything must work without it); one check runs the editor's autosave with it on.
Screenshots of the main pages are written only when asked, for the README:
``MAILER_TEST_SCREENSHOTS=docs/screenshots pytest tests/admin/test_admin_browser.py``.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, func, select

from mailer.authoring.examples import FLAGSHIP, flagship_path
from mailer.config import Settings, load_settings
from mailer.delivery.worker import DeliveryReport, deliver_due
from mailer.domain.registration import RegistrationHow
from mailer.services import accounts
from mailer.services.lists import create_list
from mailer.store.db import make_engine, transaction
from mailer.store.models import OutboxRow, Subscriber, Subscription, utcnow
from mailer.store.registrations import register
from mailer.web.app import create_app
from tests.admin.conftest import EMAILS, PASSWORD
from tests.browser_support import LiveServer, launch_chromium, screenshot
from tests.conftest import TEST_SECRET
from tests.invite_helpers import ISSUE, SLUG, invited
from tests.smtp_server import SmtpServer, free_port

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")

VIEWPORT = {"width": 1180, "height": 820}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launch_chromium() as b:
        yield b


class Live:
    def __init__(self, base: str, settings: Settings, engine: Engine, app: FastAPI) -> None:
        self.base, self.settings, self.engine, self.app = base, settings, engine, app


@pytest.fixture
def live(tmp_path: Path, sqlite_template: Path, workspace: Path,
         smtp_server: SmtpServer) -> Iterator[Live]:
    db = tmp_path / "browser.db"
    shutil.copy(sqlite_template, db)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = load_settings(workspace, database_url=f"sqlite:///{db}",
                             smtp_url=smtp_server.url, secret_key=TEST_SECRET, base_url=base,
                             **{"MAILER_FROM": "SKR Demokratisektionen <nyhetsbrev@example.org>"})
    engine = make_engine(settings.db_url)
    shutil.copytree(flagship_path(), workspace / "issues" / FLAGSHIP)
    with transaction(engine) as s:
        lst = create_list(s, "medborgardialog", "Nyhetsbrev om medborgardialog")
        for n, email in enumerate(["anna.svensson@hylte.se", "bo.ek@uppsala.se",
                                   "cecilia.lund@karlskoga.se"]):
            sub = Subscriber(email=email, email_key=email, name=f"Person {n + 1}")
            s.add(sub)
            s.flush()
            s.add(Subscription(subscriber_id=sub.id, list_id=lst.id, status="active"))
        for role, email in EMAILS.items():
            accounts.create_user(s, email, role=role, name={"admin": "Ada Admin",
                                 "editor": "Anders Nordh", "coordinator": "Cora Samordnare"}[role],
                                 password=PASSWORD, now=utcnow())
    app = create_app(settings, engine=engine, deliver=True)  # as `mailer serve` runs it
    with LiveServer(app, port):
        yield Live(base, settings, engine, app)
    engine.dispose()


def _login(page: Any, live: Live, role: str) -> None:
    page.goto(f"{live.base}/admin")
    assert "/admin/login" in page.url
    page.fill("#email", EMAILS[role])
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live.base}/admin")


def _shot(page: Any, name: str) -> None:
    screenshot(page, name)


def _submit(page: Any, button: str, *, shows: str) -> None:
    """Click a form's button and wait until the answer page shows ``shows``.

    With JavaScript off a click starts a form POST; Playwright may return from the click
    before the server has answered. Waiting for the answer's text means the request has
    finished (and its transaction committed) before the test goes on.
    """
    page.click(button)
    page.get_by_text(shows, exact=False).first.wait_for(timeout=30_000)


def _queued(engine: Engine, mailing_id: int) -> int:
    """The number of outbox rows of a mailing (a planned mailing has one per recipient)."""
    with transaction(engine) as s:
        return s.scalar(select(func.count()).select_from(OutboxRow)
                        .where(OutboxRow.mailing_id == mailing_id)) or 0


def _deliver(live: Live, **kwargs: Any) -> DeliveryReport:
    """Drain the outbox once, in another thread: Playwright's sync API holds this thread's
    event loop."""
    reports: list[DeliveryReport] = []
    worker = threading.Thread(
        target=lambda: reports.append(deliver_due(live.engine, live.settings, **kwargs)))
    worker.start()
    worker.join(60)
    assert reports, "the delivery did not finish within 60 s"
    return reports[0]


def test_editor_composes_previews_tests_and_schedules(browser: Any, live: Live,
                                                      smtp_server: SmtpServer) -> None:
    context = browser.new_context(locale="sv-SE", java_script_enabled=False, viewport=VIEWPORT)
    page = context.new_page()
    _login(page, live, "editor")
    assert page.locator("h1").inner_text() == "Översikt"

    page.goto(f"{live.base}/admin/issues")
    page.fill("#title", "Nyhetsbrev om dialog och delaktighet")
    page.click("text=Skapa nummer")
    assert "/admin/issues/" in page.url and "Skapat." in page.content()
    name = page.url.split("/admin/issues/")[1].split("?")[0].split("#")[0]
    # Replace the scaffold's placeholder with two typed items: an event and a report.
    page.select_option("#add-type-0", "event")
    page.click("button[value='add:0']")
    page.fill("#s0-i1-title", "Seminarium om medborgarbudget")
    page.fill("#s0-i1-date", "2030-06-16")
    page.fill("#s0-i1-start", "10.00")
    page.fill("#s0-i1-end", "12.00")
    page.fill("#s0-i1-online", "Zoom")
    page.fill("#s0-i1-cost", "free")
    page.fill("#s0-i1-summary", "En introduktion för kommunala bostadsbolag.")
    page.fill("[id='s0-i1-link.url']", "https://skr.se/kalender/medborgarbudget")
    page.fill("[id='s0-i1-link.text']", "Läs mer och anmäl dig")
    page.click("button[value='up:0:1']")
    page.fill("#s0-i1-title", "Delaktighetstrappan")
    page.fill("#s0-i1-summary", "Fem modeller för att förstå nivåer av delaktighet.")
    page.fill("[id='s0-i1-link.url']", "https://skr.se/delaktighetstrappan.pdf")
    page.fill("[id='s0-i1-link.text']", "Hämta rapporten")
    page.fill("#preheader", "Ett seminarium och en ny rapport.")
    page.fill("#intro", "Välkommen till numret om medborgarbudget.")
    page.click("#save")
    assert "Inga problem: numret är klart att skicka." in page.content()
    # Both previews show the saved content.
    assert page.locator("#preview-desktop").get_attribute("width") == "640"
    assert page.locator("#preview-mobile").get_attribute("width") == "375"
    for frame in ("#preview-desktop", "#preview-mobile"):
        body = page.frame_locator(frame).locator("body")
        assert "Seminarium om medborgarbudget" in body.inner_text()
    page.locator("#preview-title").scroll_into_view_if_needed()
    _shot(page, "admin-issue-preview.png")
    page.locator("#edit-title").scroll_into_view_if_needed()
    _shot(page, "admin-issue-editor.png")
    # Test-send to two addresses: queued (the page says so, naming them), then sent by the
    # server's own loop to the loopback SMTP server; reloading shows each one sent.
    page.fill("#addresses", "granskare@example.org, anders.nordh@skr.se")
    _submit(page, "text=Skicka test", shows="Testet har lagts i kö för att skickas till "
            "granskare@example.org och anders.nordh@skr.se.")
    got = smtp_server.wait_for(2)
    assert sorted(m.rcpt_tos[0] for m in got) == ["anders.nordh@skr.se", "granskare@example.org"]
    assert str(got[0].message["Subject"]) == "[TEST] Nyhetsbrev om dialog och delaktighet"
    _wait_until_sent(page, 2)
    # Schedule it for the list, two days ahead.
    at = (datetime.now(UTC) + timedelta(days=2)).astimezone(live.settings.tz)
    page.check("#list-medborgardialog")
    page.fill("#at", at.strftime("%Y-%m-%dT%H:%M"))
    page.check("#confirm")
    _submit(page, "button:has-text('Schemalägg')", shows="Utskicket är schemalagt.")
    assert "/admin/mailings/" in page.url
    assert page.locator("#mailing-status").inner_text() == "schemalagt"
    _shot(page, "admin-mailing.png")
    page.goto(f"{live.base}/admin/issues/{name}")
    assert "schemalagt" in page.locator("text=Utskick av det här numret").locator(
        "xpath=following::table[1]").inner_text()
    # And the flagship now, delivered by a worker: the dashboard charts its progress.
    page.goto(f"{live.base}/admin/issues/{FLAGSHIP}")
    assert page.locator("#list-medborgardialog").is_checked()  # the issue's own lists
    page.wait_for_load_state("load")
    page.locator("#confirm").focus()
    page.keyboard.press("Space")
    assert page.locator("#confirm").is_checked()
    _submit(page, "button:has-text('Schemalägg')", shows="Utskicket är schemalagt.")
    flagship = int(page.url.split("/admin/mailings/")[1].split("?")[0].split("#")[0])
    assert _queued(live.engine, flagship) == 3  # planned, one row per subscriber
    assert _deliver(live).sent == 3
    assert len(smtp_server.wait_for(5)) == 5
    page.goto(f"{live.base}/admin")
    assert page.locator(".chart svg polyline").count() >= 2
    _shot(page, "admin-dashboard.png")
    context.close()


def _wait_until_sent(page: Any, copies: int, *, reload: bool = True) -> None:
    """Wait until the latest tests panel shows ``copies`` copies sent (``reload``: as a
    reader without JavaScript does, by reloading the page)."""
    sent = page.locator('#test-sends tr.copy[data-state="sent"]')
    for _ in range(60):
        if sent.count() >= copies:
            break
        if reload:
            page.reload()
        page.wait_for_timeout(500)
    assert sent.count() >= copies, page.locator("#tests").inner_text()
    assert sent.first.locator("td").nth(1).inner_text().startswith("skickat ")


def test_the_latest_tests_panel_follows_a_test_with_javascript(
        browser: Any, live: Live, smtp_server: SmtpServer) -> None:
    """With JavaScript the panel follows the copy from queued to sent without a reload
    (the SMTP server holds the message a few seconds, so the page sees it on its way)."""
    smtp_server.handler.fault = lambda envelope: ("stall", 4.0)
    context = browser.new_context(locale="sv-SE", viewport=VIEWPORT)
    page = context.new_page()
    _login(page, live, "editor")
    page.goto(f"{live.base}/admin/issues/{FLAGSHIP}")
    page.fill("#addresses", "granskare@example.org")
    _submit(page, "text=Skicka test", shows="Testet har lagts i kö för att skickas till "
            "granskare@example.org.")
    copy = page.locator("#test-sends tr.copy")
    assert copy.get_attribute("data-state") in ("queued", "sending")
    assert page.locator("#tests").get_attribute("data-follow")
    page.evaluate("window.notReloaded = true")
    _wait_until_sent(page, 1, reload=False)
    assert page.evaluate("window.notReloaded") is True  # the panel changed, not the page
    assert page.locator("#tests").get_attribute("data-follow") is None
    assert len(smtp_server.received) == 1
    context.close()


def test_autosave_with_javascript(browser: Any, live: Live) -> None:
    context = browser.new_context(locale="sv-SE", viewport=VIEWPORT)
    page = context.new_page()
    _login(page, live, "editor")
    page.goto(f"{live.base}/admin/issues/{FLAGSHIP}")
    assert not page.locator("#s0-i0-title").is_visible()  # items are folded
    page.click("#s0 > summary")  # open the section, then the item from its list
    page.click('#s0 .item-list a[href="#s0-i0"]')
    page.fill("#s0-i0-title", "")
    page.locator("#s0-i0-source").focus()  # leaving the field is a change: autosaved
    logs: list[str] = []
    page.on("console", lambda m: logs.append(m.text))
    page.on("response", lambda r: logs.append(f"{r.status} {r.url}"))
    try:
        page.locator('#problems ul.problems a[href="#s0-i0-title"]').wait_for(timeout=60_000)
    except Exception:
        raise AssertionError(f"{logs} {page.locator('#live-status').inner_text()!r}") from None
    yaml = live.settings.workspace / "issues" / FLAGSHIP / "issue.yaml"
    assert "title: ''" in yaml.read_text(encoding="utf-8")
    context.close()


@pytest.mark.parametrize("width", [1280, 375])
def test_editor_folds_and_keeps_the_save_bar_in_view(browser: Any, live: Live,
                                                     width: int) -> None:
    """Without JavaScript: sections and items fold, each section lists its items, and the
    save button stays on screen wherever the editor is scrolled, at desktop and phone
    widths, with nothing wider than the screen."""
    height = 900 if width > 500 else 740
    context = browser.new_context(locale="sv-SE", java_script_enabled=False,
                                  viewport={"width": width, "height": height})
    page = context.new_page()
    _login(page, live, "editor")
    page.goto(f"{live.base}/admin/issues/{FLAGSHIP}")
    sections = page.locator("details.section-block")
    assert sections.count() == 6
    folded = page.evaluate("document.getElementById('editor').offsetHeight")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    first = sections.nth(0)
    assert first.get_attribute("open") is None
    first.locator("> summary").click()
    assert first.get_attribute("open") is not None
    assert first.locator(".item-list li").count() >= 1
    assert first.locator(".item-list button[value^='remove:0:']").first.is_visible()
    item = page.locator("#s0-i0")
    assert not page.locator("#s0-i0-title").is_visible()
    item.locator("> summary").click()
    assert page.locator("#s0-i0-title").is_visible()
    # Open everything (the longest the form gets) and look at three scroll positions.
    for i in range(sections.count()):
        if sections.nth(i).get_attribute("open") is None:
            sections.nth(i).locator("> summary").click()
    for i in range(page.locator("details.item-card").count()):
        card = page.locator("details.item-card").nth(i)
        if card.get_attribute("open") is None:
            card.locator("> summary").click()
    unfolded = page.evaluate("document.getElementById('editor').offsetHeight")
    # The flagship is long: folded, its editor is a fraction of its unfolded length.
    assert folded * 3 < unfolded, (folded, unfolded)
    top = page.evaluate("document.getElementById('editor').getBoundingClientRect().top "
                        "+ window.scrollY")
    bottom = top + page.evaluate("document.getElementById('editor').offsetHeight")
    for y in (top + 200, (top + bottom) / 2, bottom - height):
        page.evaluate(f"window.scrollTo(0, {int(y)})")
        box = page.locator("#save").bounding_box()
        assert box is not None and 0 <= box["y"] and box["y"] + box["height"] <= height, \
            (y, box)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.evaluate(f"window.scrollTo(0, {int((top + bottom) / 2)})")
    screenshot(page, f"admin-editor-{width}.png")
    # The bar's button saves (no script: a plain form post) and comes back to the editor.
    page.click("#save")
    assert "done=saved" in page.url
    context.close()


def test_editor_is_refused_user_admin(browser: Any, live: Live) -> None:
    context = browser.new_context(locale="sv-SE", java_script_enabled=False, viewport=VIEWPORT)
    page = context.new_page()
    _login(page, live, "editor")
    response = page.goto(f"{live.base}/admin/users")
    assert response.status == 403 and "Inte tillåtet" in page.content()
    page.goto(f"{live.base}/admin/lists/medborgardialog")
    _shot(page, "admin-list.png")
    context.close()
    context = browser.new_context(locale="sv-SE", java_script_enabled=False, viewport=VIEWPORT)
    page = context.new_page()
    _login(page, live, "admin")
    page.goto(f"{live.base}/admin/users")
    _shot(page, "admin-users.png")
    context.close()


def test_coordinator_reminds_the_2023_network(browser: Any, live: Live,
                                              smtp_server: SmtpServer) -> None:
    folder = live.settings.workspace / "issues" / SLUG
    shutil.copytree(Path(ISSUE).parent, folder)
    with transaction(live.engine) as s:
        row, subs = invited(s)
        for email in ("anna.andersson@hylte.se", "bengt.berg@hylte.se", "david.dahl@uppsala.se"):
            register(s, row, subs[email], how=RegistrationHow.coordinator,
                     now=datetime(2023, 2, 1, tzinfo=UTC))
    live.app.state.web.now = lambda: datetime(2023, 2, 9, 9, 0, tzinfo=UTC)

    context = browser.new_context(locale="sv-SE", java_script_enabled=False, viewport=VIEWPORT)
    page = context.new_page()
    _login(page, live, "coordinator")
    page.click("nav >> text=Inbjudningar")
    assert "6 dagar" in page.content()  # the deadline is 2023-02-15
    page.click(f"a[href='/admin/invitations/{SLUG}']")
    seats = page.locator("#seats + .table-scroll table").inner_text()
    assert "Hylte kommun" in seats and "Uppsala kommun" in seats
    assert "fullt" in seats or "2 / " in seats
    _shot(page, "admin-invitation.png")
    page.click("text=Vem skulle få en påminnelse nu?")
    table = page.locator("#decisions").inner_text()
    assert "cecilia.claesson@hylte.se" in table and "anmäld" in table
    _shot(page, "admin-reminder-dry-run.png")
    would = int(page.locator("input[name=expected]").get_attribute("value"))
    assert would >= 1
    page.check("#confirm")
    _submit(page, "button:has-text('Skicka påminnelsen nu')",
            shows="Påminnelserna ligger i kö för att skickas.")
    # Deliver at the page's clock too: reminders expire at the (2023) deadline.
    shift = live.app.state.web.now() - datetime.now(UTC)
    assert _deliver(live, clock=lambda: datetime.now(UTC) + shift).sent == would
    got = smtp_server.wait_for(would)
    assert len(got) == would
    page.goto(f"{live.base}/admin/invitations/{SLUG}")
    page.click("text=Vem skulle få en påminnelse nu?")
    assert "redan påmind" in page.locator("#decisions").inner_text()
    context.close()
