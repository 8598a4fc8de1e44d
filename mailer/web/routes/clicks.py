"""``/l/<token>[/<tag>]``: the redirect of a tracked link (``mailer.services.clicks``).

The target comes from the stored mailing, named by the signed token; a tampered token is
the "bad link" page (400), never a redirect. ``Referrer-Policy: no-referrer`` keeps the
token out of the target site's logs.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mailer.services import clicks
from mailer.tokens import BadToken
from mailer.web.pages import PageError, web_of
from mailer.web.routes.common import MAX_TOKEN, found

router = APIRouter()


@router.get("/l/{token}")
async def follow_untagged(request: Request, token: str) -> Response:
    return await follow(request, token, "")


@router.get("/l/{token}/{tag}")
async def follow(request: Request, token: str, tag: str) -> Response:
    web = web_of(request)
    if len(token) > MAX_TOKEN or len(tag) > 40:
        raise PageError.bad_link()
    try:
        web.tokens.read_click(token)
    except BadToken:
        raise PageError.bad_link() from None
    url = await found(request, clicks.follow, web.tokens, token, tag, web.now())
    return RedirectResponse(url, status_code=302, headers={
        "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


def csv_response(report: clicks.ClickReport) -> Response:
    """The click statistics as a CSV download (admin and API)."""
    return Response(clicks.to_csv(report).encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"content-disposition":
                             f'attachment; filename="mailing-{report.mailing_id}-clicks.csv"',
                             "cache-control": "no-store"})
