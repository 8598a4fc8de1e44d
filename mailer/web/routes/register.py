"""Built-in registration for invitations: ``/register/{invitation}/{token}``.

The signed link (per subscriber and invitation) opens a page with the invitation's key
facts (meetings, cost, deadline, seats left for the person's organisation) and a form
pre-filled from what we hold. After the deadline, or when the organisation's seats are
taken (and there is no wait list), it refuses with a clear message and no form. A
registration answers with a confirmation page; the desk queues the confirmation mail
(with the meetings as an .ics attachment) as a mailing in the outbox, in the same
transaction. The invitation data come through ``mailer.web.registration``.
"""

from __future__ import annotations

from dataclasses import replace

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from mailer.domain.organisations import by_code, match, organisations
from mailer.domain.subscriber_rows import MAX_NAME
from mailer.domain.text import clean_line
from mailer.tokens import Purpose
from mailer.web.i18n import N_, translator
from mailer.web.pages import PageError, error_page, render, request_language, web_of
from mailer.web.registration import InvitationFacts, Outcome, Registrant
from mailer.web.routes.common import read_token

router = APIRouter()
STATUS = {Outcome.seats_full: 409, Outcome.closed: 410}


def _not_open() -> PageError:
    return PageError(404, N_("Registration is not open"),
                     N_("This invitation has no registration form here. Use the registration "
                        "link or e-mail address given in the invitation."), "/")


async def _load(request: Request, slug: str, token: str) -> tuple[int, InvitationFacts,
                                                                  Registrant]:
    data = read_token(request, Purpose.register, token)
    desk = web_of(request).desk
    facts = await run_in_threadpool(desk.facts, data.scope_id)
    if facts is None:
        raise _not_open()
    if facts.slug != slug:  # a genuine link, but for another invitation
        raise PageError.bad_link()
    person = await run_in_threadpool(desk.registrant, data.scope_id, data.subscriber_id)
    if person is None:
        raise PageError.gone()
    return data.subscriber_id, facts, person


def _page(request: Request, facts: InvitationFacts, person: Registrant, lang: str, *,
          state: str, status: int = 200, values: dict[str, str] | None = None,
          errors: dict[str, str] | None = None) -> Response:
    return render(request, "register.html", lang=lang, status=status, facts=facts,
                  newsletter=facts.brand,
                  person=person, state=state, errors=errors or {},
                  values=values or {"name": person.name,
                                    **organisation_values("", person.organisation)},
                  official=organisations(),
                  seats_left=max(0, facts.seats_max - person.seats_taken),
                  tz=web_of(request).settings.tz)


@router.get("/register/{slug}/{token}")
async def register_page(request: Request, slug: str, token: str) -> Response:
    web = web_of(request)
    _sid, facts, person = await _load(request, slug, token)
    lang = request_language(request, person.language)
    if person.registered:
        return _page(request, facts, person, lang, state="already")
    if web.now() >= facts.deadline:
        return _page(request, facts, person, lang, state="closed", status=410)
    if person.seats_taken >= facts.seats_max and not facts.waitlist:
        return _page(request, facts, person, lang, state="seats_full", status=409)
    return _page(request, facts, person, lang, state="form")


def organisation_values(code: str, typed: str) -> dict[str, str]:
    """The form's organisation: chosen from the official list (its code), or typed under
    "other organisation" (still matched to the list: "Hylte kommun (IT)" is Hylte)."""
    chosen = by_code(code) if code and code != "other" else None
    official = chosen or match(typed)
    if official is not None:
        return {"organisation": official.display, "organisation_code": official.code,
                "organisation_other": ""}
    return {"organisation": typed, "organisation_code": "other" if typed else "",
            "organisation_other": typed}


@router.post("/register/{slug}/{token}")
async def register_submit(request: Request, slug: str, token: str) -> Response:
    web = web_of(request)
    form = await request.form()
    web.csrf.check(request, form)
    sid, facts, person = await _load(request, slug, token)
    lang = request_language(request, person.language)
    _ = translator(lang)
    values = {k: clean_line(str(form.get(k) or "")) for k in ("name", "organisation")}
    values.update(organisation_values(str(form.get("organisation_code") or ""),
                                      values["organisation"]))
    errors: dict[str, str] = {}
    if not values["name"]:
        errors["name"] = _("Enter your name.")
    elif len(values["name"]) > MAX_NAME:
        errors["name"] = _("The name can be at most %(n)s characters long.", n=MAX_NAME)
    if not values["organisation"]:
        errors["organisation"] = _("Enter your organisation (seats are counted per "
                                   "organisation).")
    elif len(values["organisation"]) > MAX_NAME:
        errors["organisation"] = _("The organisation can be at most %(n)s characters long.",
                                   n=MAX_NAME)
    if errors:
        return _page(request, facts, person, lang, state="form", status=422, values=values,
                     errors=errors)
    result = await run_in_threadpool(lambda: web.desk.register(
        facts.invitation_id, sid, name=values["name"], organisation=values["organisation"],
        now=web.now()))
    now_person = await run_in_threadpool(web.desk.registrant, facts.invitation_id, sid)
    person = now_person or person
    if result.outcome is Outcome.seats_full:  # the organisation they named is full
        person = replace(person, organisation=values["organisation"],
                         seats_taken=result.seats_taken)
    state = {Outcome.already: "already"}.get(result.outcome, result.outcome.value)
    return _page(request, facts, person, lang, state=state,
                 status=STATUS.get(result.outcome, 200), values=values)


@router.get("/register")
async def register_from_the_public_copy(request: Request) -> Response:
    """Where the register button of an invitation's public copy (view in browser) leads:
    the form is one invitee's own, so the page says how to reach it."""
    return error_page(request, PageError(
        200, N_("Register from your own invitation"),
        N_("The registration form is personal: open it with the button in the invitation "
           "you received by e-mail, so that it knows who you are and how many seats your "
           "organisation has left. Did you not receive the invitation? Contact the "
           "organiser; their details are in the invitation."), "/"))
