"""Request-body limits per route, enforced before anything reads the body (issue 13, item 1).

A pure ASGI middleware: a request whose ``Content-Length`` is over its route's limit is
answered 413 at once, without reading a byte of the body; a body sent without a length
(chunked) is counted as it streams in, and the read that crosses the limit raises a 413
``HTTPException`` (the web pages and the API each answer it in their own shape), so no
handler ever buffers or spools more than the limit. The limits:

- the public pages' forms (subscribe, preferences, registration, unsubscribe): 64 KiB;
- the API's JSON bodies and the admin forms (an issue's ``issue.yaml`` is the largest): 1 MiB;
- the admin's CSV uploads (subscribers, registrations): ``MAILER_MAX_UPLOAD_MB``;
- an issue's files (images, PDFs) added in the admin or through the API: the 25 MB that
  ``mailer.domain.media`` accepts, plus room for the form around the file (they were held
  to the forms' 1 MiB, so a 2 MB PDF was a bare 413 though the guides promise 25 MB).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mailer.domain.media import MAX_UPLOAD_BYTES

KIB = 1024
MIB = 1024 * KIB
PUBLIC_FORM = 64 * KIB
ADMIN_FORM = 1 * MIB
API_JSON = 1 * MIB
UPLOAD_ROUTES = (re.compile(r"^/admin/lists/[^/]+/import$"),
                 re.compile(r"^/admin/invitations/[^/]+/registrations/import$"))
MEDIA_ROUTE = re.compile(r"^/(admin|api)/issues/[^/]+/files$")
MEDIA_UPLOAD = MAX_UPLOAD_BYTES + ADMIN_FORM


def body_limit(path: str, upload_limit: int) -> int:
    """The largest body, in bytes, a request to ``path`` may send."""
    if MEDIA_ROUTE.match(path):
        return MEDIA_UPLOAD
    if path.startswith("/api/") or path == "/api":
        return API_JSON
    if path.startswith("/admin"):
        if any(r.match(path) for r in UPLOAD_ROUTES):
            return upload_limit
        return ADMIN_FORM
    return PUBLIC_FORM


def too_large_message(limit: int) -> str:
    size = f"{limit // MIB} MB" if limit >= MIB else f"{limit // KIB} KB"
    return f"the request body is larger than {size}, the most this address accepts"


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_message(limit))
        self.limit = limit


class BodyLimit:
    """Refuse bodies over the route's limit with 413; see the module docstring.

    ``refuse(request, limit)`` builds the 413 response for the Content-Length case (the
    web app passes one that answers pages with the error page and ``/api`` with JSON).
    """

    def __init__(self, app: ASGIApp, *, upload_limit: int,
                 refuse: Callable[[Request, int], ASGIApp]) -> None:
        self.app = app
        self.upload_limit = upload_limit
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope["path"], self.upload_limit)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            response = self.refuse(Request(scope), limit)
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
