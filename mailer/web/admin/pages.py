"""Rendering admin pages: their Jinja2 environment, language, messages after a redirect.

The admin pages share the public pages' stylesheet, CSRF tokens, security headers and
date filters (``mailer.web.pages``); their templates live beside this module and their
Swedish texts in ``mailer/locale/sv/admin.po`` (read by the shared catalogue).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

from babel import Locale, UnknownLocaleError
from babel.lists import format_list
from jinja2 import ChoiceLoader, Environment, FileSystemLoader
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from mailer.config import Settings
from mailer.render.i18n import Translator, describe_problem, format_fixed
from mailer.web.i18n import LANGUAGES, N_, Translate, choose_language
from mailer.web.i18n import translator as web_translator
from mailer.web.pages import TEMPLATES, make_environment, web_of
from mailer.web.security import is_https

ADMIN_TEMPLATES = Path(__file__).parent / "templates"
LANG_COOKIE = "mailer-admin-lang"
# Admin pages may frame their own previews (same origin) and load the small admin script.
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")

#: Messages shown once after a redirect (``?done=key``): only these fixed texts, so a
#: crafted link cannot put words on our pages.
DONE = {
    "saved": N_("Saved."),
    "created": N_("Created."),
    "deleted": N_("Deleted."),
    "erased": N_("The person's data has been erased."),
    "sent": N_("Sent."),
    # The issue page names the addresses (from the test mailing); this when it cannot.
    "test-queued": N_("The test has been queued; a worker sends it."),
    "scheduled": N_("The mailing is scheduled."),
    "paused": N_("The mailing is paused."),
    "resumed": N_("The mailing is resumed."),
    "cancelled": N_("The mailing is cancelled."),
    "password": N_("Your password has been changed."),
    "revoked": N_("The token has been revoked."),
    "reminded": N_("The reminders have been queued for sending."),
    "invited": N_("The invitation has been queued for sending; the worker sends it."),
    "registered": N_("The registration has been saved."),
    "logged-out": N_("You have logged out."),
    "suppressed": N_("Address suppressed"),
    "already-suppressed": N_("The address was suppressed already"),
    "unsuppressed": N_("Address removed from the suppression list"),
    "unsuppressed-confirm": N_("Address removed from the suppression list; the sign-ups "
                               "that waited were sent their confirmation link"),
    "podcast-added": N_("The episode has been added from the feed; check it below."),
    "podcast-present": N_("That episode is in the issue already."),
    "uploaded": N_("The file has been added to the issue."),
}


def translator(lang: str) -> Translate:
    """The shared catalogue (``mailer/locale/<lang>/*.po``), then the public pages' own."""
    lang = lang if lang in LANGUAGES else "sv"
    tr = Translator(lang)
    pages = web_translator(lang)

    def _(message: str, **values: object) -> str:
        text = tr.gettext(message) if message in tr else pages(message)
        return text % values if values else text

    return _


def plural_translator(lang: str) -> Callable[..., str]:
    """``_n("%(n)s warning", "%(n)s warnings", n)``: the form for ``n`` (Babel's plural
    rules of the catalogue), with ``n`` and any other values filled in."""
    tr = Translator(lang if lang in LANGUAGES else "sv")

    def _n(singular: str, plural: str, n: int, **values: object) -> str:
        return tr.ngettext(singular, plural, n) % {"n": n, **values}

    return _n


def _localiser(lang: str) -> Callable[[str], str]:
    """A message in the page's language: a ``Msg`` from a check or a service, or a fixed
    ``N_`` text of the admin."""
    tr = Translator(lang if lang in LANGUAGES else "sv")
    page = translator(lang)

    def localise(message: str) -> str:
        # A service's message whose advice is the command line's ("--list SLUG") carries
        # the admin's own words for it (``Msg.with_admin``).
        message = getattr(message, "admin", None) or message
        return tr.localise(message) if hasattr(message, "msgid") else page(message)

    return localise


def _moment(value: datetime | str) -> datetime:
    """A time, also one from a JSON report (ISO 8601 text, e.g. the GDPR access report)."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def language_name(code: str | None) -> str:
    """A language by its own name, as the list form offers them: ``svenska``,
    ``English`` (CLDR's, through Babel); an unknown code as it is."""
    try:
        return (Locale.parse(code).language_name or code) if code else ""
    except (ValueError, TypeError, UnknownLocaleError):
        return str(code)


def make_admin_environment(settings: Settings) -> Environment:
    """The public environment's filters, with the admin templates looked up first."""
    env = make_environment(settings)
    env.loader = ChoiceLoader([FileSystemLoader(ADMIN_TEMPLATES), FileSystemLoader(TEMPLATES)])
    tz = settings.tz
    env.filters["local"] = lambda d, fmt="%Y-%m-%d %H:%M": _moment(d).astimezone(tz).strftime(
        fmt) if d else "–"
    env.filters["language_name"] = language_name
    env.filters["number"] = lambda n: f"{n:,}".replace(",", "\u202f")
    return env


def admin_language(request: Request) -> str:
    explicit = request.query_params.get("lang")
    return choose_language(explicit if explicit in LANGUAGES else
                           request.cookies.get(LANG_COOKIE),
                           None, request.headers.get("accept-language"),
                           web_of(request).settings.language)


def admin_url(path: str, **query: object) -> str:
    """An internal admin path with a query string (values URL-encoded)."""
    clean = {k: v for k, v in query.items() if v not in (None, "")}
    return f"{path}?{urlencode(clean)}" if clean else path


def redirect(path: str, done: str | None = None, **query: object) -> RedirectResponse:
    """303 to an internal path (never to anything a request supplied)."""
    assert path.startswith("/") and not path.startswith("//")
    return RedirectResponse(admin_url(path, done=done, **query), status_code=303)


def render(request: Request, template: str, *, status: int = 200, **context: object) -> Response:
    """Render an admin page in the user's language; never cached, never framed."""
    from mailer.web.admin.auth import session_cookie  # auth renders pages too

    web = web_of(request)
    state = request.app.state.admin
    lang = admin_language(request)
    other = next(x for x in LANGUAGES if x != lang)
    done = request.query_params.get("done")
    ctx = {
        "_": translator(lang),
        "_n": plural_translator(lang),
        "localise": _localiser(lang),
        "problem_text": lambda p, place=True: describe_problem(p, lang, place=place),
        "lang": lang,
        "decimal": lambda value, places=1: format_fixed(value, places, lang),
        "other_lang": other,
        "switch_url": admin_url(request.url.path, lang=other),
        "csrf_token": lambda: web.csrf.token(request, session=session_cookie(request)),
        "with_lang": lambda path, _lang=None: path,
        "admin_url": admin_url,
        "sender_name": web.settings.sender.name or web.settings.sender.address,
        "user": getattr(request.state, "principal", None),
        "done": DONE.get(done) if done else None,
        "word_list": lambda words: format_list(list(words), locale=lang),
        "path": request.url.path,
        **context,
    }
    html = state.env.get_template(template).render(ctx)
    response = HTMLResponse(html, status_code=status)
    response.headers["cache-control"] = "no-store"
    response.headers["content-language"] = lang
    response.headers["content-security-policy"] = CSP
    web.csrf.attach_cookie(request, response)
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, httponly=True,
                            samesite="lax", secure=is_https(request), path="/")
    return response
