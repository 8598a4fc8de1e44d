"""Coordinators: invitations with their deadline, seats per organisation, sending the
invitation to its lists (with its count and a confirmation), registrations (add, CSV
import), the reminder dry run and "send reminder now" after a confirmation."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from mailer.domain.findings import msg
from mailer.domain.roles import Action
from mailer.errors import MailerError
from mailer.services import imports
from mailer.services import invitations as service
from mailer.services.accounts import Principal
from mailer.web.admin.auth import checked_form, require, session_cookie
from mailer.web.admin.issues import issue_folder, list_issues, local_today
from mailer.web.admin.pages import redirect, render
from mailer.web.i18n import N_
from mailer.web.pages import web_of
from mailer.web.routes.common import db

router = APIRouter(dependencies=[Depends(require(Action.view))])
VIEW = Depends(require(Action.view))
MANAGE = Depends(require(Action.manage_invitations))
MAX_CSV = 20 * 1024 * 1024
T = TypeVar("T")


async def rolled_back(request: Request, fn: Callable[..., T], *args: object,
                      **kwargs: object) -> T:
    """Run ``fn(session, …)`` and undo everything it did (a dry run)."""
    engine = web_of(request).engine

    def work() -> T:
        with Session(engine, expire_on_commit=False) as session:
            session.begin()
            try:
                return fn(session, *args, **kwargs)
            finally:
                session.rollback()

    return await run_in_threadpool(work)


def _slugs(request: Request) -> list[str]:
    web = web_of(request)
    return [i.name for i in list_issues(web.settings, local_today(web.settings, web.now()))
            if i.kind == "invitation"]


@router.get("/admin/invitations")
async def invitations_page(request: Request, me: Principal = VIEW) -> Response:
    web = web_of(request)
    slugs = await run_in_threadpool(_slugs, request)
    items = await db(request, service.overview, web.settings, slugs, web.now())
    return render(request, "invitations.html", available=True, items=items)


async def _invite_plan(request: Request, slug: str) -> tuple[list[service.Invited], str]:
    """Who ``mailer invite`` would invite now, per list of the invitation's ``lists:``
    (counted as the send plans them), or why it cannot be counted."""
    web = web_of(request)
    try:
        plans = await rolled_back(request, service.invite, web.settings, slug,
                                  list_slug=None, now=web.now(), dry_run=True)
    except MailerError as exc:
        return [], exc.message
    return plans, ""


async def _detail_page(request: Request, slug: str, *, status: int = 200,
                       count: bool = False, **extra: object) -> Response:
    """The invitation's page; with ``count``, who ``mailer invite`` would invite now and
    the form to send it (before the deadline). Not on every view: the dry run reads every
    subscriber of the invitation's lists and every invitee's copy (seconds with a million;
    README, Admin pages at a million)."""
    web = web_of(request)
    issue_folder(web.settings, slug)  # a plain folder name, or 404
    found = await db(request, service.detail, web.settings, slug, web.now())
    closed = found.invitation.deadline_utc <= web.now()
    plans, problem = await _invite_plan(request, slug) if count and not closed else ([], "")
    context: dict[str, object] = {"report": None, "import_report": None, "errors": {},
                                  "values": {}, "added": None, "import_dry_run": False,
                                  "invite_counted": count, "invite_plans": plans,
                                  "invite_problem": problem,
                                  "invite_total": sum(p.people for p in plans),
                                  "closed": closed, **extra}
    return render(request, "invitation.html", status=status, d=found, slug=slug, **context)


@router.get("/admin/invitations/{slug}")
async def invitation_page(request: Request, slug: str, me: Principal = VIEW) -> Response:
    return await _detail_page(request, slug)


@router.get("/admin/invitations/{slug}/invite")
async def invite_dry_run(request: Request, slug: str, me: Principal = MANAGE) -> Response:
    """The page with who the invitation would go to now, and the form to send it."""
    return await _detail_page(request, slug, count=True)


@router.post("/admin/invitations/{slug}/invite")
async def invite(request: Request, slug: str, me: Principal = MANAGE) -> Response:
    """Send the invitation to everyone on its lists not invited yet (``mailer invite``),
    after a confirmation of the count shown; refused after the deadline."""
    web = web_of(request)
    form = await checked_form(request)
    if form.get("confirm") != "1":
        return await _detail_page(request, slug, count=True, status=400, errors={
            "invite": N_("Tick the box to confirm that the invitation goes to these people.")})
    # The count may have changed since the page was shown (new subscribers): show it again.
    plans, problem = await _invite_plan(request, slug)
    if problem:
        return await _detail_page(request, slug, count=True, status=422,
                                  errors={"invite": problem})
    if str(sum(p.people for p in plans)) != str(form.get("expected") or ""):
        return await _detail_page(request, slug, count=True, status=409, errors={
            "invite": N_("The number of people to invite changed since the page was shown; "
                         "check the new count and confirm again.")})
    try:
        await db(request, service.invite, web.settings, slug, list_slug=None, now=web.now())
    except MailerError as exc:  # e.g. the deadline passed meanwhile
        return await _detail_page(request, slug, count=True, status=422,
                                  errors={"invite": exc.message})
    return redirect(f"/admin/invitations/{slug}", "invited")


@router.post("/admin/invitations/{slug}/registrations")
async def add_registration(request: Request, slug: str, me: Principal = MANAGE) -> Response:
    web = web_of(request)
    form = await checked_form(request)
    values = {k: str(form.get(k) or "").strip() for k in ("email", "name", "organisation")}
    try:
        added = await db(request, service.add_registration, web.settings, slug,
                         email=values["email"], name=values["name"],
                         organisation=values["organisation"], late=form.get("late") == "1",
                         now=web.now())
    except MailerError as exc:
        field = exc.field if exc.field == "organisation" else "email"
        return await _detail_page(request, slug, status=422, values=values,
                                  errors={field: exc.message})
    return await _detail_page(request, slug, added=added.message)


@router.post("/admin/invitations/{slug}/registrations/import")
async def import_registrations(request: Request, slug: str, me: Principal = MANAGE) -> Response:
    web = web_of(request)
    async with request.form() as form:
        web.csrf.check(request, form, session=session_cookie(request))
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise MailerError(msg("choose the CSV file exported from the registration "
                                  "system"))
        data = await upload.read(MAX_CSV + 1)
        name = upload.filename
        dry_run = form.get("dry_run") == "1"
        create_unknown = form.get("create_unknown") == "1"
    if len(data) > MAX_CSV:
        raise MailerError(msg("the file is larger than 20 MB; is it the right export?"))
    run = rolled_back if dry_run else db
    report = await run(request, imports.import_registrations, web.settings, slug, data,
                       filename=name, create_unknown=create_unknown, now=web.now())
    return await _detail_page(request, slug, status=422 if report.rejected else 200,
                              import_report=report, import_dry_run=dry_run)


@router.get("/admin/invitations/{slug}/remind")
async def remind_dry_run(request: Request, slug: str, me: Principal = VIEW) -> Response:
    """Who would get the current reminder now, and why everyone else would not."""
    web = web_of(request)
    issue_folder(web.settings, slug)
    report = await rolled_back(request, service.remind, web.settings, slug, web.now(),
                               dry_run=True)
    found = await db(request, service.detail, web.settings, slug, web.now())
    return render(request, "remind.html", slug=slug, d=found, report=report, changed=False)


@router.post("/admin/invitations/{slug}/remind")
async def remind_send(request: Request, slug: str, me: Principal = MANAGE) -> Response:
    web = web_of(request)
    form = await checked_form(request)
    expected = str(form.get("expected") or "")
    if form.get("confirm") != "1":
        return redirect(f"/admin/invitations/{slug}/remind")
    # The list may have changed since the dry run (someone registered): show it again.
    preview = await rolled_back(request, service.remind, web.settings, slug, web.now(),
                                dry_run=True)
    if str(len(preview.recipients)) != expected:
        found = await db(request, service.detail, web.settings, slug, web.now())
        return render(request, "remind.html", status=409, slug=slug, d=found, report=preview,
                      changed=True)
    await db(request, service.remind, web.settings, slug, web.now(), dry_run=False)
    return redirect(f"/admin/invitations/{slug}", "reminded")
