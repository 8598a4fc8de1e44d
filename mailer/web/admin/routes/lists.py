"""Lists and subscribers: counts, search, CSV import (its report in the reader's language),
export, GDPR."""

from __future__ import annotations

import io
import json
import re
import secrets
import shutil
import time
from pathlib import Path

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from mailer.domain.findings import msg
from mailer.domain.roles import Action
from mailer.errors import MailerError, NotFound
from mailer.render.i18n import Translator
from mailer.services import subscriptions
from mailer.services.accounts import Principal
from mailer.services.imports import import_subscribers
from mailer.services.lists import (
    LANGUAGES,
    ListPage,
    create_list,
    edit_list,
    list_counts,
    list_page,
)
from mailer.services.subscriptions import STATUSES
from mailer.web.admin.auth import checked_form, require, session_cookie
from mailer.web.admin.pages import admin_language, redirect, render
from mailer.web.api.deps import Id
from mailer.web.pages import web_of
from mailer.web.routes.common import db, read

router = APIRouter(dependencies=[Depends(require(Action.view))])
VIEW = Depends(require(Action.view))
MANAGE = Depends(require(Action.manage_subscribers))
PER_PAGE = 50
UPLOADS = ".admin-uploads"  # in the workspace; removed a day after the import
KEEP_UPLOADS = 24 * 3600


def page_number(request: Request) -> int:
    """The ``?page=`` of a paged admin table (1 when missing or not a number)."""
    raw = request.query_params.get("page", "1")
    return max(1, min(int(raw), 100_000)) if raw.isdigit() else 1


@router.get("/admin/lists")
async def lists_page(request: Request, me: Principal = VIEW) -> Response:
    lists = await read(request, list_counts)
    return render(request, "lists.html", lists=lists, values={}, errors={},
                  brands=_brands(request))


def _brands(request: Request) -> list[tuple[str, str]]:
    """The newsletters of mailer.toml to choose from: (name, shown name)."""
    settings = web_of(request).settings
    return [(k, b.name or k) for k, b in sorted(settings.brands.items())]


@router.post("/admin/lists")
async def add_list(request: Request, me: Principal = MANAGE) -> Response:
    form = await checked_form(request)
    values = {k: str(form.get(k) or "").strip() for k in ("slug", "name", "description",
                                                          "language", "brand")}
    public = form.get("public") == "1"
    double = form.get("double_opt_in") == "1"
    try:
        await db(request, create_list, values["slug"], values["name"],
                 description=values["description"], public=public, double_opt_in=double,
                 language=values["language"] if values["language"] in LANGUAGES else "sv",
                 brand=values["brand"], settings=web_of(request).settings)
    except MailerError as exc:
        lists = await read(request, list_counts)
        field = exc.field or ("brand" if "brand" in exc.message else "slug")
        return render(request, "lists.html", status=422, lists=lists, values=values,
                      errors={field: exc.message}, brands=_brands(request))
    return redirect(f"/admin/lists/{values['slug']}", "created")


@router.get("/admin/lists/{slug}")
async def one_list(request: Request, slug: str, me: Principal = VIEW) -> Response:
    status = request.query_params.get("status", "active")
    status = status if status in STATUSES else "active"
    q = request.query_params.get("q", "")[:200]
    page = page_number(request)
    found = await read(request, list_page, slug, q=q, status=None if status == "all" else status,
                     offset=(page - 1) * PER_PAGE, limit=PER_PAGE)
    return _list_view(request, found, q=q, filter_status=status, page=page)


def _list_view(request: Request, found: ListPage, *, status: int = 200,
               **extra: object) -> Response:
    """The list's page: its counts, a page of subscribers, its brand form."""
    context: dict[str, object] = {
        "q": "", "filter_status": "active", "statuses": STATUSES, "page": 1,
        "per_page": PER_PAGE, "report": None, "brands": _brands(request), "brand_error": "",
        "import_error": "", **extra}
    return render(request, "list.html", status=status, lst=found.list, counts=found.counts,
                  hits=found.hits, **context)


@router.post("/admin/lists/{slug}/brand")
async def set_brand(request: Request, slug: str, me: Principal = MANAGE) -> Response:
    """The list's newsletter (brand): its look, From and Reply-To from now on."""
    form = await checked_form(request)
    brand = str(form.get("brand") or "").strip()
    try:
        await db(request, edit_list, web_of(request).settings, slug, brand=brand)
    except MailerError as exc:
        if isinstance(exc, NotFound):
            raise
        found = await read(request, list_page, slug, limit=PER_PAGE)
        return _list_view(request, found, status=422, brand_error=exc.message)
    return redirect(f"/admin/lists/{slug}", "saved")


@router.get("/admin/lists/{slug}/export.csv")
async def export(request: Request, slug: str, me: Principal = MANAGE) -> Response:
    status = request.query_params.get("status", "active")
    excel = request.query_params.get("excel") == "1"
    tz = web_of(request).settings.tz
    out = io.StringIO()
    if excel:
        out.write("\ufeff")  # Swedish Excel reads UTF-8 only with a BOM
    n = await read(request, subscriptions.export_list, slug, out, status=status, excel=excel, tz=tz)
    name = f"{slug}-{status}.csv"
    return Response(out.getvalue().encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="{name}"',
                             "x-rows": str(n), "cache-control": "no-store"})


