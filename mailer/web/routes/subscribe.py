"""The start page, the subscribe form per public list, and the embeddable snippet.

Nothing on these pages tells whether an address is already on a list: every valid
sign-up gets the same "check your inbox" page through the same code path (one database
transaction that records the sign-up and plans exactly one mail; the worker sends it),
whatever the address's state. What the mail says differs, and only the owner of the
mailbox reads it: new or not yet confirmed -> a confirmation link (double opt-in) or a
welcome (single opt-in); already active -> a short "you already subscribe" note with the
preferences link.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mailer.domain.text import clean_line
from mailer.services import subscriptions
from mailer.services.subscriptions import MAX_NAME, InvalidEmail, normalise_email
from mailer.web.csrf import FIELD
from mailer.web.i18n import Translate, translator
from mailer.web.pages import PageError, client_ip, render, request_language, web_of, with_lang
from mailer.web.routes.common import consent_wording, db, open_list, read

router = APIRouter()


@router.get("/")
async def index(request: Request) -> Response:
    lists = await read(request, subscriptions.public_lists)
    return render(request, "index.html", lang=request_language(request), lists=lists,
                  cache="public, max-age=60")


def _validate(form: FormData, _: Translate) -> tuple[dict[str, str], dict[str, str]]:
    raw_email = form.get("email")
    raw_name = form.get("name")
    values = {"email": raw_email.strip()[:400] if isinstance(raw_email, str) else "",
              "name": clean_line(raw_name) if isinstance(raw_name, str) else ""}
    errors: dict[str, str] = {}
    if not values["email"]:
        errors["email"] = _("Enter your e-mail address.")
    else:
        try:
            values["email"] = normalise_email(values["email"])
        except InvalidEmail:
            errors["email"] = _("Enter an e-mail address in the form name@example.org.")
    if len(values["name"]) > MAX_NAME:
        errors["name"] = _("The name can be at most %(n)s characters long.", n=MAX_NAME)
    elif any(ch in values["name"] for ch in "<>\"@"):
        errors["name"] = _("Write your name without the characters < > \" and @.")
    return values, errors


# The sign-up pages (the form, its POST, the thanks page) take turns through one
# admission gate (``Web.signups``): a bounded number at work at once, the rest queued in
# order, so a crowd of sign-ups cannot starve the one-click unsubscribe and the other
# pages of the threadpool, the database connections and the GIL (issue 13; the form's GET
# as well as the POST: with both gated the one-click's p99 under benchmarks/load.py was
# 92-154 ms against 112-241 ms with only the POST, README "Hardening").


@router.get("/subscribe/{slug}")
async def subscribe_form(request: Request, slug: str) -> Response:
    async with web_of(request).signups.turn():
        lst = await open_list(request, slug)
        lang = request_language(request, lst.language)
        return render(request, "subscribe.html", lang=lang, lst=lst, values={}, errors={},
                      wording=consent_wording(translator(lang), lst.name), embedded=False)


@router.post("/subscribe/{slug}")
async def subscribe_submit(request: Request, slug: str) -> Response:
    async with web_of(request).signups.turn():
        return await _subscribe_submit(request, slug)


async def _subscribe_submit(request: Request, slug: str) -> Response:
    web = web_of(request)
    form = await request.form()
    lst = await open_list(request, slug)
    lang = request_language(request, lst.language)
    _ = translator(lang)
    wording = consent_wording(_, lst.name)
    if FIELD not in form:
        # Posted from the embeddable snippet on another site: it cannot carry our CSRF
        # token, so nothing happens yet; the person confirms on our own page (which shows
        # the consent wording we log, whatever the other site's form said).
        values, _errors = _validate(form, _)
        return render(request, "subscribe.html", lang=lang, lst=lst, values=values,
                      errors={}, wording=wording, embedded=True)
    web.csrf.check(request, form)
    values, errors = _validate(form, _)
    if errors:
        return render(request, "subscribe.html", lang=lang, lst=lst, values=values,
                      errors=errors, wording=wording, embedded=False, status=422)
    if not web.per_ip.hit(client_ip(request), web.monotonic()):
        raise PageError.too_many()

    # Per-address limit: past it the sign-up is recorded but no mail is planned (the page
    # stays the same, so it tells nothing; the person already has the earlier mails).
    notify = web.may_mail(values["email"])
    await db(request, subscriptions.subscribe, web.links, lst=lst,
             email=values["email"], now=web.now(), ip=client_ip(request), wording=wording,
             language=lang, name=values["name"], source="form", notify=notify,
             sender=web.settings.sender, settings=web.settings)
    return RedirectResponse(with_lang(f"/subscribe/{lst.slug}/thanks", lang), status_code=303)


@router.get("/subscribe/{slug}/thanks")
async def subscribe_thanks(request: Request, slug: str) -> Response:
    async with web_of(request).signups.turn():
        lst = await open_list(request, slug)
        return render(request, "subscribe_thanks.html",
                      lang=request_language(request, lst.language), lst=lst)


@router.get("/subscribe/{slug}/embed")
async def subscribe_embed(request: Request, slug: str) -> Response:
    """How to put a sign-up form for this list on another site (a plain HTML form)."""
    web = web_of(request)
    lst = await open_list(request, slug)
    lang = request_language(request, lst.language)
    snippet = web.env.get_template("snippet.html").render(
        _=translator(lang), lang=lang, lst=lst,
        action=f"{web.settings.base_url}/subscribe/{lst.slug}?lang={lang}")
    return render(request, "embed.html", lang=lang, lst=lst, snippet=snippet.strip(),
                  cache="public, max-age=300")
