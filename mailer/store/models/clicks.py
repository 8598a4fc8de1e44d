"""Click statistics (opt-in per mailing): counters per link, a keyed tag per clicking copy,
and a per-person record only where the workspace allows it (``click_tracking_per_person``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mailer.store.models.base import Base, utcnow


class MailingLink(Base):
    """One tracked link target of a mailing; ``clicks`` is raised atomically per click."""

    __tablename__ = "mailing_links"

    mailing_id: Mapped[int] = mapped_column(
        ForeignKey("mailings.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    url: Mapped[str] = mapped_column(Text)  # the redirect target: never taken from a request
    clicks: Mapped[int] = mapped_column(Integer, default=0)
    clickers: Mapped[int] = mapped_column(Integer, default=0)  # distinct copies that clicked


class ClickTag(Base):
    """That some copy clicked a link: a keyed hash of the outbox row, never its id."""

    __tablename__ = "click_tags"

    mailing_id: Mapped[int] = mapped_column(
        ForeignKey("mailings.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    tag: Mapped[str] = mapped_column(String(24), primary_key=True)


class PersonClick(Base):
    """Who clicked what, when: only with ``click_tracking_per_person = true``."""

    __tablename__ = "person_clicks"

    id: Mapped[int] = mapped_column(primary_key=True)
    mailing_id: Mapped[int] = mapped_column(
        ForeignKey("mailings.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"))
    clicked_at: Mapped[datetime] = mapped_column(default=utcnow)
