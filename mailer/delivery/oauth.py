"""Access tokens for SMTP XOAUTH2: Microsoft 365 (msal client credentials) or a command.

Exchange Online switches Basic authentication for SMTP AUTH off; a service sending as a
mailbox then needs an OAuth2 access token for ``https://outlook.office365.com/.default``
from an app registration (tenant, client id, and a secret or a certificate). Any other
provider (Google Workspace through a service account, an in-house broker) is reached
through ``MAILER_SMTP_TOKEN_COMMAND``, a command that prints a token.

A token is cached and fetched anew shortly before it expires, or at once when the server
refuses it (``invalidate``); fetching runs off the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import json
import shlex
import subprocess
import time
from dataclasses import dataclass
from typing import Any, Protocol

from mailer.config import Settings
from mailer.errors import ConfigError

REFRESH_MARGIN = 300.0  # fetch a new token this long before expiry (or at half-life)
DEFAULT_LIFETIME = 3000.0  # a command that prints only a token: assume 50 minutes


class TokenError(Exception):
    """No token could be had; the message says from where and why."""


@dataclass(frozen=True, slots=True)
class Token:
    value: str
    expires_at: float  # time.monotonic()


class TokenSource(Protocol):
    async def token(self) -> str: ...
    def invalidate(self) -> None: ...


class _Cached:
    """Fetch-on-demand with a cache; subclasses implement ``_fetch`` (blocking)."""

    what = "token"

    def __init__(self) -> None:
        self._token: Token | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0

    def _fetch(self) -> tuple[str, float]:
        raise NotImplementedError

    async def token(self) -> str:
        async with self._lock:
            now = time.monotonic()
            if self._token is None or now >= self._refresh_at:
                value, lifetime = await asyncio.to_thread(self._fetch)
                self.fetches += 1
                now = time.monotonic()
                self._token = Token(value, now + lifetime)
                self._refresh_at = now + max(min(lifetime - REFRESH_MARGIN, lifetime / 2), 0.0)
            return self._token.value

    def invalidate(self) -> None:
        self._token = None


class MsalTokens(_Cached):
    """Client-credentials flow with msal (secret or certificate)."""

    what = "Microsoft identity platform"

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self.scope = settings.smtp_oauth_scope
        self.authority = f"{settings.smtp_oauth_authority}/{settings.smtp_oauth_tenant}"
        self._app: Any = None

    def _client(self) -> Any:
        """msal's app, made on first use (it fetches the tenant's metadata)."""
        if self._app is not None:
            return self._app
        import msal
        import requests

        st = self.settings
        credential: str | dict[str, str]
        if st.smtp_oauth_client_secret:
            credential = st.smtp_oauth_client_secret
        else:
            with open(st.smtp_oauth_certificate, encoding="utf-8") as f:
                credential = {"private_key": f.read(), "thumbprint": st.smtp_oauth_thumbprint}
        session = requests.Session()
        request = functools.partial(session.request, timeout=30)
        if st.smtp_oauth_ca_file:
            # Per request: REQUESTS_CA_BUNDLE in the environment would override a
            # session-wide ``verify``.
            request = functools.partial(request, verify=st.smtp_oauth_ca_file)
        session.request = request  # type: ignore[method-assign]
        public = st.smtp_oauth_authority == "https://login.microsoftonline.com"
        self._app = msal.ConfidentialClientApplication(
            st.smtp_oauth_client_id, client_credential=credential, authority=self.authority,
            validate_authority=public, instance_discovery=public, http_client=session,
        )
        return self._app

    def _fetch(self) -> tuple[str, float]:
        try:
            result = self._client().acquire_token_for_client(scopes=[self.scope])
        except Exception as exc:  # msal raises plain ValueError/requests errors
            raise TokenError(f"{self.authority}: {exc}") from None
        if not result or "access_token" not in result:
            why = (result or {}).get("error_description") or (result or {}).get("error")
            raise TokenError(f"{self.authority} gave no token: {why or 'no answer'} "
                             "(check MAILER_SMTP_OAUTH_TENANT/_CLIENT_ID/_CLIENT_SECRET)")
        return str(result["access_token"]), float(result.get("expires_in") or DEFAULT_LIFETIME)


class CommandTokens(_Cached):
    """``MAILER_SMTP_TOKEN_COMMAND``: prints a token, or JSON with access_token/expires_in."""

    def __init__(self, command: str, timeout: float = 30.0) -> None:
        super().__init__()
        self.command = command
        self.argv = shlex.split(command)
        self.timeout = timeout
        self.what = f"token command {self.argv[0] if self.argv else '?'}"

    def _fetch(self) -> tuple[str, float]:
        try:
            done = subprocess.run(self.argv, capture_output=True, text=True,
                                  timeout=self.timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise TokenError(f"MAILER_SMTP_TOKEN_COMMAND ({self.command}): {exc}") from None
        if done.returncode != 0:
            raise TokenError(f"MAILER_SMTP_TOKEN_COMMAND ({self.command}) exited with "
                             f"{done.returncode}: {done.stderr.strip()[:300]}")
        out = done.stdout.strip()
        if out.startswith("{"):
            try:
                data = json.loads(out)
                return str(data["access_token"]), float(data.get("expires_in")
                                                        or DEFAULT_LIFETIME)
            except (ValueError, KeyError, TypeError):
                raise TokenError(f"MAILER_SMTP_TOKEN_COMMAND ({self.command}) printed JSON "
                                 "without access_token") from None
        if not out or any(c.isspace() for c in out):
            raise TokenError(f"MAILER_SMTP_TOKEN_COMMAND ({self.command}) must print one "
                             "token (or JSON with access_token and expires_in)")
        return out, DEFAULT_LIFETIME


def token_source(settings: Settings) -> TokenSource | None:
    """The token source the settings call for, or None when no server uses XOAUTH2."""
    if not any(u.auth == "xoauth2" for u in settings.smtp_servers):
        return None
    problem = settings.oauth_problem()
    if problem:
        raise ConfigError(problem)
    if settings.smtp_token_command:
        return CommandTokens(settings.smtp_token_command)
    return MsalTokens(settings)
