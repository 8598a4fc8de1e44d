"""WCAG 2.1 AA in a real browser: axe-core (bundled by axe-playwright-python, nothing is
fetched) runs in Debian's headless Chromium over every public page, the admin and the
rendered e-mails, in Swedish and in English. Beside axe, the basics it cannot judge: a
visible focus, the skip link that jumps over the admin's navigation, and form errors tied
to their fields (``aria-invalid`` with ``aria-describedby`` naming the message).

One browser and one served app for the module; each page is its own test case, and a
failure names axe's rule ids, the elements' selectors and the rule's help text."""

from __future__ import annotations

import itertools
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from mailer.authoring import load_valid
from mailer.authoring.examples import FLAGSHIP, flagship_path
from mailer.config import Settings, load_settings
from mailer.delivery.worker import deliver_due
from mailer.domain.invitation import parse_invitation
from mailer.domain.registration import RegistrationHow
from mailer.render.engine import RenderOptions
from mailer.render.invitation import (
    render_confirmation,
    render_invitation,
    render_reconfirmation,
    render_reminder,
)
from mailer.render.newsletter import render_issue
from mailer.render.sample import personalise, sample_values
from mailer.render.types import RenderedMailing
from mailer.schedule.reconfirm import run_due_reconfirmations
from mailer.services import accounts
from mailer.services.lists import create_list
from mailer.services.mailings import plan_mailing
from mailer.services.notifications import (
    SubscriptionNotice,
    render_subscription_notice,
)
from mailer.store.db import make_engine, transaction
from mailer.store.models import utcnow
from mailer.store.registrations import get_subscriber, register
from mailer.store.subscriptions import SubscribeOutcome
from mailer.web.app import create_app
from tests.admin.conftest import EMAILS, PASSWORD
from tests.browser_support import LiveServer, launch_chromium
from tests.conftest import TEST_SECRET
from tests.invite_helpers import SLUG, RecordingMailer, copy_network, invitation_data, invited
from tests.smtp_server import SmtpServer, free_port
from tests.web.conftest import add_subscriber

pytestmark = pytest.mark.browser
axe_sync = pytest.importorskip("axe_playwright_python.sync_playwright")

#: WCAG 2.0 and 2.1, levels A and AA: what the Web Accessibility Directive (and DOS) ask.
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
#: One rule beyond the tags: axe files it under best practice, but a header cell without
#: text leaves its column unnamed for a screen reader (WCAG 1.3.1 in substance).
EXTRA_RULES = {"empty-table-header": {"enabled": True}}
LANGS = ["sv", "en"]
#: The short mails a sign-up causes (mailer/web/templates/mail).
NOTICES = {"confirm": SubscribeOutcome.pending, "welcome": SubscribeOutcome.activated,
           "already": SubscribeOutcome.already_active}
AXE = axe_sync.Axe()


@dataclass
class Site:
    base: str
    settings: Settings
    engine: Engine
    app: Any
    mailing_ids: dict[str, int]  # a newsletter sent in each language
    reconfirm_path: str
    invitation_id: int
    emails: dict[str, str]  # "newsletter-sv" → the personalised HTML of one recipient
    now: Any = None  # the app's clock, put back after a case that moved it


def _form_invitation() -> Any:
    data = invitation_data()
    data["registration"] = {"mode": "form", "deadline": "2023-02-15"}
    return parse_invitation(data)


