"""Outbox SQL where the volume is: plan (INSERT … SELECT), claim, record, recover.

Every function takes a Session inside the caller's transaction and is set-based; none
creates an ORM object per recipient. The same statements run on SQLite and PostgreSQL;
on PostgreSQL the claim adds ``FOR UPDATE SKIP LOCKED`` so several workers can share
the outbox.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Executable,
    Select,
    String,
    Table,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from mailer.domain.addresses import email_hash
from mailer.domain.segments import Condition
from mailer.store import segments, tally, webhooks
from mailer.store.models import (
    Mailing,
    MailingKind,
    MailingStatus,
    Organisation,
    OutboxRow,
    OutboxStatus,
    OutboxTally,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    UTCDateTime,
)
from mailer.store.models.delivery import NOT_DELIVERED_SQL, REPLY_PREFIX, TIMED, TRANSACTIONAL
from mailer.store.suppressions import hash_of, suppressed_hashes

PENDING = (OutboxStatus.queued, OutboxStatus.retry)
OPEN = (OutboxStatus.queued, OutboxStatus.retry, OutboxStatus.sending)
#: A copy in one of these states reached the person or still will (or may have: unknown).
RECEIVED = (OutboxStatus.queued, OutboxStatus.retry, OutboxStatus.sending, OutboxStatus.sent,
            OutboxStatus.unknown)
#: Mailings that may still have open rows.
UNFINISHED = (MailingStatus.draft, MailingStatus.scheduled, MailingStatus.sending,
              MailingStatus.paused)


def relax_commit(session: Session) -> None:
    """On PostgreSQL, let this transaction's commit return before its WAL is flushed."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit = off"))


def _insert(session: Session) -> postgresql.Insert | sqlite.Insert:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(OutboxRow)
    return sqlite.insert(OutboxRow)


def _changed(session: Session, statement: Executable) -> int:
    """Run an UPDATE; the number of rows it changed."""
    result = cast("CursorResult[Any]", session.execute(statement))
    return int(result.rowcount or 0)


def _received_in(mailing_ids: Sequence[int], email_key: Any) -> ColumnElement[bool]:
    """True where the address has a copy of one of ``mailing_ids`` that reached it or will."""
    earlier = aliased(OutboxRow)
    return exists().where(earlier.mailing_id.in_(list(mailing_ids)),
                          earlier.email_key == email_key, earlier.status.in_(RECEIVED))


def plan_lists(session: Session, mailing_id: int, list_ids: Sequence[int],
               now: datetime, conditions: Sequence[Condition] = (), *,
               exclude_received_from: Sequence[int] = (), fresh: bool = False) -> int:
    """Queue every active subscriber of ``list_ids`` (who meets every one of
    ``conditions``) once; returns rows added.

    Idempotent: planning again adds only people who became active (or started to match)
    since. With ``exclude_received_from`` (earlier mailings of the same issue), people who
    got a copy of one of those, or still will, are left out.
    ``fresh``: the caller made the mailing in this transaction and it has no rows yet, so
    no row can conflict (the source yields each subscriber once, and a subscriber's
    ``email_key`` is unique): the rows go in with a plain INSERT. On PostgreSQL, ``ON
    CONFLICT DO NOTHING`` inserts each row speculatively, which cost about a tenth of
    planning a million (README, Large mailings).
    """
    if not list_ids:
        return 0
    left_out = ([~_received_in(exclude_received_from, Subscriber.email_key)]
                if exclude_received_from else [])
    ts = literal(now, UTCDateTime())
    # One list: a person is on it once (unique subscriber+list), so no GROUP BY — sorting
    # a million rows was most of planning. Several lists: once per person, the first list.
    one = len(set(list_ids)) == 1
    source = (
        select(
            literal(mailing_id), Subscriber.id,
            Subscription.list_id if one else func.min(Subscription.list_id),
            Subscriber.email, Subscriber.email_key, Subscriber.name,
            literal(OutboxStatus.queued.value), literal(0), ts, literal(""), literal(""),
            ts, ts,
        )
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)
        .where(Subscription.list_id.in_(list_ids),
               Subscription.status == SubscriptionStatus.active,
               # suppressed addresses (bounced, complained) are left out at planning
               ~exists().where(Suppression.email_key == Subscriber.email_key), *left_out)
    )
    if not one:
        source = source.group_by(Subscriber.id, Subscriber.email, Subscriber.email_key,
                                 Subscriber.name)
    source = segments.narrow(session, source, conditions)
    cols = ["mailing_id", "subscriber_id", "list_id", "email", "email_key", "name", "status",
            "attempts", "next_attempt_at", "last_reply", "message_id", "created_at",
            "updated_at"]
    stmt = _insert(session).from_select(cols, source)
    if not fresh:
        stmt = stmt.on_conflict_do_nothing(index_elements=["mailing_id", "email_key"])
    # Rows added, counted without a list of a million ids in memory: on PostgreSQL the
    # count of a data-modifying CTE's RETURNING (SQLAlchemy's psycopg gives -1 for this
    # statement's rowcount); on SQLite the statement's changes() (``rowcount``), which
    # SQLite counts exactly for INSERT … SELECT (ON CONFLICT skips are not counted; tested
    # by planning twice) — RETURNING would buffer every row there.
    if session.get_bind().dialect.name == "postgresql":
        added = int(session.execute(select(func.count()).select_from(
            stmt.returning(OutboxRow.id).cte("planned"))).scalar_one())
    else:
        result = session.execute(stmt)
        assert isinstance(result, CursorResult)  # an INSERT's result is a cursor's
        added = result.rowcount
    _tally_added(session, mailing_id, added)
    return added