def _uploads(request: Request) -> Path:
    root = web_of(request).settings.workspace / UPLOADS
    root.mkdir(mode=0o700, exist_ok=True)
    cutoff = time.time() - KEEP_UPLOADS
    for old in root.iterdir():  # personal data: keep uploads no longer than needed
        if old.is_dir() and old.stat().st_mtime < cutoff:
            shutil.rmtree(old, ignore_errors=True)
    return root


def _safe_name(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(name or "upload.csv").name).strip(".-")
    return (stem or "upload")[:80]


@router.post("/admin/lists/{slug}/import")
async def import_csv(request: Request, slug: str, me: Principal = MANAGE) -> Response:
    web = web_of(request)
    async with request.form() as form:
        web.csrf.check(request, form, session=session_cookie(request))
        upload = form.get("file")
        dry_run = form.get("dry_run") == "1"
        if not isinstance(upload, UploadFile) or not upload.filename:
            return await _import_refused(request, slug, msg("choose a CSV file to import"))
        token = secrets.token_hex(8)
        folder = _uploads(request) / token
        folder.mkdir(mode=0o700)
        path = folder / _safe_name(upload.filename)
        with path.open("wb") as fh:
            await run_in_threadpool(shutil.copyfileobj, upload.file, fh, 1024 * 1024)
    engine = web.engine
    # The rejected rows' file in the reader's language, like the report beside its link.
    localise = Translator(admin_language(request)).localise
    try:
        report = await run_in_threadpool(import_subscribers, engine, path, slug,
                                         dry_run=dry_run, now=web.now(), shown_as=path.name,
                                         localise=localise)
    except MailerError as exc:
        if isinstance(exc, NotFound):
            raise
        # The file as a whole cannot be used (empty, binary, no e-mail column): the list's
        # page again with the reason beside the file field, not an error page.
        return await _import_refused(request, slug, exc.message)

    found = await read(request, list_page, slug, status="active", limit=PER_PAGE)
    status = 200 if not report.rejected else 422
    return _list_view(request, found, status=status, report=report,
                      upload=token, filename=path.name,
                      rejected=report.rejected_path.name if report.rejected_path else None)


async def _import_refused(request: Request, slug: str, error: str) -> Response:
    found = await read(request, list_page, slug, status="active", limit=PER_PAGE)
    return _list_view(request, found, status=422, import_error=error)


@router.get("/admin/lists/{slug}/import/{token}/{name}")
async def rejected_rows(request: Request, slug: str, token: str, name: str,
                        me: Principal = MANAGE) -> Response:
    """The rejected rows of an import just made (kept for a day)."""
    if not re.fullmatch(r"[0-9a-f]{16}", token) or not name.endswith(".rejected.csv"):
        raise NotFound(msg("no such file"))
    path = web_of(request).settings.workspace / UPLOADS / token / _safe_name(name)
    if not path.is_file():
        raise NotFound(msg("the file of rejected rows is gone (kept one day); import again"))
    return FileResponse(path, media_type="text/csv", filename=path.name,
                        headers={"cache-control": "no-store"})


@router.get("/admin/subscribers")
async def subscribers(request: Request, me: Principal = VIEW) -> Response:
    q = request.query_params.get("q", "")[:200]
    page = page_number(request)
    hits = await read(request, subscriptions.search_subscribers, q, offset=(page - 1) * PER_PAGE,
                    limit=PER_PAGE)
    return render(request, "subscribers.html", q=q, hits=hits, page=page, per_page=PER_PAGE)


#: The access report's sections the subscriber's page shows in tables of their own; any
#: other (a section added later) is shown as JSON under "Other data" when not empty.
SHOWN = ("subscriber", "organisation", "subscriptions", "consent_events", "deliveries",
         "invitations", "clicks", "webhook_events")


@router.get("/admin/subscribers/{subscriber_id}")
async def subscriber(request: Request, subscriber_id: Id, me: Principal = VIEW) -> Response:
    data = await read(request, subscriptions.access_report, subscriber_id)
    extra = {k: v for k, v in data.items() if k not in SHOWN and v}
    return render(request, "subscriber.html", data=data, person=data["subscriber"],
                  request_confirm=request.query_params.get("confirm_erase") == "1",
                  extra=json.dumps(extra, ensure_ascii=False, indent=2) if extra else "")


@router.get("/admin/subscribers/{subscriber_id}/data.json")
async def subscriber_json(request: Request, subscriber_id: Id,
                          me: Principal = MANAGE) -> Response:
    """Everything we hold on the person, for a GDPR request for access (article 15)."""
    data = await read(request, subscriptions.access_report, subscriber_id)
    return Response(json.dumps(data, ensure_ascii=False, indent=2),
                    media_type="application/json",
                    headers={"content-disposition":
                             f'attachment; filename="subscriber-{subscriber_id}.json"',
                             "cache-control": "no-store"})


@router.post("/admin/subscribers/{subscriber_id}/erase")
async def erase(request: Request, subscriber_id: Id, me: Principal = MANAGE) -> Response:
    form = await checked_form(request)
    if form.get("confirm") != "erase":
        return redirect(f"/admin/subscribers/{subscriber_id}", confirm_erase="1")
    if not await db(request, subscriptions.erase, subscriber_id, source=f"admin:{me.email}"):
        raise NotFound(msg("no such subscriber (erased, or the link is wrong)"))
    return redirect("/admin/subscribers", "erased")
