"""The public archive: sent issues per public list, each issue's page, and an Atom feed.

Nothing personal is shown: the archived HTML is the once-rendered mailing with its
placeholders filled with public values (see mailer.web.archive). Only mailings that went
to at least one public list are shown; the view-in-browser link of a mailing sent only to
private lists answers 404 (it would need a token; see the notes in the web docs).
"""

from __future__ import annotations

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from mailer.services.subscriptions import public_list_slugs
from mailer.web.api.deps import Id
from mailer.web.archive import ArchivedIssue, public_html
from mailer.web.pages import PageError, render, request_language, web_of
from mailer.web.routes.common import open_list, read

router = APIRouter()
PER_PAGE = 50
ISSUE_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
             "font-src https:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


@router.get("/archive/view/{mailing_id}")
async def archive_view(request: Request, mailing_id: Id) -> Response:
    # Id: 1 to 2**31-1 (PostgreSQL's integer); anything else is the 404 page, not a 500.
    web = web_of(request)
    issue = await run_in_threadpool(web.archive.issue, mailing_id)
    public = await read(request, public_list_slugs)
    if issue is None or not public.intersection(issue.list_slugs):
        raise PageError.from_status(404)
    slug = next(s for s in issue.list_slugs if s in public)
    html = public_html(issue, web.links.view(mailing_id), web.links.archive(slug))
    return Response(html, media_type="text/html; charset=utf-8", headers={
        "content-security-policy": ISSUE_CSP, "cache-control": "public, max-age=300",
        "content-language": issue.rendered.language})


@router.get("/archive/{slug}")
async def archive_list(request: Request, slug: str,
                       page: int = Query(1, ge=1, le=10_000)) -> Response:
    web = web_of(request)
    lst = await open_list(request, slug)
    issues = await run_in_threadpool(web.archive.issues, lst.slug)
    pages = max(1, -(-len(issues) // PER_PAGE))
    if page > pages:
        raise PageError.from_status(404)
    shown = issues[(page - 1) * PER_PAGE: page * PER_PAGE]
    return render(request, "archive.html", lang=request_language(request, lst.language),
                  lst=lst, issues=shown, page=page, pages=pages, total=len(issues),
                  cache="public, max-age=300", feed=f"/archive/{lst.slug}/feed.xml")


@router.get("/archive/{slug}/feed.xml")
async def archive_feed(request: Request, slug: str) -> Response:
    """Atom (RFC 4287) feed of the list's issues, newest first, the last 50."""
    web = web_of(request)
    lst = await open_list(request, slug)
    issues: list[ArchivedIssue] = list(await run_in_threadpool(web.archive.issues,
                                                               lst.slug))[:50]
    base = web.settings.base_url
    xml = web.env.get_template("feed.xml").render(
        lst=lst, issues=issues, base=base, links=web.links,
        updated=(issues[0].sent_at if issues else None))
    return Response(xml, media_type="application/atom+xml; charset=utf-8",
                    headers={"cache-control": "public, max-age=300"})