def _newsletter(language: str, workspace: Path) -> RenderedMailing:
    """The flagship issue rendered in ``language``: its articles stay Swedish (the editor's
    words), what the templates write (headings, footer, links) is in ``language``."""
    folder = workspace / f"flagship-{language}"
    shutil.copytree(flagship_path(), folder)
    issue = folder / "issue.yaml"
    issue.write_text(issue.read_text("utf-8").replace("\nlanguage: sv\n",
                                                      f"\nlanguage: {language}\n"), "utf-8")
    return render_issue(load_valid(folder),
                        RenderOptions(asset_base_url="https://nyhetsbrev.example.org/media"))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("axe")
    workspace = tmp / "ws"
    workspace.mkdir()
    db = tmp / "axe.db"
    shutil.copy(sqlite_template, db)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    smtp = SmtpServer().start()
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith("MAILER_") and not key.startswith("MAILER_TEST_"):
                mp.delenv(key)
        settings = load_settings(workspace, database_url=f"sqlite:///{db}", smtp_url=smtp.url,
                                 secret_key=TEST_SECRET, base_url=base,
                                 **{"MAILER_FROM": "SKR Demokratisektionen "
                                                   "<nyhetsbrev@example.org>"})
    engine = make_engine(settings.db_url)
    shutil.copytree(flagship_path(), workspace / "issues" / FLAGSHIP)
    copy_network(workspace, "demo", form=True)
    inv = _form_invitation()
    rendered = {lang: _newsletter(lang, tmp) for lang in LANGS}
    with transaction(engine) as s:
        create_list(s, "medborgardialog", "Nyhetsbrev om medborgardialog",
                    description="Nyheter, rapporter och exempel om medborgardialog.")
        create_list(s, "seminarier", "Seminarier och utbildningar", double_opt_in=False)
        accounts.create_user(s, EMAILS["admin"], role="admin", name="Ada Admin",
                             password=PASSWORD, now=utcnow())
        row, subs = invited(s, inv=inv)
        register(s, row, subs["eva.ek@uppsala.se"], how=RegistrationHow.coordinator,
                 now=datetime(2023, 2, 1, tzinfo=UTC))
    add_subscriber(engine, "reader@example.org", {1: "active"}, name="Rita Reader")
    with transaction(engine) as s:
        mailing_ids = {lang: plan_mailing(s, r, kind="newsletter", now=utcnow(),
                                          list_slugs=["medborgardialog"],
                                          source=f"issues/{FLAGSHIP}")[0].id
                       for lang, r in rendered.items()}
    deliver_due(engine, settings)
    with transaction(engine) as s:
        run_due_reconfirmations(s, SLUG, inv, now=datetime(2023, 11, 15, 9, 30, tzinfo=UTC),
                                mailer=RecordingMailer())
        eva = get_subscriber(s, "eva.ek@uppsala.se").id
        invitation_id = row.id
    app = create_app(settings, engine=engine)
    links = app.state.web.links
    emails = {f"newsletter-{lang}": personalise(
        r, sample_values(base, TEST_SECRET, language=lang))[0] for lang, r in rendered.items()}
    for lang in LANGS:
        data = invitation_data()
        data["language"] = lang
        if lang == "en":
            data["subject"] = ""
        letter = parse_invitation(data)
        for kind, mail in (
                ("invitation", render_invitation(letter)),
                ("reminder", render_reminder(letter, "7d")),
                ("registration-confirmation", render_confirmation(
                    letter, SLUG, domain="example.org", now=datetime(2023, 2, 1, tzinfo=UTC))),
                ("reconfirmation", render_reconfirmation(letter, 2024))):
            emails[f"{kind}-{lang}"] = personalise(
                mail, sample_values(base, TEST_SECRET, language=lang))[0]
        for kind, outcome in NOTICES.items():
            notice = SubscriptionNotice(lang, "Nyhetsbrev om medborgardialog", outcome,
                                        f"{base}/p/token", f"{base}/u/token")
            emails[f"{kind}-{lang}"] = render_subscription_notice(
                notice, sender="SKR Demokratisektionen").html
    with LiveServer(app, port):
        yield Site(base, settings, engine, app, mailing_ids,
                   links.reconfirm(SLUG, 2024, eva, invitation_id).removeprefix(base),
                   invitation_id, emails, app.state.web.now)
    engine.dispose()
    smtp.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launch_chromium() as b:
        yield b


