"""The subscriber-facing web application: ``create_app(settings)`` builds it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from jinja2 import Environment
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from mailer.config import Settings
from mailer.domain.addresses import email_hash, mailbox_key
from mailer.errors import DatabaseBusy
from mailer.links import Links
from mailer.store.db import make_engine, time_statements
from mailer.store.models import utcnow
from mailer.tokens import Tokens
from mailer.web.admission import SIGNUP_CONCURRENCY, Admission
from mailer.web.api import API_PREFIX
from mailer.web.api.errors import error_response
from mailer.web.archive import ArchiveSource, MailingsArchive
from mailer.web.csrf import Csrf, CsrfError
from mailer.web.invitation_desk import StoreDesk
from mailer.web.limits import MIB, BodyLimit, too_large_message
from mailer.web.pages import PageError, error_page, make_environment
from mailer.web.ratelimit import SlidingWindowLimiter
from mailer.web.registration import RegistrationDesk
from mailer.web.security import SecurityHeaders, https_site, security_headers
from mailer.web.timing import ServerTiming

STATIC = Path(__file__).parent / "static"

# Subscribe form limits (see ratelimit.py for the one-process caveat).
PER_IP = (20, 600.0)  # 20 sign-ups per IP address in 10 minutes (an office behind one NAT)
PER_ADDRESS = (3, 3600.0)  # 3 mails to one address per hour: nobody can mail-bomb with us


@dataclass
class Web:
    """Everything a request handler needs, built once per application."""

    settings: Settings
    engine: Engine
    tokens: Tokens
    links: Links
    csrf: Csrf
    archive: ArchiveSource
    desk: RegistrationDesk
    env: Environment
    signups: Admission = field(default_factory=lambda: Admission(SIGNUP_CONCURRENCY))
    per_ip: SlidingWindowLimiter = field(
        default_factory=lambda: SlidingWindowLimiter(*PER_IP))
    per_address: SlidingWindowLimiter = field(
        default_factory=lambda: SlidingWindowLimiter(*PER_ADDRESS))
    now: Callable[[], datetime] = utcnow
    monotonic: Callable[[], float] = time.monotonic

    def may_mail(self, email: str) -> bool:
        """Count a sign-up mail to ``email``'s mailbox; False past PER_ADDRESS. Counted on
        the mailbox (case, +tags and Gmail's dots folded), so ``victim+1@``, ``victim+2@``
        and ``Vic.tim@`` share one count, from the form and the API alike."""
        return self.per_address.hit(email_hash(mailbox_key(email)), self.monotonic())


def create_app(settings: Settings, *, engine: Engine | None = None,
               archive: ArchiveSource | None = None,
               desk: RegistrationDesk | None = None, deliver: bool = False) -> FastAPI:
    """The FastAPI app for ``settings``; pass ``engine``, ``archive`` or ``desk`` to share or
    replace them (the default desk registers through the invitations store).

    With ``deliver`` (``mailer serve``), the app delivers confirmations and test sends
    itself while it runs and no ``mailer worker`` does (``mailer.delivery.inprocess``).
    """
    from mailer.web.admin import install_admin
    from mailer.web.api import install_api
    from mailer.web.routes import archive as archive_routes
    from mailer.web.routes import brand as brand_routes
    from mailer.web.routes import (
        clicks,
        confirm,
        media,
        preferences,
        reconfirm,
        register,
        subscribe,
        unsubscribe,
    )

    keys = settings.signing_keys()
    key = keys[-1]
    engine = engine or make_engine(settings.db_url)
    tokens = Tokens(keys)
    web = Web(settings=settings, engine=engine, tokens=tokens,
              links=Links(settings.base_url, tokens), csrf=Csrf(key),
              archive=archive or MailingsArchive(engine),
              desk=desk or StoreDesk(engine, settings), env=make_environment(settings),
              signups=Admission(settings.signup_concurrency))

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if not deliver:
            yield
            return
        from mailer.delivery.inprocess import deliver_in_process

        stop = asyncio.Event()
        loop = asyncio.create_task(deliver_in_process(web.engine, settings, stop))
        try:
            yield
        finally:
            stop.set()
            await loop

    app = FastAPI(title="mailer", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan)
    app.state.web = web
    for module in (subscribe, confirm, unsubscribe, preferences, archive_routes, register,
                   reconfirm, media, brand_routes, clicks):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(PageError)
    async def _page_error(request: Request, exc: PageError) -> Response:
        return error_page(request, exc)

    @app.exception_handler(CsrfError)
    async def _csrf_error(request: Request, exc: CsrfError) -> Response:
        return error_page(request, PageError.csrf(expired=exc.expired))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return error_page(request, PageError.from_status(exc.status_code))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        # Only path parameters are typed (e.g. a mailing id); anything else is not a page.
        return error_page(request, PageError.from_status(404))

    @app.exception_handler(DatabaseBusy)
    async def _busy(request: Request, exc: DatabaseBusy) -> Response:
        # The write lock stayed taken past the busy timeout: 503 and Retry-After, not 500.
        if request.url.path.startswith(API_PREFIX + "/"):
            return error_response(503, "busy", exc.message,
                                  headers={"retry-after": str(exc.retry_after)})
        return error_page(request, PageError.busy())

    @app.exception_handler(Exception)
    async def _server_error(request: Request, exc: Exception) -> Response:
        # Starlette answers an unhandled exception outside every middleware we add, so this
        # page carries the security headers itself (and never a traceback or a path).
        if request.url.path.startswith(API_PREFIX + "/"):
            response: Response = error_response(500, "server_error",
                                                "the server failed; try again later")
        else:
            response = error_page(request, PageError.server_error())
        response.headers.update({k.decode(): v.decode() for k, v in security_headers(
            https=https_site(settings))})
        return response

    def refuse_too_large(request: Request, limit: int) -> Response:
        if request.url.path.startswith(API_PREFIX + "/") or request.url.path == API_PREFIX:
            return error_response(413, "too_large", too_large_message(limit))
        return error_page(request, PageError.too_large())

    install_admin(app)
    install_api(app)
    app.add_middleware(BodyLimit, upload_limit=settings.max_upload_mb * MIB,
                       refuse=refuse_too_large)
    app.add_middleware(SecurityHeaders, https=https_site(settings))
    if settings.server_timing:
        time_statements(engine)
        app.add_middleware(ServerTiming)
    return app