def _tally_added(session: Session, mailing_id: int, n: int) -> None:
    """Count ``n`` rows just queued for ``mailing_id`` in ``outbox_tally``.

    Every INSERT into the outbox is one of planning's two (``plan_lists``,
    ``plan_explicit``), and each calls this with the rows it added, in its transaction;
    the triggers of migrations 0016 and 0017 count every later change. (An INSERT trigger would
    count them too, at 3.4 s on SQLite and about 2 s on PostgreSQL for a million.)
    SQLite keeps one tally row per mailing and status, as its triggers do; PostgreSQL
    appends one, as its triggers do.
    """
    if not n:
        return
    queued = OutboxStatus.queued.value
    if session.get_bind().dialect.name != "postgresql" and _changed(session, (
            update(OutboxTally)
            .where(OutboxTally.mailing_id == mailing_id, OutboxTally.status == queued,
                   OutboxTally.at.is_(None))
            .values(n=OutboxTally.n + n).execution_options(synchronize_session=False))):
        return
    session.execute(insert(OutboxTally).values(mailing_id=mailing_id, status=queued, n=n))


@dataclass(frozen=True, slots=True)
class PlannedRecipient:
    """An explicit recipient (invitations, reminders, tests), validated by the caller."""

    email: str
    name: str = ""
    subscriber_id: int | None = None
    list_id: int | None = None
    fields: dict[str, str] | None = None


def plan_explicit(session: Session, mailing_id: int, recipients: Iterable[PlannedRecipient],
                  now: datetime, *, suppressions_checked: bool = False) -> int:
    """Queue explicit recipients, once each (by case-folded address); returns rows added.

    Suppressed addresses are left out (``suppressions_checked``: the caller looked them up
    in this transaction already; a sign-up's one mail). The worker checks again when it
    claims a copy.
    """
    recipients = list(recipients)
    blocked = ({} if suppressions_checked else
               suppressed_hashes(session, [hash_of(r.email) for r in recipients]))
    if blocked:
        recipients = [r for r in recipients if hash_of(r.email) not in blocked]
    rows = [
        {"mailing_id": mailing_id, "subscriber_id": r.subscriber_id, "list_id": r.list_id,
         "email": r.email, "email_key": r.email.strip().lower(), "name": r.name,
         "fields": r.fields, "status": OutboxStatus.queued, "attempts": 0,
         "next_attempt_at": now, "last_reply": "", "message_id": "", "created_at": now,
         "updated_at": now}
        for r in recipients
    ]
    if not rows:
        return 0
    stmt = (_insert(session).on_conflict_do_nothing(index_elements=["mailing_id", "email_key"])
            .returning(OutboxRow.id))
    added = 0
    for i in range(0, len(rows), 1000):
        added += len(session.execute(stmt, rows[i:i + 1000]).all())
    _tally_added(session, mailing_id, added)
    return added


@dataclass(frozen=True, slots=True)
class Claimed:
    """An outbox row claimed for sending, with what the message needs."""

    id: int
    mailing_id: int
    subscriber_id: int | None
    list_id: int | None
    email: str
    name: str
    organisation: str
    fields: dict[str, str] | None
    attempts: int


