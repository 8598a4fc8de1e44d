"""``/media/<issue folder>/<file>``: an issue's images and files for readers, once sent."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from mailer.errors import NotFound
from mailer.services.media import public_file
from mailer.web.pages import PageError, web_of
from mailer.web.routes.common import read

router = APIRouter()
#: Files of a sent issue do not change under the same name (the admin refuses to replace
#: one without an explicit tick), so readers' clients and proxies may keep them a day.
CACHE = "public, max-age=86400"


@router.get("/media/{folder}/{file}")
async def media(request: Request, folder: str, file: str) -> Response:
    issues = web_of(request).settings.workspace / "issues"
    try:
        found = await read(request, public_file, issues, folder, file)
    except NotFound:
        raise PageError.from_status(404) from None
    # Starlette writes the name as filename*=utf-8''… when it is not plain ASCII
    # ("Sjön–2023.png"); a header of our own would fail beyond Latin-1 (a 500).
    return FileResponse(found.path, media_type=found.content_type, headers={
        "cache-control": CACHE, "x-content-type-options": "nosniff",
        "content-security-policy": "default-src 'none'; sandbox"},
        filename=found.path.name, content_disposition_type="inline")
