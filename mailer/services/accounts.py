"""Accounts: users and roles, password checks, logins (with their rate limits), API tokens.

Passwords are hashed with argon2id (argon2-cffi, RFC 9106 "low memory" parameters) and
re-hashed on login when the parameters change. Session cookies and API tokens are random
strings of 256 bits; the database keeps only their SHA-256 (a fast hash is right here:
the input is random, not a guessable password), so a leaked backup lets nobody in.
Callers pass ``now``; nothing here reads the clock.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from mailer.domain.addresses import AddressError, email_hash, email_key, normalise_address
from mailer.domain.findings import msg
from mailer.domain.roles import Action, Role, allowed, role_of
from mailer.domain.text import clean_line
from mailer.errors import DatabaseBusy, MailerError, NotFound, message_of
from mailer.store import accounts as store
from mailer.store.accounts import get_user, get_user_by_id, list_tokens, list_users
from mailer.store.db import transaction
from mailer.store.models import ApiToken, User

log = logging.getLogger(__name__)

__all__ = [
    "MIN_PASSWORD", "AccountError", "LoginLimiter", "NewToken", "Principal", "Team",
    "authenticate", "change_own_password", "create_api_token", "create_user",
    "end_all_sessions", "end_session", "get_user", "get_user_by_id", "initial_password",
    "list_tokens", "list_users", "log_in", "login_allowed", "login_succeeded", "reset_password",
    "revoke_token", "session_principal", "session_touch_due", "note_session_use",
    "set_password", "start_session", "team",
    "token_principal", "update_user",
]

MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # argon2 takes any length; a cap stops a megabyte "password" DoS
MAX_EMAIL = 320
SESSION_LIFETIME = timedelta(hours=12)  # log in once per working day
SESSION_IDLE = timedelta(hours=2)  # a browser left alone is logged out
SEEN_EVERY = timedelta(minutes=1)  # write last_seen_at at most this often
TOKEN_PREFIX = "mlr_"

#: The hasher; tests may swap in cheaper parameters (verification reads them from the hash).
HASHER = PasswordHasher()
# A hash to verify against when the e-mail is unknown, so a login takes as long for an
# unknown address as for a known one (no timing oracle for who has an account).
_DUMMY_HASH: str | None = None


class AccountError(MailerError):
    """A request about accounts that cannot be done as asked (with the reason)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is making a request, as the web and API layers see it."""

    user_id: int
    email: str
    name: str
    role: Role
    via_token: bool = False

    def can(self, action: Action) -> bool:
        return allowed(self.role, action)

    @property
    def label(self) -> str:
        return self.name or self.email

    @classmethod
    def of(cls, user: User, *, via_token: bool = False) -> Principal:
        return cls(user.id, user.email, user.name, Role(user.role), via_token)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _role(value: Role | str) -> Role:
    try:
        return value if isinstance(value, Role) else role_of(value)
    except ValueError as exc:
        raise AccountError(message_of(exc)) from None


def check_password_rules(password: str) -> None:
    """NIST SP 800-63B: length matters, composition rules do not; refuse the obvious."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(msg("the password must be at least %(n)s characters long; a few "
                               "unrelated words make a good one", n=MIN_PASSWORD))
    if len(password) > MAX_PASSWORD:
        raise AccountError(msg("the password may be at most %(n)s characters long",
                               n=MAX_PASSWORD))
    if len(set(password)) < 4:
        raise AccountError(msg("the password repeats too few characters; choose another"))


def hash_password(password: str) -> str:
    check_password_rules(password)
    return HASHER.hash(password)


def initial_password() -> str:
    """A random password an admin hands over once; the person changes it on their page."""
    return secrets.token_urlsafe(12)


# --- users -----------------------------------------------------------------------------------
def create_user(session: Session, email: str, *, role: Role | str, now: datetime,
                name: str = "", password: str | None = None) -> User:
    """Add a user; without a password they cannot log in until one is set."""
    try:
        address = normalise_address(email)
    except AddressError as exc:
        raise AccountError(msg("%(email)r is not a valid e-mail address: %(why)s",
                               email=email, why=message_of(exc))) from None
    the_role = _role(role)
    if store.find_user(session, address.email) is not None:
        raise AccountError(msg("a user %(email)r exists already", email=address.email))
    clean_name = clean_line(name)
    if len(clean_name) > 200:
        raise AccountError(msg("the name may be at most %(n)s characters long", n=200))
    return store.add_user(session, email=address.email, email_key=address.key, name=clean_name,
                          role=the_role, password_hash=hash_password(password) if password else "",
                          now=now)


def update_user(session: Session, user: User, *, now: datetime, role: Role | str | None = None,
                active: bool | None = None, name: str | None = None,
                actor: Principal | None = None) -> User:
    """Change a user's role, active flag or name, keeping at least one active admin."""
    new_role = None if role is None else _role(role)
    losing_admin = user.role == Role.admin and user.active and (
        (new_role is not None and new_role != Role.admin) or active is False)
    if losing_admin and store.count_active_admins(session) <= 1:
        raise AccountError(msg("this is the last active admin; make someone else admin "
                               "first"))
    if actor is not None and actor.user_id == user.id and active is False:
        raise AccountError(msg("you cannot deactivate your own account"))
    if new_role is not None:
        user.role = new_role
    if name is not None:
        user.name = clean_line(name)[:200]
    if active is not None:
        user.active = active
        if not active:
            end_all_sessions(session, user.id)
    user.updated_at = now
    session.flush()
    return user


