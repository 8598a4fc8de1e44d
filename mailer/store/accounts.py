"""Accounts in the database: users, login sessions and API tokens (queries only).

The rules (password policy, hashing, expiry, the last admin) live in
``mailer.services.accounts``; sessions and tokens are looked up here by the SHA-256 of
their secret, which is all the database keeps.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from mailer.domain.addresses import email_key
from mailer.domain.roles import Role
from mailer.errors import NotFound
from mailer.store.models import ApiToken, User, UserSession


# --- users -----------------------------------------------------------------------------------
def find_user(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email_key == email_key(email)))


def get_user(session: Session, email: str) -> User:
    user = find_user(session, email)
    if user is None:
        raise NotFound(f"no user {email!r}; see them with: mailer users list")
    return user


def find_user_by_id(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def get_user_by_id(session: Session, user_id: int) -> User:
    user = find_user_by_id(session, user_id)
    if user is None:
        raise NotFound(f"no user with id {user_id}")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.email_key)))


def add_user(session: Session, *, email: str, email_key: str, name: str, role: Role,
             password_hash: str, now: datetime) -> User:
    user = User(email=email, email_key=email_key, name=name, role=role,
                password_hash=password_hash, active=True, created_at=now, updated_at=now)
    session.add(user)
    session.flush()
    return user


def count_active_admins(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User).where(
        User.role == Role.admin, User.active.is_(True))) or 0


# --- sessions --------------------------------------------------------------------------------
def add_session(session: Session, *, token_hash: str, user_id: int, now: datetime,
                expires_at: datetime, ip: str, user_agent: str) -> None:
    """Store a new login session, dropping the user's expired ones."""
    session.execute(delete(UserSession).where(UserSession.user_id == user_id,
                                              UserSession.expires_at <= now))
    session.add(UserSession(token_hash=token_hash, user_id=user_id, created_at=now,
                            last_seen_at=now, expires_at=expires_at, ip=ip, user_agent=user_agent))
    session.flush()


def find_session(session: Session, token_hash: str) -> UserSession | None:
    return session.scalar(select(UserSession).where(UserSession.token_hash == token_hash))


def delete_session(session: Session, token_hash: str) -> None:
    session.execute(delete(UserSession).where(UserSession.token_hash == token_hash))


def delete_sessions(session: Session, user_id: int, *, keep_hash: str | None = None) -> int:
    """End every session of a user (but the one with ``keep_hash``); returns how many."""
    query = delete(UserSession).where(UserSession.user_id == user_id)
    if keep_hash is not None:
        query = query.where(UserSession.token_hash != keep_hash)
    result = session.execute(query)
    assert isinstance(result, CursorResult)  # a DELETE's result has a rowcount
    return int(result.rowcount or 0)


# --- API tokens ------------------------------------------------------------------------------
def add_api_token(session: Session, *, token_hash: str, prefix: str, user_id: int, name: str,
                  now: datetime, expires_at: datetime | None) -> ApiToken:
    row = ApiToken(token_hash=token_hash, prefix=prefix, user_id=user_id, name=name,
                   created_at=now, expires_at=expires_at)
    session.add(row)
    session.flush()
    return row


def find_api_token(session: Session, token_hash: str) -> ApiToken | None:
    return session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash))


def get_api_token(session: Session, token_id: int) -> ApiToken | None:
    return session.get(ApiToken, token_id)


def list_tokens(session: Session, user_id: int | None = None) -> list[ApiToken]:
    """API tokens, newest first (one user's when ``user_id`` is given)."""
    query = select(ApiToken).order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    return list(session.scalars(query))


def mark_token_revoked(session: Session, token: ApiToken, *, now: datetime) -> None:
    session.execute(update(ApiToken).where(ApiToken.id == token.id).values(revoked_at=now))
    session.refresh(token)