def _of_kinds(kinds: Collection[MailingKind] | None) -> list[ColumnElement[bool]]:
    return [] if kinds is None else [Mailing.kind.in_([MailingKind(k) for k in kinds])]


#: How many mailings with due copies one claim looks at (each is one short index walk;
#: more wait for a later claim, oldest mailing first).
CLAIM_MAILINGS = 100


def _pick(session: Session, mailings: Sequence[DueMailing], limit: int,
          now: datetime) -> Select[tuple[int]]:
    """The ids of the ``limit`` earliest-due pending rows of ``mailings``, oldest first;
    the rows of transactional mailings (a sign-up's confirmation, a test) before any
    bulk copy, so a confirmation never waits behind a big newsletter's queue.

    One index walk per mailing and pending status (``ix_outbox_claim``: mailing, status,
    due time, id — already in claim order), each stopping after ``limit`` rows, then the
    earliest ``limit`` of those. It costs O(limit × mailings), never O(queued rows): one
    ``ORDER BY id`` over every due row sorted the whole queue for each batch, and the
    rows of paused, scheduled or draft mailings, or of other kinds, are never walked.
    """
    pg = session.get_bind().dialect.name == "postgresql"
    branches = []
    for mailing in mailings[:CLAIM_MAILINGS]:
        mid, rank = mailing.id, 0 if mailing.kind in TRANSACTIONAL else 1
        for status in PENDING:
            walk = (select(OutboxRow.id, OutboxRow.next_attempt_at)
                    .where(OutboxRow.mailing_id == mid, OutboxRow.status == status,
                           OutboxRow.next_attempt_at <= now)
                    .order_by(OutboxRow.next_attempt_at, OutboxRow.id)
                    .limit(limit))
            if pg:  # several workers share the outbox: each takes rows no other holds
                walk = walk.with_for_update(skip_locked=True)
            sub = walk.subquery()
            branches.append(select(sub.c.id, sub.c.next_attempt_at,
                                   literal(rank).label("rank")))
    both = union_all(*branches).subquery()
    return (select(both.c.id).order_by(both.c.rank, both.c.next_attempt_at, both.c.id)
            .limit(limit))


