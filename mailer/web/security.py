"""Security headers on every response (pure ASGI middleware, streams untouched).

- CSP: our own stylesheet only, no scripts at all, forms post only to us, no framing.
  A response that sets its own CSP (the archived e-mail HTML) keeps it.
- Referrer-Policy no-referrer: our URLs carry signed tokens; never leak them to the
  sites a newsletter links to.
- HSTS on https: when ``MAILER_BASE_URL`` is https (the site is public over https, even if
  the proxy in front speaks http to us) or the request itself came over https. Sending it
  on an http-only site would be ignored by browsers, and would mislead.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mailer.config import Settings

CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
]
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


def https_site(settings: Settings) -> bool:
    """Whether the public site is served over https, as ``MAILER_BASE_URL`` says."""
    return settings.base_url.startswith("https://")


def is_https(request: Request) -> bool:
    """Cookies get ``Secure`` and the ``__Host-`` prefix, and pages HSTS, when this is true:
    the configured base URL is https, or the request came over https."""
    settings: Settings = request.app.state.web.settings
    return https_site(settings) or request.url.scheme == "https"


def security_headers(*, https: bool, csp: bool = True) -> list[tuple[bytes, bytes]]:
    """The headers every response carries (a response's own CSP is kept by the middleware)."""
    headers = ([(b"content-security-policy", CSP.encode())] if csp else []) + HEADERS
    return headers + [HSTS] if https else headers


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, https: bool = False) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = self.https or scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", CSP.encode()))
                headers.extend(h for h in HEADERS if h[0] not in names)
                if https and HSTS[0] not in names:
                    headers.append(HSTS)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