@pytest.fixture(scope="module")
def contexts(browser: Any, site: Site) -> Iterator[dict[tuple[str, bool], Any]]:
    """A browser context per language, anonymous and logged in to the admin (each made
    when first asked for, then kept for the module)."""

    class Contexts(dict):  # type: ignore[type-arg]
        def __missing__(self, key: tuple[str, bool]) -> Any:
            lang, admin = key
            ctx = browser.new_context(viewport={"width": 1180, "height": 820},
                                      locale="sv-SE" if lang == "sv" else "en-GB")
            if admin:
                page = ctx.new_page()
                page.goto(f"{site.base}/admin/login?lang={lang}")
                page.fill("#email", EMAILS["admin"])
                page.fill("#password", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url(re.compile(r".*/admin(\?.*)?$"))
                page.close()
            self[key] = ctx
            return ctx

    made = Contexts()
    yield made
    for ctx in made.values():
        ctx.close()


def _url(site: Site, path: str, lang: str) -> str:
    return f"{site.base}{path}{'&' if '?' in path else '?'}lang={lang}"


def _submit(page: Any, selector: str) -> None:
    with page.expect_navigation():
        page.click(selector)


_PEOPLE = itertools.count(1)


def _person(site: Site, case: str, lang: str, subs: dict[int, str]) -> int:
    """A new subscriber for a case that changes its subscriber's state."""
    email = f"{case}-{lang}-{next(_PEOPLE)}@example.org"
    return add_subscriber(site.engine, email, subs, language=lang)


# Each case brings the page to the state to check: (page, site, lang) → None.
Case = Callable[[Any, Site, str], None]


def _get(path: str | Callable[[Site, str], str]) -> Case:
    def go(page: Any, site: Site, lang: str) -> None:
        page.goto(_url(site, path if isinstance(path, str) else path(site, lang), lang))
    return go


def _subscribe_error(page: Any, site: Site, lang: str) -> None:
    page.goto(_url(site, "/subscribe/medborgardialog", lang))
    page.fill("#email", "not an address")
    _submit(page, "button[type=submit]")


def _confirmed(page: Any, site: Site, lang: str) -> None:
    sid = _person(site, "confirmed", lang, {1: "unconfirmed"})
    page.goto(_url(site, site.app.state.web.links.confirm(sid, 1).removeprefix(site.base), lang))
    _submit(page, "main form button[type=submit]")


def _confirm(page: Any, site: Site, lang: str) -> None:
    sid = _person(site, "confirm", lang, {1: "unconfirmed"})
    page.goto(_url(site, site.app.state.web.links.confirm(sid, 1).removeprefix(site.base), lang))


def _preferences(page: Any, site: Site, lang: str) -> None:
    sid = _person(site, "prefs", lang, {1: "active"})
    page.goto(_url(site, site.app.state.web.links.preferences(sid).removeprefix(site.base), lang))


def _preferences_error(page: Any, site: Site, lang: str) -> None:
    _preferences(page, site, lang)
    page.fill("#name", "x" * 300)
    page.evaluate("document.querySelector('#name').removeAttribute('maxlength')")
    page.fill("#name", "x" * 300)
    _submit(page, "form[method=post] button[type=submit]")


def _preferences_language_error(page: Any, site: Site, lang: str) -> None:
    """A language the page does not offer (as a hand-made POST would send)."""
    _preferences(page, site, lang)
    page.eval_on_selector("#language", "s => { s.add(new Option('xx', 'xx')); s.value = 'xx'; }")
    _submit(page, "form[method=post] button[type=submit]")


def _erase_error(page: Any, site: Site, lang: str) -> None:
    _erase(page, site, lang)
    page.fill("#confirm", "no")
    _submit(page, "main form button[type=submit]")


def _unsubscribe(page: Any, site: Site, lang: str) -> None:
    sid = _person(site, "unsub", lang, {1: "active"})
    page.goto(_url(site, site.app.state.web.links.unsubscribe(sid, 1).removeprefix(site.base),
                   lang))


def _unsubscribed(page: Any, site: Site, lang: str) -> None:
    _unsubscribe(page, site, lang)
    _submit(page, "main form button[type=submit]")


#: Invitees whose form is only looked at, and invitees who register (one a language).
LOOKS = {"sv": "anna.andersson@hylte.se", "en": "bengt.berg@hylte.se"}
REGISTERS = {"sv": "david.dahl@uppsala.se", "en": "fredrik.falk@ornskoldsvik.se"}


def _register_path(site: Site, email: str) -> str:
    with transaction(site.engine) as s:
        sid = get_subscriber(s, email).id
    return site.app.state.web.links.register(SLUG, sid, site.invitation_id).removeprefix(site.base)


def _register(page: Any, site: Site, lang: str, email: str = "") -> None:
    site.app.state.web.now = lambda: datetime(2023, 2, 1, 9, 0, tzinfo=UTC)
    page.goto(_url(site, _register_path(site, email or LOOKS[lang]), lang))


def _register_error(page: Any, site: Site, lang: str) -> None:
    _register(page, site, lang)
    page.fill("#name", "")
    _submit(page, "main form button[type=submit]")


def _registered(page: Any, site: Site, lang: str) -> None:
    _register(page, site, lang, REGISTERS[lang])
    _submit(page, "main form button[type=submit]")
    assert page.get_by_role("status").count(), "no 'you are registered' shown"


def _register_closed(page: Any, site: Site, lang: str) -> None:
    site.app.state.web.now = lambda: datetime(2023, 3, 1, 9, 0, tzinfo=UTC)
    page.goto(_url(site, _register_path(site, LOOKS[lang]), lang))


def _reconfirm(page: Any, site: Site, lang: str) -> None:
    site.app.state.web.now = lambda: datetime(2023, 11, 20, 9, 0, tzinfo=UTC)
    page.goto(_url(site, site.reconfirm_path, lang))


def _reader(site: Site) -> int:
    with transaction(site.engine) as s:
        return get_subscriber(s, "reader@example.org").id


def _preferences_saved(page: Any, site: Site, lang: str) -> None:
    _preferences(page, site, lang)
    page.fill("#name", "Sara Sparad")
    _submit(page, "form[method=post] button[type=submit]")


def _erase(page: Any, site: Site, lang: str) -> None:
    sid = _person(site, "erase", lang, {1: "active"})
    path = site.app.state.web.links.preferences(sid).removeprefix(site.base)
    page.goto(_url(site, path.split("?")[0] + "/erase", lang))


def _reconfirm_answered(page: Any, site: Site, lang: str) -> None:
    _reconfirm(page, site, lang)
    _submit(page, "button[value=yes]")


def _admin_login_error(page: Any, site: Site, lang: str) -> None:
    page.goto(_url(site, "/admin/login", lang))
    page.fill("#email", EMAILS["admin"])
    page.fill("#password", "wrong password")
    _submit(page, "button[type=submit]")


def _admin_import(page: Any, site: Site, lang: str) -> None:
    page.goto(_url(site, "/admin/lists/medborgardialog", lang))
    page.set_input_files("#file", files=[{
        "name": "people.csv", "mimeType": "text/csv",
        "buffer": b"email,name\nimported@example.org,Ina Import\nnot-an-address,Bad Row\n"}])
    _submit(page, "form[action$='/import'] button[type=submit]")


def _admin_issue_again_error(page: Any, site: Site, lang: str) -> None:
    """Schedule the issue once more to a list it went to, without "send it again" ticked."""
    page.goto(_url(site, f"/admin/issues/{FLAGSHIP}", lang))
    page.check("#list-medborgardialog")
    page.check("#confirm")
    _submit(page, "form[action*='/schedule'] button[type=submit]")
    assert page.locator("#again-error").count(), "the page shows no 'again' error"


def _submit_unchecked(page: Any, form: str) -> None:
    """Submit ``form`` without the browser's own checks (required, pattern, type=url),
    so that the server's answer, with its error messages, is what the page shows."""
    page.eval_on_selector(form, "f => { f.noValidate = true; }")
    _submit(page, f"{form} button[type=submit]")


def _fill_and_submit(path: str, form: str, values: dict[str, str]) -> Case:
    def go(page: Any, site: Site, lang: str) -> None:
        page.goto(_url(site, path, lang))
        for selector, value in values.items():
            page.fill(selector, value)
        _submit_unchecked(page, form)
    return go


def _admin_issue_error(page: Any, site: Site, lang: str) -> None:
    page.goto(_url(site, f"/admin/issues/{FLAGSHIP}", lang))
    _submit(page, "form[action*='/schedule'] button[type=submit]")


PUBLIC: dict[str, Case] = {
    "start": _get("/"),
    "subscribe": _get("/subscribe/medborgardialog"),
    "subscribe-error": _subscribe_error,
    "subscribe-embed": _get("/subscribe/medborgardialog/embed"),
    "subscribe-thanks": _get("/subscribe/medborgardialog/thanks"),
    "confirm": _confirm,
    "confirmed": _confirmed,
    "preferences": _preferences,
    "preferences-error": _preferences_error,
    "preferences-saved": _preferences_saved,
    "preferences-language-error": _preferences_language_error,
    "erase": _erase,
    "erase-error": _erase_error,
    "unsubscribe": _unsubscribe,
    "unsubscribed-undo": _unsubscribed,
    "register": _register,
    "register-error": _register_error,
    "registered": _registered,
    "register-closed": _register_closed,
    "register-how": _get("/register"),
    "archive": _get("/archive/medborgardialog"),
    "archive-view": _get(lambda site, lang: f"/archive/view/{site.mailing_ids[lang]}"),
    "reconfirm": _reconfirm,
    "reconfirm-answered": _reconfirm_answered,
    "not-found": _get("/nothing-here"),
    "bad-link": _get("/u/broken-token"),
}
ADMIN: dict[str, Case] = {
    "admin-dashboard": _get("/admin"),
    "admin-lists": _get("/admin/lists"),
    "admin-list": _get("/admin/lists/medborgardialog"),
    "admin-import-report": _admin_import,
    "admin-subscribers": _get("/admin/subscribers?q=example.org"),
    "admin-issues": _get("/admin/issues"),
    "admin-issue": _get(f"/admin/issues/{FLAGSHIP}"),
    "admin-issue-error": _admin_issue_error,
    "admin-issue-again-error": _admin_issue_again_error,
    "admin-mailings": _get("/admin/mailings"),
    "admin-mailing": _get(lambda site, lang: f"/admin/mailings/{site.mailing_ids[lang]}"),
    "admin-invitation": _get(f"/admin/invitations/{SLUG}"),
    "admin-suppressions": _get("/admin/suppressions"),
    "admin-account": _get("/admin/account"),
    "admin-subscriber": _get(lambda site, lang: f"/admin/subscribers/{_reader(site)}"),
    "admin-invitations": _get("/admin/invitations"),
    "admin-remind": _get(f"/admin/invitations/{SLUG}/remind"),
    "admin-segments": _get("/admin/segments"),
    "admin-users": _get("/admin/users"),
    "admin-webhooks": _get("/admin/webhooks"),
    "admin-not-found": _get("/admin/mailings/999999"),
    "admin-lists-error": _fill_and_submit("/admin/lists", "form[action='/admin/lists']",
                                          {"#slug": "Not a slug!", "#name": "X"}),
    "admin-webhooks-error": _fill_and_submit("/admin/webhooks",
                                             "form[action='/admin/webhooks']",
                                             {"#url": "ftp://example.org", "#secret": "x"}),
    "admin-account-error": _fill_and_submit("/admin/account",
                                            "form[action='/admin/account/password']",
                                            {"#current": "wrong", "#new": "short",
                                             "#repeat": "other"}),
    "admin-users-error": _fill_and_submit("/admin/users", "form[action='/admin/users']",
                                          {"#email": "not an address"}),
    "admin-suppressions-error": _fill_and_submit(
        "/admin/suppressions", "form[method=post][action='/admin/suppressions']",
        {"#email": "nope"}),
    "admin-invitation-error": _fill_and_submit(
        f"/admin/invitations/{SLUG}", "form[action$='/registrations']",
        {"#email": "not an address"}),
    "admin-podcast-error": _fill_and_submit(
        f"/admin/issues/{FLAGSHIP}", "#podcast", {"#feed-url": "http://127.0.0.1:9/feed.xml"}),
}
ANONYMOUS_ADMIN: dict[str, Case] = {
    "admin-login": _get("/admin/login"),
    "admin-login-error": _admin_login_error,
}
EMAILS_HTML = ["newsletter", "invitation", "reminder", "registration-confirmation",
               "reconfirmation", "confirm", "welcome", "already"]


def _report(violations: list[dict[str, Any]]) -> str:
    out = []
    for v in violations:
        out.append(f"{v['id']} ({v['impact']}): {v['help']} <{v['helpUrl']}>")
        out.extend(f"    {' '.join(map(str, node['target']))}: "
                   f"{node.get('failureSummary', '').replace(chr(10), ' ')}"
                   for node in v["nodes"][:8])
    return "\n".join(out)


# Form errors tied to their fields, and the skip link: what axe does not check.
FORM_ERRORS_JS = """() => {
  const out = [];
  for (const el of document.querySelectorAll('[aria-invalid="true"]')) {
    const ids = (el.getAttribute('aria-describedby') || '').split(/\\s+/).filter(Boolean);
    const said = ids.map(id => document.getElementById(id)).filter(Boolean)
                    .map(e => e.textContent.trim()).join(' ');
    if (!said) out.push(`#${el.id}: aria-invalid without aria-describedby naming a message`);
  }
  // A message in a form (beside its field) or in an error summary. Not: status words in
  // tables (a webhook "Disabled"), nor the audience preview's live answer to conditions
  // still being typed (role=alert in an aria-live region, not a refused submission).
  const beside = 'main form p.error, main .error-summary p.error';
  for (const msg of document.querySelectorAll(beside)) {
    if (msg.closest('.audience-preview')) continue;
    const owners = msg.id ? [...document.querySelectorAll(`[aria-describedby~="${msg.id}"]`)] : [];
    if (!owners.length) out.push(`error message "${msg.textContent.trim().slice(0, 60)}" (id=`
                                 + `${msg.id || 'none'}) is tied to no field`);
    for (const owner of owners)
      if (owner.getAttribute('aria-invalid') !== 'true'
          && !['FIELDSET', 'BUTTON'].includes(owner.tagName))
        out.push(`#${owner.id}: has an error message but not aria-invalid="true"`);
  }
  for (const a of document.querySelectorAll('.error-summary a[href^="#"]')) {
    if (!document.getElementById(a.getAttribute('href').slice(1)))
      out.push(`error summary link ${a.getAttribute('href')} leads nowhere`);
  }
  return out;
}"""


# An e-mail lays itself out with tables (the only layout every client honours): each must
# say so (role="presentation") or be a real data table with header cells.
LAYOUT_TABLES_JS = """() => [...document.querySelectorAll('table')]
  .filter(t => t.getAttribute('role') !== 'presentation' && !t.querySelector('th'))
  .map(t => t.outerHTML.slice(0, 120))"""


def _check(page: Any, lang: str | None) -> None:
    if lang is not None:
        assert page.evaluate("document.documentElement.lang") == lang, page.url
    results = AXE.run(page, options={"runOnly": {"type": "tag", "values": WCAG_AA},
                                     "rules": EXTRA_RULES, "resultTypes": ["violations"]})
    violations = results.response["violations"]
    assert not violations, f"{page.url}:\n{_report(violations)}"
    problems = page.evaluate(FORM_ERRORS_JS)
    assert not problems, f"{page.url}:\n" + "\n".join(problems)


def _cases() -> list[Any]:
    groups = [("public", PUBLIC), ("anonymous-admin", ANONYMOUS_ADMIN), ("admin", ADMIN),
              ("email", dict.fromkeys(EMAILS_HTML))]
    return [pytest.param(where, name, lang,
                         id=f"email-{name}-{lang}" if where == "email" else f"{name}-{lang}")
            for lang in LANGS for where, names in groups for name in names]


@pytest.mark.parametrize(("where", "name", "lang"), _cases())
def test_axe_finds_no_wcag_aa_violation(where: str, name: str, lang: str, site: Site,
                                        contexts: dict[tuple[str, bool], Any]) -> None:
    ctx = contexts[(lang, where == "admin")]
    page = ctx.new_page()
    try:
        if where == "email":
            # The mail must stand on its own: nothing fetched (images keep their alt text).
            page.route("**/*", lambda route: route.abort())
            page.set_content(site.emails[f"{name}-{lang}"], wait_until="load")
            unmarked = page.evaluate(LAYOUT_TABLES_JS)
            assert not unmarked, "layout tables without role=presentation:\n" + "\n".join(
                unmarked)
        else:
            {**PUBLIC, **ADMIN, **ANONYMOUS_ADMIN}[name](page, site, lang)
            if name.endswith("-error"):  # the case shows what it is meant to show
                assert page.locator("main p.error").count(), f"{page.url}: no error shown"
        _check(page, lang)
    finally:
        page.close()
        site.app.state.web.now = site.now


# --- Keyboard: what axe cannot see ------------------------------------------------------

FOCUSED_JS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  // A preview <iframe> holds an e-mail: its links wear the mail's style (axe checks the
  // mail on its own), not this page's.
  if (el.tagName === 'IFRAME') return {what: 'iframe#' + el.id, frame: true};
  const cs = getComputedStyle(el);
  const r = el.getBoundingClientRect();
  return {what: el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
                + (el.className && typeof el.className === 'string' ? '.' + el.className : '')
                + ' "' + (el.textContent || el.value || '').trim().slice(0, 30) + '"',
          outline: cs.outlineStyle, width: parseFloat(cs.outlineWidth) || 0,
          shadow: cs.boxShadow,
          shown: r.width > 0 && r.height > 0 && r.bottom > 0 && r.top < innerHeight
                 && r.right > 0 && r.left < innerWidth,
          inMain: !!el.closest('main'), skip: el.classList.contains('skip')};
}"""

KEYBOARD_PAGES = ["subscribe-error", "preferences", "register-error", "unsubscribe", "archive-view",
                  "admin-login-error", "admin-issue", "admin-list", "admin-segments",
                  "admin-dashboard"]


@pytest.mark.parametrize("name", KEYBOARD_PAGES)
def test_every_tab_stop_shows_the_focus_ring(name: str, site: Site,
                                             contexts: dict[tuple[str, bool], Any]) -> None:
    """Tab through the page: each stop is on screen with the 3 px focus ring (an outline
    of at least 2 px; Chromium's own ring for a control the style sheet forgot is 1 px)."""
    page = contexts[("sv", name in ADMIN)].new_page()
    try:
        {**PUBLIC, **ADMIN, **ANONYMOUS_ADMIN}[name](page, site, "sv")
        page.evaluate("document.activeElement && document.activeElement.blur()")
        seen: list[str] = []
        faint: list[str] = []
        for _ in range(400):
            page.keyboard.press("Tab")
            focused = page.evaluate(FOCUSED_JS)
            if focused is None or focused["what"] in seen[:1]:
                break  # round the page once
            if focused.get("frame"):
                continue
            seen.append(focused["what"])
            ring = focused["outline"] not in ("none", "") and focused["width"] >= 2
            if not (ring and focused["shown"]):
                faint.append(f"{focused['what']}: outline {focused['outline']} "
                             f"{focused['width']}px, on screen: {focused['shown']}")
        assert len(seen) > 3, seen
        assert not faint, f"{page.url}:\n" + "\n".join(faint)
    finally:
        page.close()
        site.app.state.web.now = site.now


@pytest.mark.parametrize("name", ["admin-dashboard", "admin-issue", "subscribe", "preferences"])
def test_the_skip_link_is_first_and_jumps_over_the_navigation(
        name: str, site: Site, contexts: dict[tuple[str, bool], Any]) -> None:
    page = contexts[("en", name in ADMIN)].new_page()
    try:
        {**PUBLIC, **ADMIN}[name](page, site, "en")
        page.keyboard.press("Tab")
        first = page.evaluate(FOCUSED_JS)
        assert first["skip"] and first["shown"], first
        page.keyboard.press("Enter")
        page.keyboard.press("Tab")
        after = page.evaluate(FOCUSED_JS)
        assert after["inMain"], f"Tab after the skip link went to {after['what']}"
    finally:
        page.close()