def claim_batch(session: Session, worker_id: str, limit: int, now: datetime,
                kinds: Collection[MailingKind] | None = None, *,
                due: Sequence[DueMailing] | None = None) -> list[Claimed]:
    """Mark up to ``limit`` due rows of sending mailings as ours; skip withdrawn consent.

    One short transaction (the caller's). The earliest-due rows go first, by id among
    rows due at the same time (a planned mailing's rows all are: planning order).
    Consent is re-checked here, at send time: a list recipient must still have an
    active subscription on the row's list, else the row becomes ``skipped``. With
    ``kinds``, only rows of mailings of those kinds. ``due``: the caller's
    ``due_mailings`` of this transaction, after its ``expire_overdue`` (the worker asks
    once per claim for its send windows too); without it both run here.
    """
    if due is None:
        expire_overdue(session, now, kinds)
        due = due_mailings(session, now, kinds)
    if not due:
        return []
    ids = [r[0] for r in session.execute(
        update(OutboxRow)
        .where(OutboxRow.id.in_(_pick(session, due, limit, now).scalar_subquery()))
        .values(status=OutboxStatus.sending, claimed_by=worker_id, claimed_at=now,
                attempts=OutboxRow.attempts + 1, updated_at=now)
        .returning(OutboxRow.id)
        .execution_options(synchronize_session=False)
    )]
    if not ids:
        return []
    # The row's list is the one its List-Unsubscribe link names: unsubscribing from it
    # after planning stops this message, even if the person is on another target list.
    # Joined on the unique (subscriber, list) key: an EXISTS that also named the status
    # let PostgreSQL (without statistics yet, as after an import) walk the list's
    # (list, status) index to each subscriber instead, O(list) per row.
    consent = and_(Subscription.id.is_not(None),
                   Subscription.status == SubscriptionStatus.active)
    rows = session.execute(
        select(OutboxRow.id, OutboxRow.mailing_id, OutboxRow.subscriber_id, OutboxRow.list_id,
               OutboxRow.email, func.coalesce(Subscriber.name, OutboxRow.name),
               func.coalesce(Organisation.name, ""), OutboxRow.fields, OutboxRow.attempts,
               # list mail needs consent; explicit rows (no list) need none beyond planning
               or_(OutboxRow.list_id.is_(None), consent), OutboxRow.email_key,
               Subscriber.id)
        .outerjoin(Subscriber, Subscriber.id == OutboxRow.subscriber_id)
        .outerjoin(Organisation, Organisation.id == Subscriber.organisation_id)
        .outerjoin(Subscription, and_(Subscription.subscriber_id == OutboxRow.subscriber_id,
                                      Subscription.list_id == OutboxRow.list_id))
        .where(OutboxRow.id.in_(ids))
        .order_by(OutboxRow.id)
    ).all()
    out, withdrawn, erased = [], [], []
    # Checked again at send time: a bounce or complaint may have arrived since planning,
    # and an erased entry matches by hash only.
    hashes = [email_hash(r[10]) for r in rows]
    blocked = suppressed_hashes(session, hashes)
    suppressed: list[int] = []
    for r, h in zip(rows, hashes, strict=True):
        if r[2] is not None and r[11] is None:
            # The subscriber was erased after this row was planned (planning read them
            # just before the erasure committed; the outbox has no foreign key to stop
            # it): never sent, and the row goes too, as erasure's own did.
            erased.append(r[0])
        elif h in blocked:
            suppressed.append(r[0])
        elif r[9]:
            out.append(Claimed(r[0], r[1], r[2], r[3], r[4], r[5] or "", r[6], r[7], r[8]))
        else:
            withdrawn.append(r[0])
    if suppressed:
        session.execute(
            update(OutboxRow).where(OutboxRow.id.in_(suppressed))
            .values(status=OutboxStatus.skipped, claimed_by=None, updated_at=now,
                    last_reply="not sent: the address is on the suppression list "
                               "(bounced, complained or added by hand)")
            .execution_options(synchronize_session=False))
    if erased:
        session.execute(delete(OutboxRow).where(OutboxRow.id.in_(erased))
                        .execution_options(synchronize_session=False))
    if withdrawn:
        session.execute(
            update(OutboxRow).where(OutboxRow.id.in_(withdrawn))
            .values(status=OutboxStatus.skipped, claimed_by=None, updated_at=now,
                    last_reply="not sent: unsubscribed after the mailing was planned")
            .execution_options(synchronize_session=False))
    return out


@dataclass(frozen=True, slots=True)
class Record:
    """The outcome of one claimed row, to write back."""

    id: int
    status: OutboxStatus
    reply: str
    message_id: str
    next_attempt_at: datetime
    sent_at: datetime | None


_TABLE = cast(Table, OutboxRow.__table__)
#: SQLite: one outcome per execution of an executemany (its triggers are per row).
_RECORD = (
    update(_TABLE)
    .where(and_(_TABLE.c.id == bindparam("b_id"),
                _TABLE.c.claimed_by == bindparam("b_worker")))
    .values(status=bindparam("b_status"), last_reply=bindparam("b_reply"),
            message_id=bindparam("b_mid"), next_attempt_at=bindparam("b_next"),
            sent_at=bindparam("b_sent"), updated_at=bindparam("b_now"), claimed_by=None)
)
#: PostgreSQL: every outcome in one statement, its columns as arrays. The outbox's
#: statement triggers (the tally, migration 0016) run once per statement, and an
#: executemany is a statement per row; a ``VALUES`` list instead cost SQLAlchemy about
#: 18 ms to compile for 64 outcomes (its shape changes with the count: nothing cached).
_RECORD_PG = text("""
    UPDATE outbox SET status = r.status, last_reply = r.reply, message_id = r.mid,
           next_attempt_at = r.next, sent_at = r.sent, updated_at = :now, claimed_by = NULL
      FROM unnest(CAST(:ids AS integer[]), CAST(:statuses AS varchar[]),
                  CAST(:replies AS varchar[]), CAST(:mids AS varchar[]),
                  CAST(:nexts AS timestamptz[]), CAST(:sents AS timestamptz[]))
           AS r(id, status, reply, mid, next, sent)
     WHERE outbox.id = r.id AND outbox.claimed_by = :worker
""")


