"""Browser tests in Debian's headless Chromium (Playwright), with JavaScript turned off
for the flows: the pages must work without it. uvicorn serves the app in a thread on a free
port; mail goes to the loopback SMTP server. Screenshots: see tests/browser_support.screenshot."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from mailer.config import Settings, load_settings
from mailer.delivery.worker import deliver_due
from mailer.store.db import make_engine
from mailer.web.app import create_app
from mailer.web.registration import StaticDesk
from tests.browser_support import LiveServer, launch_chromium, screenshot
from tests.conftest import TEST_SECRET
from tests.smtp_server import SmtpServer, free_port
from tests.web.conftest import add_subscriber, subscription_status
from tests.web.test_a11y import contrast

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")



@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with launch_chromium() as b:
        yield b


@pytest.fixture
def live(tmp_path: Path, sqlite_template: Path, workspace: Path,
         smtp_server: SmtpServer) -> Iterator[tuple[str, Settings, Engine]]:
    db = tmp_path / "browser.db"
    shutil.copy(sqlite_template, db)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = load_settings(workspace, database_url=f"sqlite:///{db}", smtp_url=smtp_server.url,
                             secret_key=TEST_SECRET, base_url=base,
                             **{"MAILER_FROM": "SKR Demokratisektionen <nyhetsbrev@example.org>"})
    engine = make_engine(settings.db_url)
    from mailer.services.lists import create_list
    from mailer.store.db import transaction

    with transaction(engine) as s:
        create_list(s, "medborgardialog", "Nyhetsbrev om medborgardialog",
                    description="Nyheter, rapporter, poddavsnitt och kommunexempel om "
                                "medborgardialog och delaktighet.")
        create_list(s, "seminarier", "Seminarier och utbildningar", double_opt_in=False)
    from tests.web.test_register import network_2023, person

    desk = StaticDesk(invitations={7: network_2023()},
                      people={1: person(1, "Anna Berg", "Hylte kommun"),
                              2: person(2, "Bo Ek", "Hylte kommun"),
                              3: person(3, "Cia Lund", "Hylte kommun")})
    app = create_app(settings, engine=engine, desk=desk)
    app.state.web.now = lambda: datetime(2023, 2, 1, 9, 0, tzinfo=UTC)
    with LiveServer(app, port):
        yield base, settings, engine
    engine.dispose()


def shot(page: object, name: str) -> None:
    screenshot(page, f"{name}.png", full_page=True)


def no_js_page(browser: object, width: int = 1024) -> object:
    ctx = browser.new_context(java_script_enabled=False,  # type: ignore[attr-defined]
                              viewport={"width": width, "height": 900}, locale="sv-SE")
    return ctx.new_page()


def test_subscribe_confirm_by_mail(browser: object, live: tuple[str, Settings, Engine],
                                   smtp_server: SmtpServer) -> None:
    base, settings, engine = live
    page = no_js_page(browser, 375)
    page.goto(f"{base}/")  # type: ignore[attr-defined]
    page.get_by_role("link", name=re.compile("Prenumerera.*medborgardialog")).click()  # type: ignore[attr-defined]
    page.get_by_label("E-postadress").fill("anna.berg@hylte.se")  # type: ignore[attr-defined]
    page.get_by_label(re.compile("^Namn")).fill("Anna Berg")  # type: ignore[attr-defined]
    shot(page, "subscribe-form-375")
    page.get_by_role("button", name="Prenumerera").click()  # type: ignore[attr-defined]
    assert page.get_by_role("heading", level=1).inner_text() == "Titta i din inkorg"  # type: ignore[attr-defined]
    shot(page, "subscribe-thanks-375")

    with ThreadPoolExecutor(1) as pool:  # the web queued it; a worker sends it (its own
        pool.submit(deliver_due, engine, settings).result()  # loop: playwright runs one here)
    (received,) = smtp_server.wait_for(1)
    text = received.message.get_body(preferencelist=("plain",)).get_content()
    link = re.search(rf"{re.escape(base)}/confirm/\S+", text).group(0)  # type: ignore[union-attr]
    page.goto(link)  # type: ignore[attr-defined]
    assert subscription_status(engine, "anna.berg@hylte.se", 1) == "unconfirmed"
    shot(page, "confirm-375")
    page.get_by_role("button", name="Bekräfta prenumerationen").click()  # type: ignore[attr-defined]
    assert page.get_by_role("heading", level=1).inner_text() == "Välkommen!"  # type: ignore[attr-defined]
    shot(page, "confirmed-375")
    assert subscription_status(engine, "anna.berg@hylte.se", 1) == "active"


def test_footer_unsubscribe_page(browser: object, live: tuple[str, Settings, Engine]) -> None:
    base, settings, engine = live
    from mailer.links import Links
    from mailer.tokens import Tokens

    sid = add_subscriber(engine, "per@uppsala.se", {1: "active"})
    url = Links(base, Tokens(settings.signing_key())).unsubscribe(sid, 1)
    page = no_js_page(browser)
    page.goto(url)  # type: ignore[attr-defined]
    shot(page, "unsubscribe")
    assert subscription_status(engine, "per@uppsala.se", 1) == "active"
    page.get_by_role("button", name="Avsluta prenumerationen").click()  # type: ignore[attr-defined]
    assert "Du har avslutat" in page.get_by_role("heading", level=1).inner_text()  # type: ignore[attr-defined]
    shot(page, "unsubscribed")
    assert subscription_status(engine, "per@uppsala.se", 1) == "unsubscribed"
    page.get_by_role("button", name="Prenumerera igen").click()  # type: ignore[attr-defined]
    assert subscription_status(engine, "per@uppsala.se", 1) == "active"


def test_preferences_change(browser: object, live: tuple[str, Settings, Engine]) -> None:
    base, settings, engine = live
    from mailer.links import Links
    from mailer.tokens import Tokens

    sid = add_subscriber(engine, "lisa@ornskoldsvik.se", {1: "active"}, name="Lisa")
    url = Links(base, Tokens(settings.signing_key())).preferences(sid)
    page = no_js_page(browser, 375)
    page.goto(url)  # type: ignore[attr-defined]
    shot(page, "preferences-375")
    page.get_by_label("Nyhetsbrev om medborgardialog").uncheck()  # type: ignore[attr-defined]
    page.get_by_label("Seminarier och utbildningar").check()  # type: ignore[attr-defined]
    page.get_by_label("Organisation").fill("Örnsköldsviks kommun")  # type: ignore[attr-defined]
    page.get_by_label("Språk i våra e-brev och på våra sidor").select_option("en")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Spara ändringarna").click()  # type: ignore[attr-defined]
    assert page.get_by_role("status").first.inner_text() == "Your changes have been saved."  # type: ignore[attr-defined]
    shot(page, "preferences-saved-375")
    assert subscription_status(engine, "lisa@ornskoldsvik.se", 1) == "unsubscribed"
    assert subscription_status(engine, "lisa@ornskoldsvik.se", 2) == "active"


CONTRAST_JS = """() => {
  const out = [];
  const bg = el => { for (; el; el = el.parentElement) {
      const c = getComputedStyle(el).backgroundColor;
      if (c && c !== 'rgba(0, 0, 0, 0)' && c !== 'transparent') return c; }
    return 'rgb(255, 255, 255)'; };
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    const r = el.getBoundingClientRect();
    if (!own || r.width < 2 || r.height < 2) continue;
    out.push([el.tagName, getComputedStyle(el).color, bg(el), el.textContent.trim().slice(0, 40)]);
  }
  return out;
}"""


def _hex(rgb: str) -> str:
    r, g, b = (int(x) for x in re.findall(r"\d+", rgb)[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


def test_layout_and_contrast_at_375px(browser: object,
                                      live: tuple[str, Settings, Engine]) -> None:
    base, settings, engine = live
    from mailer.links import Links
    from mailer.tokens import Tokens

    sid = add_subscriber(engine, "x@example.org", {1: "active"})
    links = Links(base, Tokens(settings.signing_key()))
    paths = {"start": "/", "form": "/subscribe/medborgardialog",
             "embed": "/subscribe/medborgardialog/embed", "archive": "/archive/medborgardialog",
             "unsubscribe": links.unsubscribe(sid, 1), "preferences": links.preferences(sid),
             "error": "/u/broken-token",
             "register": links.register("2023-natverk-tjanstepersoner", 1, 7)}
    ctx = browser.new_context(viewport={"width": 375, "height": 800})  # type: ignore[attr-defined]
    page = ctx.new_page()
    for name, path in paths.items():
        page.goto(path if path.startswith("http") else base + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name}: {overflow}px horizontal overflow at 375 px"
        for tag, fg, bg, text in page.evaluate(CONTRAST_JS):
            ratio = contrast(_hex(fg), _hex(bg))
            assert ratio >= 4.5, f"{name}: {tag} {text!r} {fg} on {bg} = {ratio:.2f}:1"
        shot(page, f"{name}-375")
    # With an error shown, too.
    page.goto(base + paths["form"])
    page.get_by_role("button", name="Prenumerera").click()
    page.evaluate("1")
    assert page.locator(".error-summary").is_visible()
    shot(page, "form-error-375")
    ctx.close()


def test_register_for_the_2023_network_and_seats_full(
        browser: object, live: tuple[str, Settings, Engine]) -> None:
    # The in-memory desk sends nothing; the confirmation through the outbox is tested on
    # the store in test_register_store.py.
    base, settings, _engine = live
    from mailer.links import Links
    from mailer.tokens import Tokens

    links = Links(base, Tokens(settings.signing_key()))
    page = no_js_page(browser, 375)
    for sid, name in ((1, "Anna Berg"), (2, "Bo Ek")):
        page.goto(links.register("2023-natverk-tjanstepersoner", sid, 7))  # type: ignore[attr-defined]
        assert page.get_by_label("Namn").input_value() == name  # type: ignore[attr-defined]
        if sid == 1:
            shot(page, "register-375")
        page.get_by_role("button", name="Anmäl dig").click()  # type: ignore[attr-defined]
        assert "Du är anmäld" in page.get_by_role("status").inner_text()  # type: ignore[attr-defined]
    shot(page, "registered-375")
    page.goto(links.register("2023-natverk-tjanstepersoner", 3, 7))  # type: ignore[attr-defined]
    alert = page.get_by_role("alert").inner_text()  # type: ignore[attr-defined]
    assert "Din organisations platser är tagna" in alert
    assert "Hylte kommun har redan 2 av 2 platser" in alert
    assert page.get_by_role("button", name="Anmäl dig").count() == 0  # type: ignore[attr-defined]
    shot(page, "register-seats-full-375")
