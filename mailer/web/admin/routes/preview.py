"""An issue's preview (desktop and mobile frames), its images, test-send and scheduling."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

from mailer.authoring import load_document
from mailer.domain.findings import msg
from mailer.domain.media import MAX_UPLOAD_BYTES
from mailer.domain.roles import Action
from mailer.errors import MailerError
from mailer.render.documents import options_for, render_document
from mailer.services import brands, mailings, segments, test_sends
from mailer.services.accounts import Principal
from mailer.services.media import add_file, find_file
from mailer.store.db import reading
from mailer.web.admin.auth import checked_form, require
from mailer.web.admin.issues import Preview, PreviewCache, issue_folder, local_today
from mailer.web.admin.pages import redirect, render
from mailer.web.admin.routes.issues import INVITE_WITH_CLI, editor_context, editor_page
from mailer.web.admin.routes.segments import where_lines
from mailer.web.i18n import N_
from mailer.web.pages import web_of
from mailer.web.routes.common import db, read

router = APIRouter(dependencies=[Depends(require(Action.view))])
VIEW = Depends(require(Action.view))
SEND = Depends(require(Action.send_issues))
EDIT = Depends(require(Action.edit_issues))

# The e-mail's HTML in a frame of our own page: its inline styles and remote images
# allowed, nothing else (no scripts, no forms), and only our pages may frame it.
PREVIEW_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data: "
               "'self'; font-src https: data:; frame-ancestors 'self'; base-uri 'none'; "
               "form-action 'none'; sandbox allow-popups allow-popups-to-escape-sandbox")


def _preview(request: Request, name: str) -> Preview:
    web = web_of(request)
    folder = issue_folder(web.settings, name)
    previews: PreviewCache = request.app.state.admin.previews
    return previews.get(web.settings, folder, f"/admin/issues/{name}/media",
                        brand=_lists_brand(request, name))


def _lists_brand(request: Request, name: str) -> str:
    """The newsletter an issue naming no brand will look like: its own lists' (a mix of
    newsletters, refused when sent, previews in the workspace's look)."""
    web = web_of(request)
    loaded = load_document(issue_folder(web.settings, name))
    doc: object = loaded.document
    own = str(getattr(doc, "brand", "") or "")
    if not loaded.ok or own:
        return ""
    with reading(web.engine) as session:
        return brands.for_preview(session, web.settings, issue_brand="",
                                  issue=f"issues/{name}/issue.yaml",
                                  list_slugs=[str(x) for x in getattr(doc, "lists", [])]).brand


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
    """The issue's images and files for the preview, before they are public."""
    found = find_file(issue_folder(web_of(request).settings, name), file)
    return FileResponse(found.path, media_type=found.content_type,
                        headers={"cache-control": "no-store",
                                 "content-security-policy": "default-src 'none'; sandbox"})


@router.post("/admin/issues/{name}/files")
async def upload_file(request: Request, name: str, me: Principal = EDIT) -> Response:
    """Add a PDF or an image to the issue folder (checked for type, content and size)."""
    web = web_of(request)
    folder = issue_folder(web.settings, name)
    async with request.form() as form:
        web.csrf.check(request, form)
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return await _refused(request, name, {"errors": {"file": msg(
                "choose a file to add to the issue")}})
        data = await upload.read(MAX_UPLOAD_BYTES + 1)
        filename = upload.filename
        replace = form.get("replace") == "1"
    try:
        added = await run_in_threadpool(add_file, folder, filename, data, replace=replace)
    except MailerError as exc:  # not what its name says, too large, already there: beside
        return await _refused(request, name, {"errors": {"file": exc.message}})
    response = redirect(f"/admin/issues/{name}", "uploaded", file=added.name)
    response.headers["location"] += "#files"
    return response


async def _refused(request: Request, name: str, send: dict[str, object]) -> Response:
    """The issue page again (400), the send forms holding what was typed and each error
    beside its field: a refused form never loses the input or strands the editor."""
    web = web_of(request)
    ctx = await run_in_threadpool(editor_context, web.settings, name,
                                  local_today(web.settings, web.now()), web.engine)
    return await editor_page(request, name, ctx, status=400, send=send)


@router.post("/admin/issues/{name}/test")
async def test_send(request: Request, name: str, me: Principal = SEND) -> Response:
    web = web_of(request)
    form = await checked_form(request)
    raw = str(form.get("addresses") or "")
    try:
        addresses = mailings.test_addresses(raw)
    except MailerError as exc:
        return await _refused(request, name, {"addresses": raw,
                                              "errors": {"addresses": exc.message}})
    preview = await run_in_threadpool(_preview, request, name)
    if preview.rendered is None:
        raise MailerError(msg("the issue has problems; fix them before sending a test"))
    # The test copy links its images at the public address, as the real mailing will.
    folder = issue_folder(web.settings, name)
    loaded = await run_in_threadpool(load_document, folder)
    try:
        signature = await db(request, brands.for_send, web.settings,
                             issue_brand=str(getattr(loaded.document, "brand", "") or ""),
                             issue=f"issues/{name}/issue.yaml",
                             list_slugs=[str(x) for x in getattr(loaded.document, "lists", [])],
                             test=True)
    except MailerError as exc:
        return await _refused(request, name, {"addresses": raw,
                                              "errors": {"addresses": exc.message}})
    rendered = await run_in_threadpool(render_document, loaded.document, loaded.kind,
                                       options_for(web.settings, folder,
                                                   brand=signature.brand))
    # A mailing of kind test: queued like any other, and sent by a worker (or by this
    # server's own loop while no worker runs) when one takes it, which may fail. So the
    # page says it is queued, and its "Latest tests" panel follows each address's copy.
    try:
        planned = await db(request, mailings.plan_test, rendered, addresses,
                           base_url=web.settings.base_url, source=f"issues/{name}",
                           now=web.now(), signature=signature)
    except MailerError as exc:  # e.g. a suppressed address: named beside the field
        return await _refused(request, name, {"addresses": raw,
                                              "errors": {"addresses": exc.message}})
    response = redirect(f"/admin/issues/{name}", "test-queued", test=planned.mailing_id)
    response.headers["location"] += "#tests"
    return response


