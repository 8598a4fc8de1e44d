"""What every API route needs: a database session, the caller (Bearer token), pages."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import BackgroundTasks, Depends, Path, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from mailer.domain.roles import Action
from mailer.services.accounts import (
    Principal,
    note_token_use,
    token_principal,
    token_use_due,
)
from mailer.store.db import reading, transaction
from mailer.web.api.errors import ApiError, error_response

if TYPE_CHECKING:
    from mailer.web.app import Web

MAX_PER_PAGE = 200
#: A row id in a path: PostgreSQL's integer is 32-bit, so larger numbers are refused
#: with 422 here rather than an error from the database.
Id = Annotated[int, Path(ge=1, le=2_147_483_647)]
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="mailer"'}


#: Methods that change nothing: their routes read in a read-only transaction.
READ_METHODS = frozenset({"GET", "HEAD"})


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the route returns, else rolled back.
    A GET reads in a read-only one (``store.db.reading``) that never takes SQLite's write
    lock: it answers while an import or the worker writes (issue 13)."""
    engine = request.app.state.web.engine
    if request.method in READ_METHODS:
        with reading(engine) as session:
            yield session
        return
    with transaction(engine) as session:
        yield session


def get_write_session(request: Request) -> Iterator[Session]:
    """A write transaction whatever the method (a GET that writes and rolls back, such as
    a dry run in a savepoint)."""
    with transaction(request.app.state.web.engine) as session:
        yield session


BEARER = HTTPBearer(auto_error=False,
                    description="An API token: create one on your account page in the "
                                "admin (/admin/account) or with: mailer users token EMAIL "
                                "--name NAME")


def _bearer(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or not credentials.credentials.strip():
        raise ApiError(401, "send an API token as 'Authorization: Bearer <token>' "
                       "(create one on your account page in the admin, /admin/account)",
                       headers=CHALLENGE)
    return credentials.credentials.strip()


def authenticate(session: Session, token: str, now: datetime, *,
                 touch: bool = True) -> Principal:
    """The user of the API token ``token``, or a 401 ApiError."""
    principal = token_principal(session, token, now=now, touch=touch)
    if principal is None:
        raise ApiError(401, "the API token is unknown, revoked or expired, or its user "
                       "is deactivated", headers=CHALLENGE)
    return principal


def require(action: Action = Action.view) -> Callable[..., Principal]:
    """A dependency: the token's user, who must be allowed ``action``."""

    def dependency(request: Request, background: BackgroundTasks,
                   session: Session = Depends(get_session),
                   credentials: HTTPAuthorizationCredentials | None = Depends(BEARER),
                   ) -> Principal:
        web = request.app.state.web
        token, now = _bearer(credentials), web.now()
        read_only = request.method in READ_METHODS
        principal = authenticate(session, token, now, touch=not read_only)
        if read_only and token_use_due(session, token, now=now):
            # Noted after the answer, in a write of its own: the read never waits for it.
            background.add_task(note_token_use, web.engine, token, now=now)
        if not principal.can(action):
            raise ApiError(403, f"the role {principal.role} may not do this "
                           f"({action.value})", code="forbidden")
        return principal

    dependency.__name__ = f"require_{action.value}"
    return dependency


class AuthenticateFirst:
    """ASGI middleware of the API: a request with a body (POST, PUT, PATCH) is
    authenticated before anything reads or parses its body, so an anonymous client cannot
    make the server parse what it sends (issue 13, item 1). The route's ``require``
    checks the role as before."""

    def __init__(self, app: ASGIApp, *, web: Web) -> None:
        self.app = app
        self.web = web

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            request = Request(scope)
            scheme, _, token = request.headers.get("authorization", "").partition(" ")

            def check() -> None:
                if scheme.lower() != "bearer" or not token.strip():
                    _bearer(None)
                # Only a look: the route's own ``require`` notes the token's use.
                with reading(self.web.engine) as session:
                    authenticate(session, token.strip(), self.web.now(), touch=False)

            try:
                await run_in_threadpool(check)
            except ApiError as exc:
                response = error_response(exc.status, exc.code, exc.message, exc.field,
                                          exc.headers)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


@dataclass(frozen=True, slots=True)
class Paging:
    page: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


def paging(page: int = Query(1, ge=1, le=100_000, description="Page number, from 1."),
           per_page: int = Query(50, ge=1, le=MAX_PER_PAGE,
                                 description=f"Items per page (at most {MAX_PER_PAGE}).")
           ) -> Paging:
    return Paging(page, per_page)
