"""The public archive: sent issues per public list or per newsletter (a brand of
mailer.toml), each issue's page, and an Atom and an RSS 2.0 feed of each.

Nothing personal is shown: the archived HTML is the once-rendered mailing without the
lines about one recipient, its placeholders filled with public values (see
mailer.web.archive). An issue's page also shows an invitation or a reminder (their copies
link to it too); the lists and feeds hold newsletters only. Only mailings that went to at
least one public list are shown at ``/archive/view/<id>``; the mail's view-in-browser
link carries a token signed for its mailing (``/archive/view/<id>/<token>``,
``Links.browser``), so it opens for a mailing sent only to private lists, or as a test,
too (not cached by shared caches, not indexed).
"""

from __future__ import annotations

from email.utils import format_datetime

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from mailer.services.archive import Newsletter, newsletter
from mailer.services.subscriptions import public_list_slugs
from mailer.web.api.deps import Id
from mailer.web.archive import ArchivedIssue, public_html
from mailer.web.pages import PageError, render, request_language, web_of
from mailer.web.routes.common import read

router = APIRouter()
PER_PAGE = 50
ISSUE_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
             "font-src https:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


@router.get("/archive/view/{mailing_id}")
async def archive_view(request: Request, mailing_id: Id) -> Response:
    # Id: 1 to 2**31-1 (PostgreSQL's integer); anything else is the 404 page, not a 500.
    return await _issue_page(request, mailing_id, signed=False)


@router.get("/archive/view/{mailing_id}/{token}")
async def archive_view_signed(request: Request, mailing_id: Id, token: str) -> Response:
    """The mail's view-in-browser link: any issue that went out, with its mailing's token."""
    if not web_of(request).links.read_browser(mailing_id, token):
        raise PageError.from_status(404)
    return await _issue_page(request, mailing_id, signed=True)


async def _issue_page(request: Request, mailing_id: int, *, signed: bool) -> Response:
    web = web_of(request)
    issue = await run_in_threadpool(web.archive.issue, mailing_id)
    public = await read(request, public_list_slugs)
    slug = next((s for s in issue.list_slugs if s in public), None) if issue else None
    if issue is None or (slug is None and not signed):
        raise PageError.from_status(404)
    headers = {"content-security-policy": ISSUE_CSP, "cache-control": "public, max-age=300",
               "content-language": issue.rendered.language}
    if slug is None:  # sent only to private lists, or as a test: for its readers only
        headers |= {"cache-control": "private, max-age=300", "x-robots-tag": "noindex"}
    html = public_html(issue, web.links.browser(mailing_id) if signed
                       else web.links.view(mailing_id),
                       web.links.archive(slug) if slug else f"{web.links.base}/")
    return Response(html, media_type="text/html; charset=utf-8", headers=headers)


async def _newsletter(request: Request, slug: str) -> tuple[Newsletter, list[ArchivedIssue]]:
    """The archive ``slug`` (a public list, or a newsletter's brand) and its issues; 404
    for anything else."""
    web = web_of(request)
    nl = await read(request, newsletter, web.settings, slug)
    if nl is None:
        raise PageError.from_status(404)
    if nl.list_slug:
        return nl, list(await run_in_threadpool(web.archive.issues, nl.list_slug))
    public = await read(request, public_list_slugs)
    issues = await run_in_threadpool(web.archive.brand_issues, nl.brand_name)
    return nl, [i for i in issues if public.intersection(i.list_slugs)]


def _logo_url(request: Request, nl: Newsletter) -> str:
    logo = nl.brand.logo
    if logo and "://" not in logo:
        logo = f"{web_of(request).settings.base_url}/brand/{logo}"
    return logo


@router.get("/archive/{slug}")
async def archive_list(request: Request, slug: str,
                       page: int = Query(1, ge=1, le=10_000)) -> Response:
    nl, issues = await _newsletter(request, slug)
    pages = max(1, -(-len(issues) // PER_PAGE))
    if page > pages:
        raise PageError.from_status(404)
    shown = issues[(page - 1) * PER_PAGE: page * PER_PAGE]
    web = web_of(request)
    return render(request, "archive.html", lang=request_language(request, nl.language),
                  nl=nl, issues=shown, page=page, pages=pages, total=len(issues),
                  cache="public, max-age=300", feed=f"/archive/{nl.slug}/feed.xml",
                  rss=f"/archive/{nl.slug}/rss.xml", brand=nl.brand, brand_key=nl.brand_name,
                  sender_name=(nl.brand.name or web.settings.sender.name
                               or web.settings.sender.address))


@router.get("/archive/{slug}/feed.xml")
async def archive_feed(request: Request, slug: str) -> Response:
    """Atom (RFC 4287) feed of the newsletter's issues, newest first, the last 50."""
    return await _feed(request, slug, "feed.xml", "application/atom+xml")


@router.get("/archive/{slug}/rss.xml")
async def archive_rss(request: Request, slug: str) -> Response:
    """RSS 2.0 feed of the same issues (for readers that take only RSS)."""
    return await _feed(request, slug, "rss.xml", "application/rss+xml")


async def _feed(request: Request, slug: str, template: str, media_type: str) -> Response:
    web = web_of(request)
    nl, issues = await _newsletter(request, slug)
    issues = issues[:50]
    xml = web.env.get_template(template).render(
        nl=nl, issues=issues, base=web.settings.base_url, links=web.links,
        logo=_logo_url(request, nl), rfc822=format_datetime,
        updated=(issues[0].sent_at if issues else None))
    return Response(xml, media_type=f"{media_type}; charset=utf-8",
                    headers={"cache-control": "public, max-age=300"})