def record_outcomes(session: Session, worker_id: str, records: Sequence[Record],
                    now: datetime) -> None:
    """Write many outcomes in one statement batch (the caller commits once). A row is
    written only while this worker still holds its claim."""
    if not records:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_RECORD_PG, {
            "ids": [r.id for r in records], "statuses": [r.status.value for r in records],
            "replies": [r.reply for r in records], "mids": [r.message_id for r in records],
            "nexts": [r.next_attempt_at for r in records],
            "sents": [r.sent_at for r in records], "now": now, "worker": worker_id})
        return
    session.connection().execute(_RECORD, [
        {"b_id": r.id, "b_worker": worker_id, "b_status": r.status.value, "b_reply": r.reply,
         "b_mid": r.message_id, "b_next": r.next_attempt_at, "b_sent": r.sent_at,
         "b_now": now}
        for r in records
    ])


def requeue_claims(session: Session, worker_ids: Sequence[str], now: datetime,
                   reason: str, max_attempts: int | None = None) -> int:
    """Put rows claimed by dead workers back in the queue; returns how many.

    These are the messages that were in flight when a worker died: some may have been
    accepted by the server (the at-least-once window between its 250 and our commit).
    """
    if not worker_ids:
        return 0
    claimed = (OutboxRow.status == OutboxStatus.sending, OutboxRow.claimed_by.in_(worker_ids))
    # A row whose every attempt ended in a crashed worker (a message that crashes us) is
    # given up after max_attempts instead of taking every future worker down with it.
    if max_attempts is not None:
        session.execute(
            update(OutboxRow).where(*claimed, OutboxRow.attempts >= max_attempts)
            .values(status=OutboxStatus.failed, claimed_by=None, updated_at=now,
                    last_reply=f"gave up after {max_attempts} attempts; the last ones ended "
                               f"with the worker stopping ({reason})")
            .execution_options(synchronize_session=False))
    return _changed(session, (
        update(OutboxRow)
        .where(*claimed)
        .values(status=OutboxStatus.retry, claimed_by=None, next_attempt_at=now,
                updated_at=now, last_reply=reason)
        .execution_options(synchronize_session=False)))


def release_claims(session: Session, worker_id: str, ids: Sequence[int], now: datetime,
                   next_attempt_at: datetime, reason: str | None = None) -> int:
    """Give claimed rows back unsent, as if never claimed (the attempt is not counted).

    For rows a stopping worker had not sent yet, and rows no server would take (login
    refused, every server resting): they wait for ``next_attempt_at``, nothing fails.
    """
    done = 0
    for i in range(0, len(ids), 500):
        values: dict[str, Any] = {
            "status": case((OutboxRow.attempts > 1, OutboxStatus.retry.value),
                           else_=OutboxStatus.queued.value),
            "attempts": OutboxRow.attempts - 1, "claimed_by": None,
            "next_attempt_at": next_attempt_at, "updated_at": now}
        if reason is not None:
            values["last_reply"] = reason[:1000]
        done += _changed(session, (
            update(OutboxRow)
            .where(OutboxRow.id.in_(ids[i:i + 500]), OutboxRow.claimed_by == worker_id,
                   OutboxRow.status == OutboxStatus.sending)
            .values(**values)
            .execution_options(synchronize_session=False)))
    return done


def count_pending(session: Session, now: datetime,
                  kinds: Collection[MailingKind] | None = None) -> int:
    """Rows of sending mailings that are due now and wait to be claimed."""
    return session.scalar(
        select(func.count()).select_from(OutboxRow)
        .join(Mailing, Mailing.id == OutboxRow.mailing_id)
        .where(OutboxRow.status.in_(PENDING), OutboxRow.next_attempt_at <= now,
               Mailing.status == MailingStatus.sending, *_of_kinds(kinds))) or 0


def settle_from_journal(session: Session, worker_id: str, outcomes: dict[int, str],
                        now: datetime, *, replies: dict[int, str] | None = None) -> list[int]:
    """Apply a dead worker's journaled final outcomes to its rows still in ``sending``;
    returns the ids settled (rows committed before the crash are left alone). A row
    with a journaled reply (a refusal) keeps it as its ``last_reply``."""
    done: list[int] = []
    note = "recorded from the journal of a worker that stopped"
    final = {"sent": OutboxStatus.sent, "failed": OutboxStatus.failed,
             "unknown": OutboxStatus.unknown}
    by_status: dict[OutboxStatus, list[int]] = {}
    for oid, status in outcomes.items():
        if status in final:
            by_status.setdefault(final[status], []).append(oid)
    for status, ids in by_status.items():
        for i in range(0, len(ids), 500):
            done += session.scalars(
                update(OutboxRow)
                .where(OutboxRow.id.in_(ids[i:i + 500]), OutboxRow.claimed_by == worker_id,
                       OutboxRow.status == OutboxStatus.sending)
                .values(status=status, claimed_by=None, updated_at=now,
                        sent_at=now if status is OutboxStatus.sent else None,
                        last_reply=note)
                .returning(OutboxRow.id)
                .execution_options(synchronize_session=False)).all()
    for oid in done:  # only the few in flight at the crash
        reply = (replies or {}).get(oid)
        if reply:
            session.execute(update(OutboxRow).where(OutboxRow.id == oid)
                            .values(last_reply=f"{reply} ({note})"[:1000])
                            .execution_options(synchronize_session=False))
    return done