#: How often the page of an issue's tests reloads itself (no JavaScript) while one is open.
REFRESH_SECONDS = 5


@router.get("/admin/issues/{name}/tests")
async def tests_page(request: Request, name: str, me: Principal = VIEW) -> Response:
    """The issue's latest tests, each address's state; ``?part=panel``: the panel alone
    (the issue page's script puts it in place)."""
    web = web_of(request)
    issue_folder(web.settings, name)  # an issue that exists, or 404
    found = await read(request, test_sends.recent_tests, f"issues/{name}", web.now())
    template = "_tests.html" if request.query_params.get("part") == "panel" else "tests.html"
    return render(request, template, name=name, tests=found, refresh=REFRESH_SECONDS,
                  untaken_after=int(test_sends.UNTAKEN_AFTER.total_seconds()))


def parse_local(value: str, tz: dt.tzinfo) -> dt.datetime | None:
    """``2023-06-15T08:00`` (a datetime-local field) in the organisation's zone; '' = now."""
    text = value.strip()
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace(" ", "T"))
    except ValueError:
        raise MailerError(msg("%(value)r is not a date and time; write YYYY-MM-DD HH:MM",
                              value=text)) from None
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment


@router.post("/admin/issues/{name}/schedule")
async def schedule(request: Request, name: str, me: Principal = SEND) -> Response:
    web = web_of(request)
    form = await checked_form(request)
    lists = [str(x) for x in form.getlist("lists") if str(x).strip()]
    raw_at = str(form.get("at") or "")
    errors: dict[str, str] = {}
    at = None
    try:
        at = parse_local(raw_at, web.settings.tz)
    except MailerError as exc:
        errors["at"] = exc.message
    segment = str(form.get("segment") or "").strip()
    raw_where = str(form.get("where") or "")
    window = str(form.get("send_window") or "").strip()
    if segment:
        lists = []  # the segment names its list
    if not lists and not segment:
        errors["lists"] = N_("Choose at least one list to send the issue to.")
    if form.get("confirm") != "1":
        errors["confirm"] = N_("Tick the box to confirm that the issue goes to these lists.")
    typed: dict[str, object] = {"lists": lists, "at": raw_at, "segment": segment,
                                "where": raw_where, "send_window": window}
    where = where_lines(raw_where)
    # Conditions and the window are checked before anything else, so each error shows
    # beside its own field (in the page's language) with what was typed kept.
    try:
        segments.conditions(where)
    except MailerError as exc:
        errors["where"] = exc.message
    try:
        mailings.check_window(window)
    except MailerError as exc:
        errors["send_window"] = exc.message
    if errors:
        return await _refused(request, name, {**typed, "errors": errors})
    folder = issue_folder(web.settings, name)
    loaded = await run_in_threadpool(load_document, folder)
    if not loaded.ok:
        raise MailerError(msg("the issue has problems; fix them before sending"),
                          loaded.errors)
    if loaded.kind == "invitation":
        # As the CLI's 'send' and the API refuse: planned as a newsletter it would record
        # no invitee (reminders go to them), ignore the deadline and invite everyone again.
        return await _refused(request, name, {**typed, "errors": {"plan": INVITE_WITH_CLI}})
    try:
        signature = await db(request, brands.for_send, web.settings,
                             issue_brand=str(getattr(loaded.document, "brand", "") or ""),
                             issue=f"issues/{name}/issue.yaml", list_slugs=lists,
                             segment=segment)
    except MailerError as exc:
        return await _refused(request, name, {**typed, "errors": {"lists": exc.message}})
    rendered = await run_in_threadpool(render_document, loaded.document, loaded.kind,
                                       options_for(web.settings, folder,
                                                   brand=signature.brand))
    track = (mailings.TrackClicks.of(web.settings) if form.get("track_clicks") == "1"
             else None)
    # Sending again to a list the issue already went to needs its own tick ("again").
    try:
        planned = await db(request, mailings.plan_issue, rendered, source=f"issues/{name}",
                           list_slugs=lists, at=at, now=web.now(), where=where,
                           segment=segment, send_window=window,
                           again=form.get("again") == "1",
                           include_received=form.get("include_received") == "1",
                           track_clicks=track, signature=signature,
                           tz=web.settings.tz)
    except mailings.AlreadySent as exc:
        return await _refused(request, name, {**typed, "errors": {"again": exc.message}})
    except MailerError as exc:  # e.g. a segment that is gone, a time that has passed
        if exc.problems:
            raise
        return await _refused(request, name, {**typed, "errors": {"plan": exc.message}})
    return redirect(f"/admin/mailings/{planned.mailing_id}", "scheduled")