@dataclass(frozen=True, slots=True)
class Team:
    """Everyone who logs in, with their API tokens (newest first) by user id."""

    users: list[User]
    tokens: dict[int, list[ApiToken]]


def team(session: Session) -> Team:
    by_user: dict[int, list[ApiToken]] = {}
    for token in list_tokens(session):
        by_user.setdefault(token.user_id, []).append(token)
    return Team(list_users(session), by_user)


# --- passwords and logins --------------------------------------------------------------------
def set_password(session: Session, user: User, password: str, *, now: datetime,
                 keep_session: str | None = None) -> None:
    """Set a new password and end the user's other sessions (a stolen one stops working)."""
    user.password_hash = hash_password(password)
    user.updated_at = now
    store.delete_sessions(session, user.id,
                          keep_hash=None if keep_session is None else _digest(keep_session))
    session.flush()


def reset_password(session: Session, user_id: int, *, now: datetime) -> tuple[str, str]:
    """An admin's reset: a new random password; returns (the user's e-mail, the password)."""
    user = get_user_by_id(session, user_id)
    password = initial_password()
    set_password(session, user, password, now=now)
    return user.email, password


def authenticate(session: Session, email: str, password: str, *, now: datetime) -> User | None:
    """The active user with this e-mail and password, or None (same time either way)."""
    global _DUMMY_HASH
    user = store.find_user(session, email) if len(email) <= MAX_EMAIL else None
    if len(password) > MAX_PASSWORD:
        return None
    stored = user.password_hash if user is not None and user.password_hash else None
    if stored is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = HASHER.hash(secrets.token_urlsafe(16))
        stored = _DUMMY_HASH
    try:
        HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.password_hash or not user.active:
        return None
    if HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = HASHER.hash(password)
    user.last_login_at = now
    session.flush()
    return user


def change_own_password(session: Session, me: Principal, *, current: str, new: str,
                        repeat: str, now: datetime, keep_session: str | None) -> dict[str, str]:
    """A user changes their own password; returns the errors by field ({} when done).

    ``current`` must be right and ``repeat`` equal ``new``; their other sessions end.
    """
    if authenticate(session, me.email, current, now=now) is None:
        return {"current": "wrong"}
    if new != repeat:
        return {"repeat": "mismatch"}
    try:
        set_password(session, get_user_by_id(session, me.user_id), new, now=now,
                     keep_session=keep_session)
    except AccountError as exc:
        return {"new": exc.message}
    return {}


class LoginLimiter(Protocol):
    """A rate limit on login attempts (``mailer.web.ratelimit.SlidingWindowLimiter``)."""

    def hit(self, key: str, now: float) -> bool: ...

    def refund(self, key: str, at: float) -> None: ...


def login_allowed(per_ip: LoginLimiter, per_account: LoginLimiter, *, ip: str, email: str,
                  now: float) -> bool:
    """Count a login attempt against its IP address and its account (by a hash of the
    address's identity key, as the login looks it up: "Anna@X" and "anna@x" are one
    account); False when either limit is used up. ``now`` is monotonic."""
    return per_ip.hit(ip, now) and per_account.hit(_login_key(email), now)


def login_succeeded(per_ip: LoginLimiter, per_account: LoginLimiter, *, ip: str, email: str,
                    at: float) -> None:
    """Take back the attempt counted at ``at`` by ``login_allowed``: a successful login is
    not a failure, so people who log in often never run into the limit. (Counting first
    and refunding on success keeps parallel guesses from all passing one check.)"""
    per_ip.refund(ip, at)
    per_account.refund(_login_key(email), at)


def _login_key(email: str) -> str:
    return email_hash(email_key(email or "-"))


def log_in(session: Session, email: str, password: str, *, now: datetime, ip: str = "",
           user_agent: str = "") -> str | None:
    """Check the password and start a session: its cookie token, or None when the
    address is unknown, the password wrong or the account deactivated (one answer)."""
    user = authenticate(session, email, password, now=now)
    if user is None:
        return None
    return start_session(session, user, now=now, ip=ip, user_agent=user_agent)


# --- sessions --------------------------------------------------------------------------------
def start_session(session: Session, user: User, *, now: datetime, ip: str = "",
                  user_agent: str = "") -> str:
    """A new login session for ``user``; returns the token for the cookie (shown once)."""
    token = secrets.token_urlsafe(32)
    store.add_session(session, token_hash=_digest(token), user_id=user.id, now=now,
                      expires_at=now + SESSION_LIFETIME, ip=ip[:45], user_agent=user_agent[:200])
    return token


