"""Click statistics rows: the tracked links of a mailing, their counters, the click tags
and (opt-in) per-person clicks. Every function works inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, delete, func, or_, select, update
from sqlalchemy.orm import Session

from mailer.store.models import ClickTag, MailingLink, OutboxRow, PersonClick, Subscriber
from mailer.store.subscribers import on_erase, personal_data_section
from mailer.store.upsert import dialect_insert
from mailer.typing import JSONValue


def add_links(session: Session, mailing_id: int, urls: Sequence[str]) -> None:
    """Store the tracked targets of a new mailing (position = index in ``urls``)."""
    session.add_all(MailingLink(mailing_id=mailing_id, position=i, url=url, clicks=0,
                                clickers=0) for i, url in enumerate(urls))
    session.flush()


def target(session: Session, mailing_id: int, position: int) -> str | None:
    """The stored target of a tracked link, or None."""
    return session.scalar(select(MailingLink.url).where(
        MailingLink.mailing_id == mailing_id, MailingLink.position == position))


def record(session: Session, mailing_id: int, position: int, tag: str,
           outbox_id: int | None, now: datetime) -> None:
    """Count one click: the link's counter always, its clickers when ``tag`` is new for
    it, and a per-person row when ``outbox_id`` is given. Counters rise in SQL
    (``clicks = clicks + 1``), so concurrent clicks are never lost."""
    new = 0
    if tag:
        conn = session.connection()
        result = conn.execute(dialect_insert(conn, ClickTag.__table__)  # type: ignore[arg-type]
                              .values(mailing_id=mailing_id, position=position, tag=tag)
                              .on_conflict_do_nothing()
                              .returning(ClickTag.__table__.c.tag))
        new = 1 if result.first() is not None else 0  # rowcount is not reliable here
    session.execute(update(MailingLink)
                    .where(MailingLink.mailing_id == mailing_id,
                           MailingLink.position == position)
                    .values(clicks=MailingLink.clicks + 1,
                            clickers=MailingLink.clickers + new))
    if outbox_id is not None:
        session.add(PersonClick(mailing_id=mailing_id, position=position,
                                outbox_id=outbox_id, clicked_at=now))
        session.flush()


def links(session: Session, mailing_id: int) -> list[MailingLink]:
    """The tracked links of a mailing in position order."""
    return list(session.scalars(select(MailingLink).where(MailingLink.mailing_id == mailing_id)
                                .order_by(MailingLink.position)))


def unique_clickers(session: Session, mailing_id: int) -> int:
    """How many copies of the mailing had at least one link clicked."""
    return session.scalar(select(func.count(func.distinct(ClickTag.tag)))
                          .where(ClickTag.mailing_id == mailing_id)) or 0


def person_clicks(session: Session, mailing_id: int) -> list[tuple[str, int, datetime]]:
    """(address, link position, when) of each recorded per-person click, oldest first."""
    return [(email, pos, at) for email, pos, at in session.execute(
        select(OutboxRow.email, PersonClick.position, PersonClick.clicked_at)
        .join(OutboxRow, OutboxRow.id == PersonClick.outbox_id)
        .where(PersonClick.mailing_id == mailing_id)
        .order_by(PersonClick.clicked_at, PersonClick.id))]


def _rows_of(subscriber: Subscriber) -> Select[int]:
    return select(OutboxRow.id).where(or_(OutboxRow.subscriber_id == subscriber.id,
                                          OutboxRow.email_key == subscriber.email_key))


@personal_data_section("clicks")
def _report(session: Session, subscriber: Subscriber) -> JSONValue:
    """Links the person clicked (only recorded with ``click_tracking_per_person``)."""
    rows = session.execute(
        select(PersonClick.mailing_id, MailingLink.url, PersonClick.clicked_at)
        .join(MailingLink, (MailingLink.mailing_id == PersonClick.mailing_id)
              & (MailingLink.position == PersonClick.position))
        .where(PersonClick.outbox_id.in_(_rows_of(subscriber)))
        .order_by(PersonClick.clicked_at, PersonClick.id))
    return [{"mailing": mid, "url": url, "at": at.isoformat()} for mid, url, at in rows]


@on_erase
def _erase(session: Session, subscriber: Subscriber) -> None:
    """The person's clicks go; the counters (no one's) stay."""
    session.execute(delete(PersonClick).where(PersonClick.outbox_id.in_(_rows_of(subscriber)))
                    .execution_options(synchronize_session=False))
