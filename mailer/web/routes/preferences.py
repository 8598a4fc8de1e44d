"""The preferences page behind every e-mail's link: lists, language, name, organisation,
unsubscribe from everything, download my data (JSON) and erase me (with a confirmation step).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TypedDict

from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mailer.domain.text import clean_line
from mailer.services import subscriptions
from mailer.services.subscriptions import MAX_NAME, Preferences, Prefs
from mailer.store.models import SubscriptionStatus
from mailer.tokens import Purpose
from mailer.web.i18n import LANGUAGES, N_, Translate, translations, translator
from mailer.web.pages import client_ip, render, request_language, web_of, with_lang
from mailer.web.routes.common import db, found, read_found, read_token

router = APIRouter()
#: The word a subscriber types to erase everything ("RADERA" in Swedish); either
#: language's word is accepted.
ERASE = N_("ERASE")


def erase_word(lang: str) -> str:
    return translations(lang).gettext(ERASE)


class FormValues(TypedDict):
    name: str
    organisation: str
    language: str
    lists: set[int]


def preferences_wording(_: Translate) -> str:
    return _("I want to receive the newsletters I tick by e-mail. I can unsubscribe at any "
             "time, here or with the link in every e-mail.")


async def _open(request: Request, token: str) -> tuple[int, Prefs, str]:
    data = read_token(request, Purpose.preferences, token)
    prefs = await read_found(request, subscriptions.preferences, data.subscriber_id)
    return data.subscriber_id, prefs, request_language(request, prefs.subscriber.language)


def _page(request: Request, token: str, prefs: Prefs, lang: str, *, status: int = 200,
          values: FormValues | None = None, errors: dict[str, str] | None = None,
          saved: str = "") -> Response:
    s = prefs.subscriber
    values = values or {"name": s.name, "organisation": s.organisation,
                        "language": s.language,
                        "lists": {c.list_id for c in prefs.choices
                                  if c.status == SubscriptionStatus.active}}
    return render(request, "preferences.html", lang=lang, status=status, prefs=prefs,
                  token=token, values=values, errors=errors or {}, saved=saved,
                  wording=preferences_wording(translator(lang)),
                  click_per_person=web_of(request).settings.click_tracking_per_person)


@router.get("/p/{token}")
async def preferences_page(request: Request, token: str) -> Response:
    _sid, prefs, lang = await _open(request, token)
    saved = request.query_params.get("saved", "")
    return _page(request, token, prefs, lang, saved=saved if saved in ("1", "all") else "")


def _validate(form: FormData, prefs: Prefs, _: Translate) -> tuple[FormValues, dict[str, str]]:
    def text(name: str) -> str:
        v = form.get(name)
        return clean_line(v) if isinstance(v, str) else ""

    allowed = {c.list_id for c in prefs.choices}
    chosen: set[int] = set()
    errors: dict[str, str] = {}
    for raw in form.getlist("lists"):
        try:
            chosen.add(int(str(raw)))
        except ValueError:
            errors["lists"] = _("Choose among the newsletters shown.")
    values: FormValues = {"name": text("name"), "organisation": text("organisation"),
              "language": text("language"), "lists": chosen}
    if chosen - allowed:
        errors["lists"] = _("Choose among the newsletters shown.")
    if len(values["name"]) > MAX_NAME:
        errors["name"] = _("The name can be at most %(n)s characters long.", n=MAX_NAME)
    if len(values["organisation"]) > MAX_NAME:
        errors["organisation"] = _("The organisation can be at most %(n)s characters long.",
                                   n=MAX_NAME)
    if values["language"] not in LANGUAGES:
        errors["language"] = _("Choose Swedish or English.")
    return values, errors


@router.post("/p/{token}")
async def preferences_save(request: Request, token: str) -> Response:
    web = web_of(request)
    form = await request.form()
    web.csrf.check(request, form)
    sid, prefs, lang = await _open(request, token)
    _ = translator(lang)
    values, errors = _validate(form, prefs, _)
    if errors:
        return _page(request, token, prefs, lang, status=422, values=values, errors=errors)
    # The consent is the ticked box's label plus the text shown under the boxes, verbatim.
    shown = preferences_wording(_)
    wordings = {c.list_id: f"[x] {c.name}\n{shown}" for c in prefs.choices}

    chosen = Preferences(frozenset(values["lists"]), values["language"], values["name"],
                         values["organisation"])
    await found(request, subscriptions.save_preferences, sid, chosen, now=web.now(),
                ip=client_ip(request), wordings=wordings)
    # Post/redirect/get, shown in the language just chosen.
    return _redirect(f"/p/{token}", values["language"], "1")


def _redirect(path: str, lang: str, saved: str) -> Response:
    return RedirectResponse(f"{with_lang(path, lang)}&saved={saved}", status_code=303)


@router.post("/p/{token}/unsubscribe-all")
async def preferences_unsubscribe_all(request: Request, token: str) -> Response:
    web = web_of(request)
    form = await request.form()
    web.csrf.check(request, form)
    sid, _prefs, lang = await _open(request, token)

    await found(request, subscriptions.unsubscribe_everywhere, sid, now=web.now(),
                ip=client_ip(request), source="preferences")
    return _redirect(f"/p/{token}", lang, "all")


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


@router.post("/p/{token}/data")
async def preferences_download(request: Request, token: str) -> Response:
    """Everything we hold on this person, as a JSON file (GDPR article 15 and 20)."""
    web = web_of(request)
    form = await request.form()
    web.csrf.check(request, form)
    sid, _prefs, _lang = await _open(request, token)

    data = await read_found(request, subscriptions.access_report, sid)
    body = json.dumps(data, ensure_ascii=False, indent=2, default=_json_default)
    return Response(body, media_type="application/json; charset=utf-8", headers={
        "content-disposition": 'attachment; filename="my-data.json"',
        "cache-control": "no-store"})


@router.get("/p/{token}/erase")
async def preferences_erase_page(request: Request, token: str) -> Response:
    _sid, prefs, lang = await _open(request, token)
    return render(request, "erase.html", lang=lang, prefs=prefs, token=token, errors={},
                  word=erase_word(lang))


@router.post("/p/{token}/erase")
async def preferences_erase(request: Request, token: str) -> Response:
    web = web_of(request)
    form = await request.form()
    web.csrf.check(request, form)
    sid, prefs, lang = await _open(request, token)
    _ = translator(lang)
    typed = form.get("confirm")
    words = {erase_word(x) for x in LANGUAGES}
    if not isinstance(typed, str) or typed.strip().upper() not in words:
        errors = {"confirm": _("Type %(word)s to confirm that everything should be erased.",
                               word=erase_word(lang))}
        return render(request, "erase.html", lang=lang, prefs=prefs, token=token,
                      errors=errors, word=erase_word(lang), status=422)

    await db(request, subscriptions.erase, sid, source="preferences-page")
    return render(request, "erased.html", lang=lang)