def session_principal(session: Session, token: str, *, now: datetime,
                      touch: bool = True) -> Principal | None:
    """Who holds this session cookie, or None when it is unknown, expired or idle too long.
    With ``touch`` its last use is noted (at most every minute) and an ended session's row
    deleted; a read-only look (every admin page) passes ``touch=False`` and leaves that to
    ``note_session_use`` when ``session_touch_due`` says so."""
    if not token or len(token) > 100:
        return None
    row = store.find_session(session, _digest(token))
    if row is None:
        return None
    if _session_ended(row.expires_at, row.last_seen_at, now):
        if touch:
            store.delete_session(session, row.token_hash)
        return None
    user = store.find_user_by_id(session, row.user_id)
    if user is None or not user.active:
        return None
    if touch and now - row.last_seen_at >= SEEN_EVERY:
        row.last_seen_at = now
    return Principal.of(user)


def _session_ended(expires_at: datetime, last_seen_at: datetime, now: datetime) -> bool:
    return expires_at <= now or last_seen_at + SESSION_IDLE <= now


def session_touch_due(session: Session, token: str, *, now: datetime) -> bool:
    """Whether ``session_principal`` with ``touch`` would write now (read only)."""
    row = store.find_session(session, _digest(token)) if token and len(token) <= 100 else None
    return row is not None and (_session_ended(row.expires_at, row.last_seen_at, now)
                                or now - row.last_seen_at >= SEEN_EVERY)


def note_session_use(engine: Engine, token: str, *, now: datetime) -> None:
    """Note an admin session's use (or delete it when it ended) in a short transaction of
    its own, after the page was answered from a read. It never waits for the write lock:
    while another process holds it the note is left to a later request."""
    try:
        with transaction(engine, wait=False) as session:
            session_principal(session, token, now=now)
    except (DatabaseBusy, OperationalError) as exc:
        log.info("admin session use not noted now (the database is busy): %s", exc)


def end_session(session: Session, token: str) -> None:
    store.delete_session(session, _digest(token))


def end_all_sessions(session: Session, user_id: int) -> int:
    return store.delete_sessions(session, user_id)


# --- API tokens ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class NewToken:
    """A token just made: ``secret`` is shown once and never stored."""

    id: int
    name: str
    prefix: str
    secret: str


def create_api_token(session: Session, user: User, *, now: datetime, name: str = "",
                     expires_at: datetime | None = None) -> NewToken:
    if not user.active:
        raise AccountError(msg("%(email)s is deactivated; activate the user first",
                               email=user.email))
    clean = clean_line(name)[:100]
    if not clean:
        # A token is known by its name in the lists (and when revoking it): never blank.
        raise AccountError(msg("give the token a name: what it is for, e.g. 'intranet "
                               "sync'"), field="name")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = store.add_api_token(session, token_hash=_digest(secret),
                              prefix=secret[: len(TOKEN_PREFIX) + 6], user_id=user.id,
                              name=clean, now=now, expires_at=expires_at)
    return NewToken(row.id, clean, row.prefix, secret)


def token_principal(session: Session, secret: str, *, now: datetime,
                    touch: bool = True) -> Principal | None:
    """Who a bearer token belongs to, or None when unknown, revoked, expired or inactive.
    With ``touch`` its last use is noted (at most every minute); a read-only request
    passes ``touch=False`` and notes it afterwards with ``token_used`` when
    ``token_use_due`` says so."""
    row = _live_token(session, secret, now)
    if row is None:
        return None
    user = store.find_user_by_id(session, row.user_id)
    if user is None or not user.active:
        return None
    if touch and _use_due(row, now):
        row.last_used_at = now
    return Principal.of(user, via_token=True)


def _live_token(session: Session, secret: str, now: datetime) -> ApiToken | None:
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 100:
        return None
    row = store.find_api_token(session, _digest(secret))
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    return row


def _use_due(row: ApiToken, now: datetime) -> bool:
    return row.last_used_at is None or now - row.last_used_at >= SEEN_EVERY


def token_use_due(session: Session, secret: str, *, now: datetime) -> bool:
    """Whether the token's last use is to be noted now (read only)."""
    row = _live_token(session, secret, now)
    return row is not None and _use_due(row, now)


def token_used(session: Session, secret: str, *, now: datetime) -> None:
    """Note the token's use (a write of its own, after a read-only request)."""
    row = _live_token(session, secret, now)
    if row is not None and _use_due(row, now):
        row.last_used_at = now


def note_token_use(engine: Engine, secret: str, *, now: datetime) -> None:
    """``token_used`` in a short transaction of its own, after a read-only request has
    been answered. It never waits for the write lock: while another process holds it
    the note is left to a later request."""
    try:
        with transaction(engine, wait=False) as session:
            token_used(session, secret, now=now)
    except (DatabaseBusy, OperationalError) as exc:
        log.info("API token use not noted now (the database is busy): %s", exc)


def revoke_token(session: Session, token_id: int, *, now: datetime,
                 user_id: int | None = None) -> ApiToken:
    """Revoke a token (only one of ``user_id``'s when given)."""
    row = store.get_api_token(session, token_id)
    if row is None or (user_id is not None and row.user_id != user_id):
        raise NotFound(msg("no API token with id %(id)s", id=token_id))
    if row.revoked_at is None:
        store.mark_token_revoked(session, row, now=now)
    return row