def expire_overdue(session: Session, now: datetime,
                   kinds: Collection[MailingKind] | None = None) -> int:
    """Skip the open rows of mailings (of ``kinds``) whose ``expires_at`` has passed;
    returns how many."""
    # Only mailings that can still have open rows (done, cancelled and missed ones have
    # none): the claim asks this each batch, and old expired mailings pile up.
    expired = select(Mailing.id).where(Mailing.status.in_(UNFINISHED),
                                       Mailing.expires_at.is_not(None),
                                       Mailing.expires_at <= now, *_of_kinds(kinds))
    return _changed(session, (
        update(OutboxRow)
        .where(OutboxRow.status.in_(PENDING), OutboxRow.mailing_id.in_(expired))
        .values(status=OutboxStatus.skipped, updated_at=now,
                last_reply="not sent: the mailing expired (e.g. the registration deadline "
                           "passed) before this copy could be delivered")
        .execution_options(synchronize_session=False)))


def claim_holders(session: Session) -> list[str]:
    """Workers that hold rows in ``sending``."""
    return list(session.scalars(
        select(OutboxRow.claimed_by).where(OutboxRow.status == OutboxStatus.sending,
                                           OutboxRow.claimed_by.is_not(None)).distinct()))


def finish_mailings(session: Session, now: datetime,
                    kinds: Collection[MailingKind] | None = None) -> list[int]:
    """Mark sending mailings (of ``kinds``) with no open row as done; returns their ids."""
    open_rows = exists().where(OutboxRow.mailing_id == Mailing.id, OutboxRow.status.in_(OPEN))
    ids = list(session.scalars(
        select(Mailing.id).where(Mailing.status == MailingStatus.sending, ~open_rows,
                                 *_of_kinds(kinds))))
    if ids:
        session.execute(update(Mailing).where(Mailing.id.in_(ids))
                        .values(status=MailingStatus.done, finished_at=now, updated_at=now)
                        .execution_options(synchronize_session=False))
        webhooks.mailings_finished(session, ids, counts(session, ids), now)
    return ids


def skip_pending(session: Session, mailing_id: int, now: datetime, reason: str) -> int:
    """Skip the rows of a mailing that were not sent yet (cancel, missed)."""
    return _changed(session, (
        update(OutboxRow)
        .where(OutboxRow.mailing_id == mailing_id, OutboxRow.status.in_(PENDING))
        .values(status=OutboxStatus.skipped, last_reply=reason, updated_at=now)
        .execution_options(synchronize_session=False)))


def counts(session: Session, mailing_ids: Sequence[int] | None = None) -> dict[int, dict[str, int]]:
    """Rows per status for each mailing (statuses with no row left out).

    Read from ``outbox_tally``, which the database keeps in step with the outbox in the
    same transactions (``models.delivery.OutboxTally``): a few rows per mailing whatever
    its size, and exactly the rows this transaction's snapshot sees.
    """
    total = func.sum(OutboxTally.n)
    q = (select(OutboxTally.mailing_id, OutboxTally.status, total)
         .group_by(OutboxTally.mailing_id, OutboxTally.status).having(total != 0))
    if mailing_ids is not None:
        q = q.where(OutboxTally.mailing_id.in_(mailing_ids))
    out: dict[int, dict[str, int]] = {}
    for mid, status, n in session.execute(q):
        out.setdefault(mid, {})[str(OutboxStatus(status))] = int(n)
    return out


#: ``pg_try_advisory_xact_lock`` key of ``compact_tally`` ("mailtaly"): one folds at a time.
TALLY_LOCK_KEY = int.from_bytes(b"mailtaly", "big") & 0x7FFF_FFFF_FFFF_FFFF


