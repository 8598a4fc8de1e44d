"""CSRF protection for the HTML forms: a signed double-submit cookie (OWASP's pattern).

The browser holds a random value in an HttpOnly, SameSite=Lax cookie; every form carries
that value signed with our key and a timestamp. A POST is accepted only when the form's
token unsigns (not expired, made with our key for this purpose) to exactly the cookie's
value. A forged cross-site form can neither read the cookie nor make a matching signature.

Why not a library: asgi-csrf lets any POST without cookies through and protects other
paths only by exact match (our paths carry tokens), and fastapi-csrf-protect keeps its
configuration in class-level globals and parses form bodies by string replacement. This
is the same technique in ~80 lines on itsdangerous, which we already use for links.

On the admin pages the token is also tied to the login session: it carries a hash of the
session cookie, and an admin POST is accepted only with a token made for that session. A
token from an anonymous page (or another login) is refused there, so a value planted or
obtained before the login is worth nothing afterwards.

The RFC 8058 one-click POST from a mail provider has no cookie and no form token by
design; that one route is authenticated by its signed link alone (see routes/unsubscribe).
"""

from __future__ import annotations

import hashlib
import secrets

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from mailer.web.security import is_https

FIELD = "csrf_token"
MAX_AGE = 24 * 3600  # a form left open for a day still works; older ones get a fresh form
COOKIE_PLAIN = "mailer-csrf"
COOKIE_SECURE = "__Host-mailer-csrf"  # __Host-: only over https, only for this host, path /


class CsrfError(Exception):
    """The form's CSRF token is missing, expired or does not match the cookie."""

    def __init__(self, reason: str, *, expired: bool = False) -> None:
        super().__init__(reason)
        self.expired = expired


class Csrf:
    """Issues and checks CSRF tokens with one signing key."""

    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeTimedSerializer(
            secret_key, salt="mailer.csrf", signer_kwargs={"digest_method": hashlib.sha256})

    @staticmethod
    def _cookie_name(request: Request) -> str:
        return COOKIE_SECURE if is_https(request) else COOKIE_PLAIN

    @staticmethod
    def _binding(session: str) -> str:
        return hashlib.sha256(b"mailer.csrf.session:" + session.encode()).hexdigest()[:32]

    def token(self, request: Request, *, session: str = "") -> str:
        """The token to put in a form on this page (creates the cookie value if needed);
        with ``session`` (the admin session cookie), a token valid for that session only."""
        value = getattr(request.state, "csrf_value", None)
        if value is None:
            value = request.cookies.get(self._cookie_name(request))
            if not value or len(value) > 100:
                value = secrets.token_urlsafe(32)
                request.state.csrf_new = True
            request.state.csrf_value = value
        if session:
            return str(self._serializer.dumps([value, self._binding(session)]))
        return str(self._serializer.dumps(value))

    def attach_cookie(self, request: Request, response: Response) -> None:
        """Send the cookie if this request created a new value."""
        if getattr(request.state, "csrf_new", False):
            secure = is_https(request)
            response.set_cookie(self._cookie_name(request), request.state.csrf_value,
                                httponly=True, samesite="lax", secure=secure, path="/")

    def check(self, request: Request, form: FormData, *, session: str = "") -> None:
        """Raise CsrfError unless the form's token matches this browser's cookie (and,
        with ``session``, was made for that login session)."""
        cookie = request.cookies.get(self._cookie_name(request))
        sent = form.get(FIELD)
        if not isinstance(sent, str) or not sent:
            raise CsrfError("the form has no CSRF token")
        if not cookie:
            raise CsrfError("the browser sent no CSRF cookie (cookies blocked or expired)",
                            expired=True)
        try:
            value = self._serializer.loads(sent, max_age=MAX_AGE)
        except SignatureExpired:
            raise CsrfError("the form is older than a day", expired=True) from None
        except BadSignature:
            raise CsrfError("the CSRF token is not ours") from None
        bound = ""
        if isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value):
            value, bound = value
        if not isinstance(value, str) or not secrets.compare_digest(value, cookie):
            raise CsrfError("the CSRF token does not belong to this browser")
        if session and not secrets.compare_digest(bound, self._binding(session)):
            raise CsrfError("the CSRF token was not made for this login session")
