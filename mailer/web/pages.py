"""Rendering pages: the Jinja2 environment, the language of a request, friendly error pages."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from babel.dates import format_date, format_datetime
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from mailer.config import Settings
from mailer.errors import DatabaseBusy
from mailer.render.i18n import format_day, format_time_range
from mailer.render.invitation import cost_text
from mailer.services.brands import brand_of
from mailer.web.i18n import LANGUAGES, N_, choose_language, translator

if TYPE_CHECKING:
    from mailer.web.app import Web

TEMPLATES = Path(__file__).parent / "templates"


def make_environment(settings: Settings) -> Environment:
    # auto_reload off: the pages ship with the package; no stat() per page served.
    env = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined,
                      autoescape=select_autoescape(enabled_extensions=("html", "xml")),
                      trim_blocks=True, lstrip_blocks=True, auto_reload=False)
    tz = settings.tz
    env.filters["date"] = lambda d, lang: format_date(d.astimezone(tz), "long", locale=lang)
    env.filters["datetime"] = lambda d, lang: format_datetime(
        d.astimezone(tz), "d MMMM y HH:mm", locale=lang)
    env.filters["day"] = lambda d, lang: format_day(d, lang)
    env.filters["hours"] = lambda m, lang: format_time_range(m.start, m.end, lang)
    # The cost as the invitation's mail words it ("900 kr/år/person"): one wording.
    env.filters["cost"] = cost_text
    return env


def web_of(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


def client_ip(request: Request) -> str:
    # Behind a reverse proxy, uvicorn's --forwarded-allow-ips makes this the real client.
    return request.client.host if request.client else ""


def request_language(request: Request, subscriber_language: str | None = None) -> str:
    return choose_language(request.query_params.get("lang"), subscriber_language,
                           request.headers.get("accept-language"),
                           web_of(request).settings.language)


def with_lang(path: str, lang: str) -> str:
    """An internal path with ``?lang=``; only ever built from our own route paths."""
    return f"{path}?{urlencode({'lang': lang})}"


def render(request: Request, template: str, *, lang: str, status: int = 200,
           cache: str = "no-store", newsletter: str = "", **context: object) -> HTMLResponse:
    """Render a page in ``lang``; sets the CSRF cookie if the page holds a form. The page
    wears the look of brand ``newsletter``, else of its list's (``lst``) newsletter."""
    web = web_of(request)
    other = next(x for x in LANGUAGES if x != lang)
    key = newsletter or str(getattr(context.get("lst"), "brand", "") or "")
    key = key if key in web.settings.brands else ""
    brand = brand_of(web.settings, key)
    ctx = {
        "_": translator(lang),
        "lang": lang,
        "other_lang": other,
        "switch_url": with_lang(request.url.path, other),
        "here": with_lang(request.url.path, lang),
        "csrf_token": lambda: web.csrf.token(request),
        "with_lang": with_lang,
        # A page about a list wears its newsletter's look (the list's brand).
        "sender_name": (brand.name or web.settings.sender.name
                        or web.settings.sender.address),
        "brand": brand,
        "brand_key": key,
        **context,
    }
    html = web.env.get_template(template).render(ctx)
    response = HTMLResponse(html, status_code=status)
    response.headers["cache-control"] = cache
    response.headers["content-language"] = lang
    response.headers["vary"] = "Accept-Language, Cookie"
    web.csrf.attach_cookie(request, response)
    return response


@dataclass
class PageError(Exception):
    """A request we refuse, shown as a friendly page with a status and a way on."""

    status: int
    title: str  # message id
    message: str  # message id
    link: str | None = None
    link_label: str = N_("Go to the start page")

    @classmethod
    def bad_link(cls) -> PageError:
        return cls(400, N_("This link does not work"),
                   N_("The link is incomplete or has been changed. Copy the whole link from "
                      "the e-mail, or use the link in a newer e-mail from us."), "/")

    @classmethod
    def expired_link(cls) -> PageError:
        return cls(410, N_("This link has expired"),
                   N_("Confirmation links are valid for 7 days. Sign up again and you will "
                      "get a new link."), "/", N_("Sign up again"))

    @classmethod
    def gone(cls) -> PageError:
        return cls(404, N_("We have nothing stored for this link"),
                   N_("The subscription no longer exists, or the personal data has been "
                      "erased. There is nothing more to do."), "/")

    @classmethod
    def csrf(cls, *, expired: bool) -> PageError:
        if expired:
            return cls(403, N_("The form had expired"),
                       N_("For your security, forms are valid for one day and need cookies "
                          "to be allowed for this site. Go back, reload the page and try "
                          "again."))
        return cls(403, N_("The form could not be accepted"),
                   N_("The form did not come from this site's page. Open the page again "
                      "and send the form from there."))

    @classmethod
    def too_many(cls) -> PageError:
        return cls(429, N_("Too many attempts"),
                   N_("We have received many sign-ups from your network in a short time. "
                      "Wait a few minutes and try again."))

    @classmethod
    def too_large(cls) -> PageError:
        return cls(413, N_("Too much was sent"),
                   N_("The form sent more than this page accepts. Go back, shorten what you "
                      "wrote or choose a smaller file, and try again."))

    @classmethod
    def busy(cls) -> PageError:
        return cls(503, N_("We are busy right now"),
                   N_("Nothing was changed. Try again in a moment."))

    @classmethod
    def server_error(cls) -> PageError:
        return cls(500, N_("Something went wrong on our side"),
                   N_("Nothing you did caused this. Try again in a while."), "/")

    @classmethod
    def from_status(cls, status: int) -> PageError:
        if status == 413:
            return cls.too_large()
        if status == 405:
            return cls(405, N_("This page cannot be used like that"),
                       N_("Open the page with its link instead."), "/")
        return cls(404 if status == 404 else status, N_("Page not found"),
                   N_("There is no page at this address. Check the link, or start from "
                      "the start page."), "/")


def error_page(request: Request, error: PageError) -> Response:
    lang = request_language(request)
    response = render(request, "error.html", lang=lang, status=error.status, error=error)
    if error.status == 429:
        response.headers["retry-after"] = "600"
    if error.status == 503:
        response.headers["retry-after"] = str(DatabaseBusy.retry_after)
    return response