def compact_tally(session: Session) -> None:
    """PostgreSQL: fold each mailing's tally rows into one per status and second (the
    statement triggers append one per change); a no-op on SQLite (``store.tally.fold``)."""
    tally.fold(session, OutboxTally, ("mailing_id", "status", "at"), TALLY_LOCK_KEY)


def outcome_seconds(session: Session, mailing_id: int
                    ) -> list[tuple[OutboxStatus, datetime, int]]:
    """(state, second, rows) of a mailing's copies in the ``TIMED`` states, by the second
    in which they reached it, oldest first: summed from ``outbox_tally`` (one row per
    second with outcomes, whatever the mailing's size), exactly what grouping the
    mailing's rows by ``sent_at`` (else ``updated_at``) to the second would say."""
    t = OutboxTally
    total = func.sum(t.n)
    rows = session.execute(
        select(t.status, t.at, total)
        .where(t.mailing_id == mailing_id, t.status.in_([s.value for s in TIMED]),
               t.at.is_not(None))
        .group_by(t.status, t.at).having(total != 0).order_by(t.at, t.status))
    return [(OutboxStatus(status), cast(datetime, at), int(n)) for status, at, n in rows]


def next_due(session: Session, kinds: Collection[MailingKind] | None = None) -> datetime | None:
    """When the next pending row of a sending mailing (of ``kinds``) becomes due.

    The first entry of ``ix_outbox_claim`` per sending mailing and pending status: one
    index seek each, not a minimum over every pending row."""
    firsts = [select(OutboxRow.next_attempt_at)
              .where(OutboxRow.mailing_id == Mailing.id, OutboxRow.status == status)
              .order_by(OutboxRow.next_attempt_at).limit(1)
              .correlate(Mailing).scalar_subquery()
              for status in PENDING]
    row = session.execute(
        select(*(func.min(first) for first in firsts))
        .where(Mailing.status == MailingStatus.sending, *_of_kinds(kinds))).one()
    return min((t for t in row if t is not None), default=None)


@dataclass(frozen=True, slots=True)
class DueMailing:
    """A sending mailing with copies due now: what the send window needs to know."""

    id: int
    kind: MailingKind
    send_window: str
    expires_at: datetime | None


def due_mailings(session: Session, now: datetime,
                 kinds: Collection[MailingKind] | None = None) -> list[DueMailing]:
    """Sending mailings (of ``kinds``) that have pending rows due at ``now``: the
    transactional ones first, then oldest first; one index seek per sending mailing."""
    due = exists().where(OutboxRow.mailing_id == Mailing.id, OutboxRow.status.in_(PENDING),
                         OutboxRow.next_attempt_at <= now)
    return [DueMailing(mid, MailingKind(kind), window or "", expires)
            for mid, kind, window, expires in session.execute(
                select(Mailing.id, Mailing.kind, Mailing.send_window, Mailing.expires_at)
                .where(Mailing.status == MailingStatus.sending, due, *_of_kinds(kinds))
                .order_by(case((Mailing.kind.in_(sorted(TRANSACTIONAL)), 0), else_=1),
                          Mailing.id))]


def defer(session: Session, mailing_id: int, until: datetime, now: datetime) -> int:
    """Move the pending rows of a mailing due before ``until`` to ``until`` (a send window
    that is closed now); one UPDATE, returns rows moved."""
    return _changed(session, (
        update(OutboxRow)
        .where(OutboxRow.mailing_id == mailing_id, OutboxRow.status.in_(PENDING),
               OutboxRow.next_attempt_at < until)
        .values(next_attempt_at=until, updated_at=now)
        .execution_options(synchronize_session=False)))


def count_retries(session: Session) -> int:
    """Rows waiting for a later retry."""
    return session.scalar(select(func.count()).select_from(OutboxRow)
                          .where(OutboxRow.status == OutboxStatus.retry)) or 0


def failures(session: Session, *, limit: int,
             mailing_id: int | None = None) -> list[tuple[OutboxRow, str]]:
    """The latest rows that failed (or wait to retry), with their mailing's name."""
    q = (select(OutboxRow, Mailing.name).join(Mailing, Mailing.id == OutboxRow.mailing_id)
         .where(OutboxRow.status.in_([OutboxStatus.failed, OutboxStatus.unknown,
                                      OutboxStatus.retry]))
         .order_by(OutboxRow.updated_at.desc(), OutboxRow.id.desc()).limit(limit))
    if mailing_id is not None:
        q = q.where(OutboxRow.mailing_id == mailing_id)
    return [(row, name) for row, name in session.execute(q)]


