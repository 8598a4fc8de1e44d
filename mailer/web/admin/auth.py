"""Who is asking: the admin session cookie, role checks, and the login rate limits.

Every admin route depends on ``require(action)``: no session -> a redirect to the login
page (the route walk in tests/test_admin_access.py holds every route to it), a session
whose role lacks the action (``mailer.domain.roles``) -> a 403 page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from fastapi import BackgroundTasks
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from mailer.domain.roles import Action
from mailer.services.accounts import (
    Principal,
    note_session_use,
    session_principal,
    session_touch_due,
)
from mailer.web.pages import web_of
from mailer.web.routes.common import read
from mailer.web.security import is_https

COOKIE_PLAIN = "mailer-admin"
COOKIE_SECURE = "__Host-mailer-admin"  # __Host-: https only, this host only, path /


class LoginRequired(Exception):
    """No valid session: the browser is sent to the login page."""


@dataclass
class Forbidden(Exception):
    """The user's role may not do this."""

    action: Action


def cookie_name(request: Request) -> str:
    return COOKIE_SECURE if is_https(request) else COOKIE_PLAIN


def session_cookie(request: Request) -> str:
    """The admin session cookie's value ("" when there is none); CSRF tokens bind to it."""
    return request.cookies.get(cookie_name(request), "")


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    # No max-age: the cookie ends with the browser; the server row ends it after 12 h
    # (or 2 h idle) whatever the browser keeps.
    response.set_cookie(cookie_name(request), token, httponly=True, samesite="lax",
                        secure=is_https(request), path="/")


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(cookie_name(request), path="/", httponly=True, samesite="lax",
                           secure=is_https(request))


async def current_principal(request: Request,
                            background: BackgroundTasks | None = None) -> Principal | None:
    """The logged-in user of this request (looked up once per request), in a read that
    never waits for SQLite's write lock. The session's last use is noted (at most every
    minute) after the answer, in ``background``, by a write that does not wait either."""
    if hasattr(request.state, "principal"):
        known: Principal | None = request.state.principal
        return known
    token = request.cookies.get(cookie_name(request), "")
    principal = None
    if token:
        web = web_of(request)
        now = web.now()
        principal, due = await read(request, _look, token, now)
        if due and background is not None:
            background.add_task(note_session_use, web.engine, token, now=now)
    request.state.principal = principal
    return principal


def _look(session: Session, token: str, now: datetime) -> tuple[Principal | None, bool]:
    return (session_principal(session, token, now=now, touch=False),
            session_touch_due(session, token, now=now))


def require(action: Action = Action.view
            ) -> Callable[[Request, BackgroundTasks], Awaitable[Principal]]:
    """A dependency: the logged-in user, who must be allowed ``action``."""

    async def dependency(request: Request, background: BackgroundTasks) -> Principal:
        principal = await current_principal(request, background)
        if principal is None:
            raise LoginRequired()
        if not principal.can(action):
            raise Forbidden(action)
        return principal

    dependency.__name__ = f"require_{action.value}"
    return dependency


async def checked_form(request: Request) -> FormData:
    """The posted form, after the CSRF check (raises CsrfError -> 403 page)."""
    form = await request.form()
    web_of(request).csrf.check(request, form, session=session_cookie(request))
    return form


def safe_next(value: str | None) -> str:
    """Where to go after login: only our own admin paths (no open redirect)."""
    if (value and value.startswith("/admin") and not value.startswith("//")
            and "\\" not in value and "\n" not in value and "\r" not in value
            and len(value) < 500 and not value.startswith("/admin/login")):
        return value
    return "/admin"
