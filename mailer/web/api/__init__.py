"""The JSON API under ``/api``: token auth, pagination, one error shape, OpenAPI.

A FastAPI application of its own, mounted on the web app, so it has its own error
handlers (JSON, never the HTML error pages) and its own description at
``/api/openapi.json``. Routes for a part that is not installed in this build
(invitations) are left out, so the description lists only what works.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI

if TYPE_CHECKING:
    from mailer.web.app import Web

API_PREFIX = "/api"


def create_api(web: Web) -> FastAPI:
    from mailer.web.api import invitations, issues, lists, segments, suppressions, webhooks
    from mailer.web.api.deps import AuthenticateFirst
    from mailer.web.api.errors import install_error_handlers

    api = FastAPI(
        title="mailer API", version="1",
        description=("Lists, subscribers, issues, mailings, invitations, reminders and webhooks. "
                     "Authenticate with 'Authorization: Bearer <token>' (create a token with "
                     "'mailer users token EMAIL --name NAME' or on your account page in "
                     "/admin). Errors are always {\"error\": {\"code\", \"message\", \"field\"}}."),
        openapi_url="/openapi.json", docs_url=None, redoc_url=None)
    api.state.web = web
    install_error_handlers(api)
    api.include_router(lists.router)
    api.include_router(issues.router)
    api.include_router(issues.mailings_router)
    api.include_router(invitations.router)
    api.include_router(suppressions.router)
    api.include_router(webhooks.router)
    api.include_router(segments.router)
    api.add_middleware(AuthenticateFirst, web=web)
    return api


def install_api(app: FastAPI) -> None:
    from starlette.exceptions import HTTPException as StarletteHTTPException
    from starlette.requests import Request
    from starlette.responses import Response

    from mailer.web.api.errors import CODES, error_response

    app.mount(API_PREFIX, create_api(app.state.web))
    # A path under /api that the mount cannot match (e.g. one with an encoded line break)
    # falls through to the web app: answer it in the API's shape, not as an HTML page.
    pages_handler = app.exception_handlers.get(StarletteHTTPException)

    async def http_error(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith(API_PREFIX + "/") or request.url.path == API_PREFIX:
            status = getattr(exc, "status_code", 404)
            return error_response(status, CODES.get(status, "error"), "no such API route")
        assert pages_handler is not None
        answer = pages_handler(request, exc)  # Starlette allows a plain or an async handler
        return answer if isinstance(answer, Response) else await answer

    if pages_handler is not None:
        app.add_exception_handler(StarletteHTTPException, http_error)
