"""The workspace's brand on the public pages: its colours as a stylesheet and its logo.

Both come from ``[brand]`` in mailer.toml; the logo file lives in the workspace's
``brand/`` folder (an https:// logo is used by the mail only: the pages load nothing
from elsewhere).
"""

from __future__ import annotations

import mimetypes

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from mailer.services.brands import brand_of
from mailer.web.pages import PageError, web_of

router = APIRouter()
LOGO_TYPES = (".png", ".jpg", ".jpeg", ".gif", ".webp")


@router.get("/brand.css")
async def brand_css(request: Request, b: str = "") -> Response:
    # ?b=<name>: a newsletter's own colours (its archive pages); unknown names: [brand]'s.
    brand = brand_of(web_of(request).settings, b[:64])
    rules = []
    if brand.colour:
        rules += [f"--header-bg: {brand.colour};", f"--button-bg: {brand.colour};"]
    if brand.link_colour:
        rules.append(f"--link: {brand.link_colour};")
    css = ":root { " + " ".join(rules) + " }\n" if rules else "/* no [brand] colours */\n"
    return Response(css, media_type="text/css; charset=utf-8",
                    headers={"cache-control": "public, max-age=300"})


@router.get("/brand/{file}")
async def brand_file(request: Request, file: str) -> Response:
    folder = (web_of(request).settings.workspace / "brand").resolve()
    target = (folder / file).resolve()
    if (target.parent != folder or not target.is_file()
            or target.suffix.lower() not in LOGO_TYPES):
        raise PageError.from_status(404)
    return FileResponse(target, media_type=mimetypes.guess_type(target.name)[0],
                        headers={"cache-control": "public, max-age=86400"})
