"""Saved segments: a list and the conditions that narrow it, evaluated at send time."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailer.store.models.base import Base, JSONType, utcnow
from mailer.store.models.subscribers import MailingList


class Segment(Base):
    """"Elected representatives in regions": list ``natverk`` where ``org.kind=region`` and
    ``role~förtroendevald``. Only the conditions are stored; who matches is decided in SQL
    each time a mailing to it is planned or started."""

    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"), index=True)
    conditions: Mapped[list[str]] = mapped_column(JSONType, default=list)  # "org.kind=region"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    list: Mapped[MailingList] = relationship(lazy="joined")
