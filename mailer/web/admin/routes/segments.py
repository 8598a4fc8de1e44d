"""Segments in the admin: saved segments with their live count, who matches (a sample),
and the audience fragment the schedule form and the segment form refresh as you type (on
an issue's send form also what the send would plan: the dry run, per list with reasons)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from mailer.domain.roles import Action
from mailer.errors import MailerError
from mailer.services import segments as svc
from mailer.services.accounts import Principal
from mailer.services.mailings import DryRun, dry_run, target_lists
from mailer.web.admin.auth import checked_form, require
from mailer.web.admin.issues import issue_folder
from mailer.web.admin.pages import redirect, render
from mailer.web.pages import web_of
from mailer.web.routes.common import db, read

router = APIRouter(dependencies=[Depends(require(Action.view))])
VIEW = Depends(require(Action.view))
SEND = Depends(require(Action.send_issues))
SAMPLE = 10


def where_lines(text: str) -> list[str]:
    """The conditions of a textarea: one per line."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()][:50]


def _look(session: Session, lists: list[str], where: list[str],
          segment: str) -> tuple[svc.Audience, svc.Preview]:
    target = svc.audience(session, list_slugs=lists, where=where, segment=segment)
    return target, svc.preview(session, target, sample=SAMPLE)


async def _preview(request: Request, lists: list[str], where: str,
                   segment: str) -> dict[str, object]:
    """What the audience fragment shows: the count and sample, or why there is none."""
    if not lists and not segment:
        return {"target": None, "found": None, "problem": "", "plan": None}
    try:
        target, found = await read(request, _look, lists, where_lines(where), segment)
    except MailerError as exc:
        return {"target": None, "found": None, "problem": exc.message, "plan": None}
    return {"target": target, "found": found, "problem": "", "plan": None}


async def _dry_run(request: Request, issue: str, lists: list[str], where: str,
                   segment: str) -> DryRun:
    """What sending ``issue`` with the form's choices would plan now (``mailer send
    --dry-run``): per list who would get it and who is left out, and why."""
    issue_folder(web_of(request).settings, issue)
    q = request.query_params
    return await db(request, dry_run, source=f"issues/{issue}", list_slugs=lists,
                    where=where_lines(where), segment=segment, again=q.get("again") == "1",
                    include_received=q.get("include_received") == "1")


def _query(request: Request) -> tuple[list[str], str, str]:
    q = request.query_params
    lists = [x for x in q.getlist("lists") + q.getlist("list") if x.strip()]
    return lists, q.get("where", "")[:5000], q.get("segment", "")[:100]


@router.get("/admin/audience")
async def audience_fragment(request: Request, me: Principal = VIEW) -> Response:
    """The live count and sample (an HTML fragment for admin.js)."""
    lists, where, segment = _query(request)
    shown = await _preview(request, lists, where, segment)
    issue = request.query_params.get("issue", "")[:200]
    if issue and shown["found"] is not None:
        shown["plan"] = await _dry_run(request, issue, lists, where, segment)
    return render(request, "_audience.html", status=422 if shown["problem"] else 200, **shown)


async def _page(request: Request, *, status: int = 200, values: dict[str, str] | None = None,
                error: str = "") -> Response:
    lists, where, segment = _query(request)
    values = values or {"name": request.query_params.get("name", "")[:100],
                        "list": lists[0] if lists else "", "where": where}
    shown = await _preview(request, [values["list"]] if values["list"] else [],
                           values["where"], "")
    return render(request, "segments.html", status=status,
                  segments=await read(request, svc.segments),
                  lists=await read(request, target_lists), values=values, error=error,
                  **shown)


@router.get("/admin/segments")
async def segments_page(request: Request, me: Principal = VIEW) -> Response:
    return await _page(request)


@router.post("/admin/segments")
async def save_segment(request: Request, me: Principal = SEND) -> Response:
    form = await checked_form(request)
    values = {k: str(form.get(k) or "").strip() for k in ("name", "list", "where")}
    if form.get("action") == "preview":  # "Show who matches" without the script
        return await _page(request, values=values)
    try:
        await db(request, svc.save, values["name"], values["list"],
                 where_lines(values["where"]))
    except MailerError as exc:
        return await _page(request, status=422, values=values, error=exc.message)
    return redirect("/admin/segments", "saved")


@router.post("/admin/segments/{name}/delete")
async def delete_segment(request: Request, name: str, me: Principal = SEND) -> Response:
    await checked_form(request)
    await db(request, svc.remove, name)
    return redirect("/admin/segments", "deleted")
