"""Signed tokens for links in e-mail (unsubscribe, preferences, confirm, register).

One compact token per purpose, signed with itsdangerous (HMAC-SHA256, key from
MAILER_SECRET_KEY); the purpose is the salt, so a token made for one purpose never
works for another. Payload is ``"<subscriber_id>.<scope_id>"`` to keep URLs short and
signing cheap on the per-recipient path (no JSON).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from itsdangerous import BadSignature, SignatureExpired, Signer, TimestampSigner


class Purpose(StrEnum):
    unsubscribe = "unsubscribe"  # scope: list id; does not expire (RFC 8058 links live long)
    preferences = "preferences"  # scope: 0; does not expire
    confirm = "confirm"  # scope: list id; expires (double opt-in)
    register = "register"  # scope: invitation id; valid until the deadline (checked by caller)
    archive = "archive"  # scope: mailing id; view in browser without personal data
    reconfirm = "reconfirm"  # scope: reconfirm_scope(invitation id, year)


EXPIRING = {Purpose.confirm}


def reconfirm_scope(invitation_id: int, year: int) -> int:
    """One integer for (invitation, year), so a yearly answer link is signed for its year."""
    if not 1900 <= year <= 9999:
        raise ValueError(f"year {year} out of range")
    return invitation_id * 10_000 + year


def split_reconfirm_scope(scope: int) -> tuple[int, int]:
    """(invitation id, year) from ``reconfirm_scope``."""
    return divmod(scope, 10_000)


class BadToken(Exception):
    """The token was tampered with, made for another purpose, or malformed."""


class ExpiredToken(BadToken):
    """The token was genuine but is older than allowed."""


@dataclass(frozen=True, slots=True)
class TokenData:
    subscriber_id: int
    scope_id: int


class Tokens:
    """Makes and checks tokens with one secret key."""

    def __init__(self, secret_key: str | Sequence[str]) -> None:
        # A list of keys, oldest first: the last signs, every one verifies (key rotation).
        keys = [secret_key] if isinstance(secret_key, str) else list(secret_key)
        self._signers = {
            p: (TimestampSigner if p in EXPIRING else Signer)(
                keys, salt=f"mailer.{p}", digest_method=hashlib.sha256
            )
            for p in Purpose
        }
        # Click statistics (``mailer.services.clicks``): the link token names mailing and
        # link index; the per-recipient tag is a keyed hash of the outbox row, so clicks can
        # be counted once per person without the tag naming the person.
        # (Old keys still verify click links after a rotation; tags use the current key.)
        self._click = Signer(keys, salt="mailer.click", digest_method=hashlib.sha256)
        self._tag_key = hashlib.sha256(b"mailer.click-tag\0" + keys[-1].encode()).digest()

    def click(self, mailing_id: int, position: int) -> str:
        """The token of link ``position`` of mailing ``mailing_id`` (``/l/<token>``)."""
        return self._click.sign(f"{mailing_id}.{position}").decode("ascii")

    def read_click(self, token: str) -> tuple[int, int]:
        """(mailing id, link position) of a genuine click token, else ``BadToken``."""
        try:
            mid, pos = self._click.unsign(token).decode("ascii").split(".")
            return int(mid), int(pos)
        except (BadSignature, ValueError, UnicodeDecodeError):
            raise BadToken("not a genuine click link") from None

    def click_tag(self, mailing_id: int, outbox_id: int) -> str:
        """A short keyed hash of (mailing, outbox row): the same for every link of one
        copy, different between copies, and not reversible without the secret key."""
        mac = hmac.new(self._tag_key, f"{mailing_id}.{outbox_id}".encode("ascii"),
                       hashlib.sha256).digest()[:9]
        return base64.urlsafe_b64encode(mac).decode("ascii")

    def make(self, purpose: Purpose, subscriber_id: int, scope_id: int = 0) -> str:
        return self._signers[purpose].sign(f"{subscriber_id}.{scope_id}").decode("ascii")

    def read(self, purpose: Purpose, token: str, *, max_age: int | None = None) -> TokenData:
        signer = self._signers[purpose]
        try:
            if isinstance(signer, TimestampSigner):
                raw = signer.unsign(token, max_age=max_age)
            else:
                raw = signer.unsign(token)
        except SignatureExpired as exc:
            raise ExpiredToken(str(exc)) from None
        except BadSignature as exc:
            raise BadToken(str(exc)) from None
        try:
            sid, scope = raw.decode("ascii").split(".")
            return TokenData(int(sid), int(scope))
        except ValueError:
            raise BadToken("malformed token payload") from None
