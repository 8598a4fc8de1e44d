"""An issue's preview (desktop and mobile frames), its images, test-send and scheduling."""

from __future__ import annotations

import datetime as dt
import mimetypes

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

from mailer.authoring import load_document
from mailer.domain.roles import Action
from mailer.errors import MailerError, NotFound
from mailer.render.documents import options_for, render_document
from mailer.services import mailings
from mailer.services.accounts import Principal
from mailer.web.admin.auth import checked_form, require
from mailer.web.admin.issues import Preview, PreviewCache, for_test, issue_folder
from mailer.web.admin.pages import redirect
from mailer.web.pages import web_of
from mailer.web.routes.common import db

router = APIRouter(dependencies=[Depends(require(Action.view))])
VIEW = Depends(require(Action.view))
SEND = Depends(require(Action.send_issues))

# The e-mail's HTML in a frame of our own page: its inline styles and remote images
# allowed, nothing else (no scripts, no forms), and only our pages may frame it.
PREVIEW_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data: "
               "'self'; font-src https: data:; frame-ancestors 'self'; base-uri 'none'; "
               "form-action 'none'; sandbox allow-popups allow-popups-to-escape-sandbox")
IMAGE_TYPES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg")


def _preview(request: Request, name: str) -> Preview:
    web = web_of(request)
    folder = issue_folder(web.settings, name)
    previews: PreviewCache = request.app.state.admin.previews
    return previews.get(web.settings, folder, f"/admin/issues/{name}/media")


@router.get("/admin/issues/{name}/preview.html")
async def preview_html(request: Request, name: str, me: Principal = VIEW) -> Response:
    preview = await run_in_threadpool(_preview, request, name)
    return Response(preview.html, media_type="text/html; charset=utf-8", headers={
        "content-security-policy": PREVIEW_CSP, "x-frame-options": "SAMEORIGIN",
        "cache-control": "no-store"})


@router.get("/admin/issues/{name}/preview.txt")
async def preview_text(request: Request, name: str, me: Principal = VIEW) -> Response:
    preview = await run_in_threadpool(_preview, request, name)
    return PlainTextResponse(preview.text, headers={"cache-control": "no-store"})


@router.get("/admin/issues/{name}/version")
async def version(request: Request, name: str, me: Principal = VIEW) -> Response:
    """Changes whenever the issue's files or the templates change (the editor polls it)."""
    web = web_of(request)
    folder = issue_folder(web.settings, name)
    value = await run_in_threadpool(request.app.state.admin.previews.version, web.settings,
                                    folder)
    return PlainTextResponse(value, headers={"cache-control": "no-store"})


@router.get("/admin/issues/{name}/media/{file}")
async def media(request: Request, name: str, file: str, me: Principal = VIEW) -> Response:
    folder = issue_folder(web_of(request).settings, name)
    target = (folder / file).resolve()
    if (folder.resolve() not in target.parents or not target.is_file()
            or target.suffix.lower() not in IMAGE_TYPES):
        raise NotFound(f"no image {file!r} in the issue folder")
    return FileResponse(target, media_type=mimetypes.guess_type(target.name)[0],
                        headers={"cache-control": "no-store",
                                 "content-security-policy": "default-src 'none'; sandbox"})


@router.post("/admin/issues/{name}/test")
async def test_send(request: Request, name: str, me: Principal = SEND) -> Response:
    web = web_of(request)
    form = await checked_form(request)
    addresses = mailings.test_addresses(str(form.get("addresses") or ""))
    preview = await run_in_threadpool(_preview, request, name)
    if preview.rendered is None:
        raise MailerError("the issue has problems; fix them before sending a test")
    # The test copy links its images at the public address, as the real mailing will.
    folder = issue_folder(web.settings, name)
    loaded = await run_in_threadpool(load_document, folder)
    rendered = await run_in_threadpool(render_document, loaded.document, loaded.kind,
                                       options_for(web.settings, folder))
    # A mailing of kind test: queued like any other and sent within seconds by the
    # worker (or by this server's own loop when no worker runs); it shows among the
    # issue's mailings with its recipients and progress.
    await db(request, mailings.plan_test, for_test(rendered), addresses,
             base_url=web.settings.base_url, source=f"issues/{name}", now=web.now())
    return redirect(f"/admin/issues/{name}", "test-sent")


def parse_local(value: str, tz: dt.tzinfo) -> dt.datetime | None:
    """``2023-06-15T08:00`` (a datetime-local field) in the organisation's zone; '' = now."""
    text = value.strip()
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace(" ", "T"))
    except ValueError:
        raise MailerError(f"{text!r} is not a date and time; write YYYY-MM-DD HH:MM") from None
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment


@router.post("/admin/issues/{name}/schedule")
async def schedule(request: Request, name: str, me: Principal = SEND) -> Response:
    web = web_of(request)
    form = await checked_form(request)
    lists = [str(x) for x in form.getlist("lists") if str(x).strip()]
    at = parse_local(str(form.get("at") or ""), web.settings.tz)
    if form.get("confirm") != "1":
        raise MailerError("tick the box to confirm that the issue goes to these lists")
    if not lists:
        raise MailerError("choose at least one list to send the issue to")
    folder = issue_folder(web.settings, name)
    loaded = await run_in_threadpool(load_document, folder)
    if not loaded.ok:
        raise MailerError("the issue has problems; fix them before sending", loaded.errors)
    rendered = await run_in_threadpool(render_document, loaded.document, loaded.kind,
                                       options_for(web.settings, folder))
    track = (mailings.TrackClicks.of(web.settings) if form.get("track_clicks") == "1"
             else None)
    planned = await db(request, mailings.plan_issue, rendered, source=f"issues/{name}",
                       name=name, list_slugs=lists, at=at, now=web.now(), track_clicks=track)
    return redirect(f"/admin/mailings/{planned.mailing_id}", "scheduled")