def copies_of(session: Session, mailing_ids: Sequence[int]) -> list[OutboxRow]:
    """Every copy of a few small mailings (a test's, 20 at most each), by mailing and id:
    each address's own state, attempts, last reply and times (a mailing's progress counts
    them, ``counts``; this is for the pages that name each address)."""
    if not mailing_ids:
        return []
    return list(session.scalars(select(OutboxRow).where(OutboxRow.mailing_id.in_(mailing_ids))
                                .order_by(OutboxRow.mailing_id.desc(), OutboxRow.id)))


@dataclass(frozen=True, slots=True)
class AudienceRow:
    """One subscription a send to a list would look at (what a dry run counts)."""

    list_id: int
    subscriber_id: int
    status: SubscriptionStatus
    suppressed: bool  # the address is on the suppression list
    received: bool  # got (or will get) a copy of one of ``received_from``


def list_audience(session: Session, list_ids: Sequence[int],
                  received_from: Sequence[int] = (),
                  conditions: Sequence[Condition] = ()) -> list[AudienceRow]:
    """Every subscription of ``list_ids`` (any status) whose subscriber meets every one of
    ``conditions``, with what ``plan_lists`` would leave it out for: its status, a
    suppressed address, a copy of ``received_from``. Ordered by list id, as planning
    gives a person on several lists to the first; changes nothing."""
    if not list_ids:
        return []
    got = (_received_in(received_from, Subscriber.email_key) if received_from
           else literal(False))
    suppressed = exists().where(Suppression.email_key == Subscriber.email_key)
    query = (select(Subscription.list_id, Subscriber.id, Subscription.status, suppressed, got)
             .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
             .where(Subscription.list_id.in_(list_ids)))
    query = segments.narrow(session, query, conditions)
    return [AudienceRow(lid, sid, SubscriptionStatus(status), bool(sup), bool(r))
            for lid, sid, status, sup, r in session.execute(
                query.order_by(Subscription.list_id, Subscriber.id))]


def not_delivered_query(mailing_ids: Sequence[int] | None = None
                        ) -> Select[int, OutboxStatus, str, int]:
    """(mailing, status, reply up to its 200th character, copies) of the skipped, failed
    and unknown copies, served by ``ix_outbox_not_delivered`` (partial: only these
    copies), so a mailing's page costs its not-delivered copies' index entries, not a
    look-up of each copy (README, Admin pages at a million). The WHERE is the index's
    in the same words (``NOT_DELIVERED_SQL``): SQLite uses a partial index only then."""
    reply: ColumnElement[str] = literal_column(REPLY_PREFIX, String)
    q = (select(OutboxRow.mailing_id, OutboxRow.status, reply, func.count())
         .where(text(NOT_DELIVERED_SQL))
         .group_by(OutboxRow.mailing_id, OutboxRow.status, reply))
    if mailing_ids is not None:
        q = q.where(OutboxRow.mailing_id.in_(mailing_ids))
    return q


def not_delivered(session: Session, mailing_ids: Sequence[int] | None = None
                  ) -> dict[int, list[tuple[str, str, int]]]:
    """Per mailing, (status, reply, count) of its skipped, failed and unknown copies; the
    reply up to its 200th character (``REPLY_PREFIX``: a reason is read from a reply's
    beginning, its example shown up to that length)."""
    out: dict[int, list[tuple[str, str, int]]] = {}
    for mid, status, reply, n in session.execute(not_delivered_query(mailing_ids)):
        out.setdefault(mid, []).append((str(OutboxStatus(status)), reply or "", n))
    return out


def last_delivery(session: Session) -> datetime | None:
    """When a worker (any: a running one or a finished ``worker --drain``) last recorded a
    delivery outcome, to the second: the newest sent, failed, unknown or retry row,
    from ``outbox_tally`` (its rows of those states, one per mailing and second)."""
    t = OutboxTally
    outcomes = [s.value for s in (OutboxStatus.sent, OutboxStatus.failed,
                                  OutboxStatus.unknown, OutboxStatus.retry)]
    seconds = (select(t.at).where(t.status.in_(outcomes), t.at.is_not(None))
               .group_by(t.mailing_id, t.status, t.at).having(func.sum(t.n) != 0).subquery())
    return cast(datetime | None, session.scalar(select(func.max(seconds.c.at))))
