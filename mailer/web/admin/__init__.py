"""The editor and coordinator admin under ``/admin``: ``install_admin(app)`` adds it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from fastapi import FastAPI
from jinja2 import Environment
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from mailer.errors import MailerError, NotFound
from mailer.web.admin.auth import Forbidden, LoginRequired
from mailer.web.admin.issues import PreviewCache
from mailer.web.admin.pages import make_admin_environment, render
from mailer.web.pages import PageError, error_page
from mailer.web.ratelimit import SlidingWindowLimiter

STATIC = Path(__file__).parent / "static"
ASSETS = "/admin-assets"  # public: the login page needs the stylesheet too

# Login attempts: per IP address (an office shares one) and per account (a guessed
# password for one person from many addresses).
LOGIN_PER_IP = (30, 900.0)
LOGIN_PER_ACCOUNT = (10, 900.0)


@dataclass
class AdminState:
    env: Environment
    login_per_ip: SlidingWindowLimiter = field(
        default_factory=lambda: SlidingWindowLimiter(*LOGIN_PER_IP))
    login_per_account: SlidingWindowLimiter = field(
        default_factory=lambda: SlidingWindowLimiter(*LOGIN_PER_ACCOUNT))
    previews: PreviewCache = field(default_factory=PreviewCache)


def install_admin(app: FastAPI) -> None:
    """Add the admin routes, their error handling and their assets to the web app."""
    from mailer.web.admin.routes import ROUTERS

    web = app.state.web
    app.state.admin = AdminState(env=make_admin_environment(web.settings))
    for router in ROUTERS:
        app.include_router(router)
    app.mount(ASSETS, StaticFiles(directory=STATIC), name="admin-assets")

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target = "/admin/login"
        if request.method == "GET" and here != "/admin":
            target += "?" + urlencode({"next": here})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(MailerError)
    async def _problem(request: Request, exc: MailerError) -> Response:
        # Services refuse bad requests with a MailerError that says why and how to fix it.
        status = 404 if isinstance(exc, NotFound) else 400
        if not request.url.path.startswith("/admin"):
            return error_page(request, PageError.from_status(status))
        return render(request, "problem.html", status=status, problem=exc)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        return render(request, "forbidden.html", status=403, action=exc.action)
