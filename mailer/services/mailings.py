"""Mailing use cases: plan (now, at a time, a test), pause, resume, cancel, start due,
progress, timeline, failures, and the health of workers and scheduler."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import PurePath

from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.delivery.message import clean_header_value
from mailer.domain.addresses import AddressError, normalise_address
from mailer.domain.findings import Msg, msg, msgn
from mailer.domain.outcomes import (
    NOTE_CANCELLED,
    NOTE_PAUSED,
    Reason,
    group_reasons,
    note,
)
from mailer.domain.segments import Condition
from mailer.domain.segments import texts as segment_texts
from mailer.domain.sendwindow import SendWindow, WindowError
from mailer.domain.text import clean_line, has_control
from mailer.errors import MailerError, NotFound, message_of
from mailer.render.sample import sample_values
from mailer.render.types import RenderedMailing
from mailer.schedule.lock import NAME as SCHEDULER_LOCK
from mailer.services.brands import Signature
from mailer.services.deliverability import SenderHealth, sender_health
from mailer.store import mailings as store
from mailer.store import outbox, scheduler, suppressions, webhooks, workers
from mailer.store.lists import ListCounts, get_list, list_counts
from mailer.store.mailings import DueReport, count_mailings, start_due
from mailer.store.models import (
    FINAL,
    Mailing,
    MailingKind,
    MailingList,
    MailingStatus,
    OutboxStatus,
    SubscriptionStatus,
)
from mailer.store.models.delivery import MailingHeaders
from mailer.store.outbox import PlannedRecipient

__all__ = ["PlannedRecipient", "plan_mailing", "plan_issue", "plan_test", "pause", "resume",
           "cancel", "control", "start_due", "progress", "get_mailing", "mailing_kind",
           "MailingProgress", "DueReport", "Planned", "timeline", "recent_failures", "health",
           "dashboard", "mailings_for_source", "mailings_by_source", "test_addresses",
           "target_lists", "AlreadySent", "EarlierSend", "earlier_sends", "dry_run", "DryRun",
           "ListPlan", "TrackClicks", "count_mailings", "NobodyToSend"]


def plan_mailing(
    session: Session,
    rendered: RenderedMailing,
    *,
    kind: MailingKind | str,
    now: datetime,
    name: str = "",
    source: str = "",
    list_slugs: Sequence[str] = (),
    recipients: Iterable[PlannedRecipient] | None = None,
    at: datetime | None = None,
    expires_at: datetime | None = None,
    unsubscribe_mailto: str = "",
    audience: Sequence[Condition] = (),
    segment: str = "",
    send_window: str = "",
    exclude_received_from: Sequence[int] = (),
    track_clicks: TrackClicks | None = None,
    signature: Signature | None = None,
    suppressions_checked: bool = False,
    tz: tzinfo = UTC,
) -> tuple[Mailing, int]:
    """Store the rendered parts once and queue one outbox row per recipient.

    ``list_slugs`` targets every active subscriber of those lists (set-based); and/or
    ``recipients`` names people explicitly (reminders, tests). Without ``at`` the
    mailing is sending at once; with ``at`` (aware, future) it is scheduled and
    re-planned when it starts, so people who subscribe meanwhile get it too.
    With ``expires_at``, copies not sent by then are skipped (reminders: the deadline).
    ``audience`` narrows the lists to the subscribers meeting every condition (in SQL,
    now and again when a scheduled mailing starts); ``segment`` names the saved segment
    they came from. ``send_window`` ("Mon-Fri 08:00-17:00", "off", or "" for the
    workspace's) is when the worker lets copies go.
    With ``exclude_received_from``, list members who got (or will get) a copy of one of
    those mailings are left out, now and when a scheduled mailing starts.
    With ``track_clicks``, its links count clicks (``services.clicks``).
    ``signature`` (``services.brands``) is the newsletter's brand with the From and
    Reply-To the worker signs with; without it, MAILER_FROM and MAILER_REPLY_TO.
    ``suppressions_checked``: the caller looked ``recipients`` up on the suppression list
    in this transaction (``outbox.plan_explicit``). ``tz``: the workspace's time zone, in
    which a refused ``at`` is named.
    Returns the mailing and the number of rows queued.
    """
    kind = MailingKind(kind)
    clean_header_value(rendered.subject, "the subject")
    if not rendered.subject.strip():
        raise MailerError(msg("the mailing has no subject"))
    check_send_time(at, now, tz)
    lists = [get_list(session, slug) for slug in list_slugs]
    if audience and not lists:
        raise MailerError(msg("conditions (--where, a segment) narrow lists: give a list "
                              "too").with_admin(msg("conditions (a segment) narrow lists: "
                                                    "choose a list too")).with_api(msg(
            "conditions (where, a segment) narrow lists: give lists too")), field="lists")
    send_window = check_window(send_window)
    if not lists and recipients is None:
        raise MailerError(msg("a mailing needs at least one list (--list SLUG) or "
                              "recipients").with_admin(msg("choose at least one list")
                                                       ).with_api(msg(
            "a mailing needs at least one list: give lists")), field="lists")
    headers: MailingHeaders = {"mid_salt": secrets.token_hex(4)}
    if lists:
        headers["list_slug"] = lists[0].slug
        headers["list_name"] = lists[0].name
    if unsubscribe_mailto:
        headers["unsubscribe_mailto"] = unsubscribe_mailto
    if exclude_received_from:
        headers["exclude_received_from"] = sorted(set(exclude_received_from))
    if rendered.attachments:
        headers["attachments"] = [
            {"filename": a.filename, "content_type": a.content_type,
             "data": base64.b64encode(a.data).decode("ascii")} for a in rendered.attachments]
    mailing = Mailing(
        kind=kind, name=name or rendered.subject, source=source,
        status=MailingStatus.scheduled if at else MailingStatus.sending,
        list_ids=[lst.id for lst in lists], subject=rendered.subject, html=rendered.html,
        text=rendered.text, language=rendered.language, preheader=rendered.preheader,
        headers=headers, scheduled_at=at, started_at=None if at else now,
        expires_at=expires_at, audience=segment_texts(audience), segment=segment,
        send_window=send_window,
    )
    if signature is not None:
        mailing.brand = signature.brand
        mailing.sender = signature.sender
        mailing.reply_to = signature.reply_to
    store.add(session, mailing)
    if track_clicks is not None:
        from mailer.services.clicks import prepare

        prepare(session, mailing, track_clicks.base_url, per_person=track_clicks.per_person)
    planned = outbox.plan_lists(session, mailing.id, mailing.list_ids, now, audience,
                                exclude_received_from=exclude_received_from, fresh=True)
    if recipients is not None:
        planned += outbox.plan_explicit(session, mailing.id, _checked(recipients), now,
                                        suppressions_checked=suppressions_checked)
    return mailing, planned


def check_send_time(at: datetime | None, now: datetime, tz: tzinfo = UTC) -> None:
    """A mailing's ``at``: none (now), or an aware time in the future. A time in the past
    is named in ``tz``, the workspace's time zone the editor typed it in."""
    if at is not None:
        if at.tzinfo is None:
            raise MailerError(msg("the send time must carry a time zone"), field="at")
        if at <= now:
            when = f"{at.astimezone(tz):%Y-%m-%d %H:%M} ({tz})"
            raise MailerError(msg("the send time %(at)s is in the past; leave the time out "
                                  "(--at) to send now", at=when).with_admin(msg(
                                      "the send time %(at)s is in the past; leave the time "
                                      "empty to send now", at=when)).with_api(msg(
                                          "the send time %(at)s is in the past; leave the "
                                          "time out (no \"at\") to send now", at=when)),
                              field="at")


def check_window(text: str) -> str:
    """A mailing's send window as stored: "" (the workspace's), "off", or a window that
    parses ("Mon-Fri 08:00-17:00")."""
    text = (text or "").strip()
    if text.lower() in ("", "off"):
        return text.lower()
    try:
        SendWindow.parse(text)
    except WindowError as exc:
        raise MailerError(msg("%(problem)s (or 'off' to send at any time)",
                              problem=message_of(exc))) from None
    return text


@dataclass(frozen=True, slots=True)
class TrackClicks:
    """Click statistics for a mailing: links go through ``base_url/l/…``; ``per_person``
    is the workspace's ``click_tracking_per_person``."""

    base_url: str
    per_person: bool = False

    @classmethod
    def of(cls, settings: Settings) -> TrackClicks:
        return cls(settings.base_url, settings.click_tracking_per_person)


def _checked(recipients: Iterable[PlannedRecipient]) -> list[PlannedRecipient]:
    """The recipients with their names cleaned (``clean_line``). One bad recipient never
    refuses the rest: an address with a control character or without ``@`` is queued and
    fails alone at send time with its reason. Only a single named recipient (a test send
    to an address someone just typed) is refused at once."""
    out = [replace(r, name=clean_line(r.name)) if r.name and has_control(r.name) else r
           for r in recipients]
    if len(out) == 1:
        clean_header_value(out[0].email, "the recipient address")
        if "@" not in out[0].email:
            raise MailerError(msg("%(email)r is not an e-mail address", email=out[0].email))
    return out


def _status(status: str) -> str:
    """A mailing's state as a message the admin shows in its language (``done``: klart)."""
    return msg(str(status))  # the states' Swedish words are in admin.po


def get_mailing(session: Session, ref: str | int) -> Mailing:
    """A mailing by id (``12``) or exact name."""
    if isinstance(ref, int) or str(ref).isdigit():
        m = store.get(session, int(ref))
    else:
        m = store.latest_named(session, str(ref))
    if m is None:
        raise NotFound(msg("no mailing %(ref)r; see 'mailer mailings' for the list",
                           ref=ref).with_admin(msg(
            "no mailing %(ref)r; the Mailings page lists them", ref=ref)).with_api(msg(
                "no mailing %(ref)r; GET /api/mailings lists them", ref=ref)))
    return m


def mailing_kind(session: Session, ref: str | int) -> MailingKind:
    return get_mailing(session, ref).kind


def pause(session: Session, ref: str | int, now: datetime) -> Mailing:
    m = get_mailing(session, ref)
    if m.status not in (MailingStatus.sending, MailingStatus.scheduled):
        raise MailerError(msg("mailing %(id)s is %(status)s; only a sending or scheduled "
                              "mailing can be paused", id=m.id, status=_status(m.status)))
    m.note = note(NOTE_PAUSED, status=m.status)
    m.status = MailingStatus.paused
    m.updated_at = now
    return m


def resume(session: Session, ref: str | int, now: datetime) -> Mailing:
    m = get_mailing(session, ref)
    if m.status is not MailingStatus.paused:
        raise MailerError(msg("mailing %(id)s is %(status)s, not paused", id=m.id,
                              status=_status(m.status)))
    # A scheduled mailing that never started goes back to waiting, even when its time has
    # passed: starting it is start_due's job, which re-plans people who subscribed meanwhile
    # and applies the misfire grace like for any late mailing.
    if m.scheduled_at is not None and m.started_at is None:
        m.status = MailingStatus.scheduled
    else:
        m.status = MailingStatus.sending
        m.started_at = m.started_at or now
    m.note = ""
    m.updated_at = now
    return m


def cancel(session: Session, ref: str | int, now: datetime) -> tuple[Mailing, int]:
    """Stop a mailing for good: rows not sent yet are skipped. Returns rows skipped."""
    m = get_mailing(session, ref)
    if m.status in (MailingStatus.done, MailingStatus.cancelled, MailingStatus.missed):
        raise MailerError(msg("mailing %(id)s is %(status)s already", id=m.id,
                              status=_status(m.status)))
    m.status = MailingStatus.cancelled
    m.finished_at = now
    m.updated_at = now
    skipped = outbox.skip_pending(session, m.id, now, "not sent: the mailing was cancelled")
    m.note = note(NOTE_CANCELLED, n=skipped)
    webhooks.mailing_cancelled(session, m, "cancelled", not_sent=skipped,
                               counts=outbox.counts(session, [m.id]).get(m.id, {}), now=now)
    return m, skipped


@dataclass(frozen=True, slots=True)
class MailingProgress:
    id: int
    kind: str
    name: str
    status: str
    scheduled_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    counts: dict[str, int]
    note: str
    health: SenderHealth | None = None  # what receivers said: bounces, complaints…
    audience: tuple[str, ...] = ()  # the conditions narrowing its lists
    segment: str = ""
    send_window: str = ""
    #: why copies were skipped, failed or are unknown, grouped (``domain.outcomes``)
    reasons: tuple[Reason, ...] = ()
    brand: str = ""  # the newsletter it went out as ("" = the workspace's)
    sender: str = ""  # the From it was planned with ("" = MAILER_FROM at sending)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def done(self) -> int:
        return sum(self.counts.get(s, 0) for s in ("sent", "failed", "skipped", "unknown"))


def progress(session: Session, mailing_ids: Sequence[int] | None = None, *,
             limit: int | None = None, offset: int = 0,
             reasons: bool = True) -> list[MailingProgress]:
    """Every mailing (newest first; a page of them with ``limit`` and ``offset``) with its
    outbox rows per status and sender health.

    The counts come from the outbox tally, a few rows per mailing. The reasons of copies
    not delivered are read from the copies themselves (their replies are free text), so
    a mailing with a million copies skipped (cancelled) costs a scan of them, about half
    a second on PostgreSQL: pages that do not show reasons pass ``reasons=False`` and get
    none."""
    mailings = store.newest_first(session, mailing_ids, limit=limit, offset=offset)
    ids = [m.id for m in mailings]
    counts = outbox.counts(session, ids)
    missing = outbox.not_delivered(session, ids) if reasons else {}
    health = sender_health(session, {m.id: counts.get(m.id, {}) for m in mailings})
    return [MailingProgress(m.id, str(m.kind), m.name, str(m.status), m.scheduled_at,
                            m.started_at, m.finished_at, counts.get(m.id, {}), m.note,
                            health.get(m.id),
                            tuple(m.audience or ()), m.segment or "", m.send_window or "",
                            tuple(group_reasons(missing.get(m.id, []))), m.brand or "",
                            m.sender or "")
            for m in mailings]



# --- planning from the admin and the API ---------------------------------------------------
@dataclass(frozen=True, slots=True)
class Planned:
    mailing_id: int
    queued: int
    scheduled_at: datetime | None


#: A mailing of an issue in one of these states has gone out, or will: sending the issue
#: again to the same list needs ``again`` (CLI ``--again``, the admin's confirmation).
GOING_OUT = (MailingStatus.scheduled, MailingStatus.sending, MailingStatus.paused,
             MailingStatus.done)


@dataclass(frozen=True, slots=True)
class EarlierSend:
    """An earlier mailing of the same issue (tests left out)."""

    id: int
    status: str
    lists: list[str]
    sent: int
    at: datetime | None  # when it started, or is due

    def describe(self, tz: tzinfo = UTC) -> str:
        """In words, its time in ``tz`` (the workspace's time zone)."""
        when = f" {self.at.astimezone(tz):%Y-%m-%d %H:%M} {tz}" if self.at else ""
        if not self.lists:
            return msg("mailing %(id)s (%(status)s%(when)s, %(sent)s sent, to explicit "
                       "recipients)", id=self.id, status=_status(self.status), when=when,
                       sent=self.sent)
        return msg("mailing %(id)s (%(status)s%(when)s, %(sent)s sent, to %(lists)s)",
                   id=self.id, status=_status(self.status), when=when, sent=self.sent,
                   lists=", ".join(self.lists))


class AlreadySent(MailerError):
    """The issue already has a mailing to one of the lists; ``again`` sends it anyway."""

    def __init__(self, earlier: Sequence[EarlierSend], tz: tzinfo = UTC) -> None:
        self.earlier = list(earlier)
        said = [e.describe(tz) for e in self.earlier]
        super().__init__(msg(
            "this issue was already sent or is on its way: %(earlier)s. To send it again on "
            "purpose, say so: --again; people who already got it are then left out unless "
            "--include-received", earlier=said).with_admin(msg(
                "this issue was already sent or is on its way: %(earlier)s. To send it again "
                "on purpose, tick 'Send it again to lists it already went to'; people who "
                "already got it are then left out unless you also tick 'Also to people who "
                "already got it'", earlier=said)).with_api(msg(
                    "this issue was already sent or is on its way: %(earlier)s. To send it "
                    "again on purpose, say so: \"again\": true; people who already got it "
                    "are then left out unless \"include_received\": true", earlier=said)))


def earlier_sends(session: Session, source: str) -> list[EarlierSend]:
    """The mailings of the issue folder ``source`` that went out or will (newest first):
    going out, or cancelled/missed after some copies were sent."""
    name = _folder_name(source)
    ids = [mid for mid, src, kind, _ in store.sources(session)
           if kind is not MailingKind.test and not src.startswith("invitation:")
           and _folder_name(src) == name]
    if not ids:
        return []
    counts = outbox.counts(session, ids)
    mailings = store.newest_first(session, ids)
    slugs = store.list_slugs(session, {lid for m in mailings for lid in m.list_ids})
    return [EarlierSend(m.id, str(m.status), [slugs.get(i, f"#{i}") for i in m.list_ids],
                        counts.get(m.id, {}).get("sent", 0), m.started_at or m.scheduled_at)
            for m in mailings
            if m.status in GOING_OUT or counts.get(m.id, {}).get("sent", 0)]


def _guard(session: Session, source: str, list_slugs: Sequence[str], *,
           again: bool, tz: tzinfo = UTC) -> list[EarlierSend]:
    """Earlier sends of the issue; refuses (AlreadySent) when one went to one of
    ``list_slugs`` and ``again`` is not given."""
    earlier = earlier_sends(session, source)
    overlap = [e for e in earlier if set(e.lists) & set(list_slugs)]
    if overlap and not again:
        raise AlreadySent(overlap, tz)
    return earlier


def issue_mailing_name(source: str, subject: str) -> str:
    """What the mailings list calls an issue's mailing, whoever planned it (the command
    line, the admin, the API): its folder and subject, "2026-nr02-november: Decembernumret"."""
    return f"{PurePath(source).name}: {subject}"


def plan_issue(session: Session, rendered: RenderedMailing, *, source: str,
               list_slugs: Sequence[str], at: datetime | None, now: datetime,
               where: Sequence[str] = (), segment: str = "",
               send_window: str = "", again: bool = False,
               include_received: bool = False,
               track_clicks: TrackClicks | None = None,
               signature: Signature | None = None, tz: tzinfo = UTC) -> Planned:
    """Plan a newsletter issue for its lists (narrowed by ``where`` conditions, or a saved
    ``segment``), now or at ``at``.

    Refused (``AlreadySent``) when the issue already went, or is going, to one of the
    lists, unless ``again``; refused (``NobodyToSend``) when it would go to nobody now.
    People who got an earlier send of the issue are left out unless ``include_received``.
    ``signature``: the brand and From/Reply-To (``services.brands.for_send``); ``tz``: the
    workspace's time zone (``plan_mailing``).
    """
    from mailer.services.segments import audience

    target = audience(session, list_slugs=list_slugs, where=where, segment=segment)
    earlier = _guard(session, source, target.list_slugs, again=again, tz=tz)
    exclude = [] if include_received else [e.id for e in earlier]
    # In a savepoint: a refusal below leaves no mailing behind even when the caller goes
    # on with its transaction (it usually rolls it back anyway).
    with session.begin_nested():
        mailing, queued = plan_mailing(
            session, rendered, kind=MailingKind.newsletter, now=now,
            name=issue_mailing_name(source, rendered.subject),
            source=source, list_slugs=target.list_slugs, at=at, audience=target.conditions,
            segment=target.segment, send_window=send_window, exclude_received_from=exclude,
            track_clicks=track_clicks, signature=signature, tz=tz)
        if not queued and at is None:
            # Nobody to send to now: refused, else a mailing "done" for 0 recipients would
            # block the send once people subscribe. A scheduled one is planned again at
            # its time (``start_due``).
            lists = [get_list(session, slug) for slug in target.list_slugs]
            raise NobodyToSend(_list_plans(session, lists, exclude, target.conditions),
                               bool(target.conditions))
    return Planned(mailing.id, queued, at)


@dataclass(frozen=True, slots=True)
class ListPlan:
    """What a send would do for one list."""

    slug: str
    name: str
    would_get: int
    already_received: int  # left out: got (or will get) an earlier send of the issue
    on_other_list: int  # left out here: gets the one copy through an earlier list
    unconfirmed: int  # left out: have not confirmed their subscription
    unsubscribed: int  # left out: unsubscribed
    suppressed: int = 0  # left out: the address is on the suppression list
    not_matching: int = 0  # left out: active, but not meeting the conditions


@dataclass(frozen=True, slots=True)
class DryRun:
    lists: list[ListPlan]
    earlier: list[EarlierSend]
    refusal: str  # why the real send would be refused ("" if it would go)
    conditions: tuple[str, ...] = ()  # the conditions (--where, a segment) narrowing them
    segment: str = ""

    @property
    def total(self) -> int:
        return sum(p.would_get for p in self.lists)


def dry_run(session: Session, *, source: str, list_slugs: Sequence[str], again: bool = False,
            include_received: bool = False, where: Sequence[str] = (),
            segment: str = "", scheduled: bool = False, tz: tzinfo = UTC) -> DryRun:
    """What ``plan_issue`` would do, per list, changing nothing: the same audience (lists
    narrowed by ``where`` or a saved ``segment``) and the same reasons to leave someone
    out (not active, suppressed, got the issue already, on an earlier list), and its
    refusal: a send now to nobody is refused, a ``scheduled`` one is not (who is on the
    lists at its time gets it). ``tz``: the workspace's time zone, for the times it names."""
    from mailer.services.segments import audience

    target = audience(session, list_slugs=list_slugs, where=where, segment=segment)
    lists = [get_list(session, slug) for slug in target.list_slugs]
    earlier = earlier_sends(session, source)
    refusal = ""
    try:
        _guard(session, source, target.list_slugs, again=again, tz=tz)
    except AlreadySent as exc:
        refusal = exc.message
    exclude = [] if include_received else [e.id for e in earlier]
    plans = _list_plans(session, lists, exclude, target.conditions)
    if not refusal and not scheduled and not sum(p.would_get for p in plans):
        refusal = NobodyToSend(plans, bool(target.conditions)).message
    return DryRun(plans, earlier, refusal, tuple(c.text for c in target.conditions),
                  target.segment)


def _list_plans(session: Session, lists: Sequence[MailingList], exclude: Sequence[int],
                conditions: Sequence[Condition]) -> list[ListPlan]:
    """Per list, who a send would reach and who it leaves out and why: the same audience
    and reasons as planning (``outbox.plan_lists``)."""
    rows = outbox.list_audience(session, [lst.id for lst in lists], exclude, conditions)
    active = {c.slug: c.active for c in list_counts(session)}
    # Reasons per list, in list-id order: planning gives a person on several lists to
    # the first (lowest id) list where they are eligible.
    tally: dict[int, dict[str, int]] = {lst.id: {} for lst in lists}
    seen: set[int] = set()
    for row in rows:
        if row.status is not SubscriptionStatus.active:
            why = str(row.status)
        elif row.suppressed:
            why = "suppressed"
        elif row.received:
            why = "received"
        elif row.subscriber_id in seen:
            why = "elsewhere"
        else:
            seen.add(row.subscriber_id)
            why = "gets"
        counts = tally[row.list_id]
        counts[why] = counts.get(why, 0) + 1
    plans = []
    for lst in lists:
        n = tally[lst.id]
        matched = sum(v for k, v in n.items() if k not in ("unconfirmed", "unsubscribed"))
        plans.append(ListPlan(
            lst.slug, lst.name, n.get("gets", 0), n.get("received", 0), n.get("elsewhere", 0),
            n.get("unconfirmed", 0), n.get("unsubscribed", 0), n.get("suppressed", 0),
            active.get(lst.slug, 0) - matched if conditions else 0))
    return plans


class NobodyToSend(MailerError):
    """A send now would reach nobody (an empty list, a segment nobody meets, everyone got
    the issue already): refused, so that no mailing of 0 recipients looks like a send
    done and blocks the real one (the re-send guard) once people are on the list."""

    def __init__(self, plans: Sequence[ListPlan], conditions: bool = False) -> None:
        self.plans = list(plans)
        named = ", ".join(f"{p.slug} ({p.name})" for p in self.plans)
        active = sum(p.would_get + p.already_received + p.on_other_list + p.suppressed
                     + p.not_matching for p in self.plans)
        # The input it is about, for an API answer or a form to name: the lists, or the
        # conditions (--where, a segment) that nobody meets.
        field = "where" if conditions and active else "lists"
        if not active:
            super().__init__(msgn(
                "nobody to send to: the list %(lists)s has no active subscribers; nothing "
                "was planned. Add subscribers to it first (mailer subscribers import FILE "
                "--list SLUG, or the list's page in the admin), then send",
                "nobody to send to: the lists %(lists)s have no active subscribers; nothing "
                "was planned. Add subscribers to them first (mailer subscribers import FILE "
                "--list SLUG, or the list's page in the admin), then send",
                len(self.plans), lists=named).with_admin(msgn(
                    "nobody to send to: the list %(lists)s has no active subscribers; "
                    "nothing was planned. Add subscribers to it first on the list's page, "
                    "then send",
                    "nobody to send to: the lists %(lists)s have no active subscribers; "
                    "nothing was planned. Add subscribers to them first on the lists' "
                    "pages, then send", len(self.plans), lists=named)).with_api(msgn(
                        "nobody to send to: the list %(lists)s has no active subscribers; "
                        "nothing was planned. Add subscribers to it first (POST "
                        "/api/subscribers), then send",
                        "nobody to send to: the lists %(lists)s have no active subscribers; "
                        "nothing was planned. Add subscribers to them first (POST "
                        "/api/subscribers), then send", len(self.plans), lists=named)),
                field=field)
        elif conditions:
            super().__init__(msgn(
                "nobody to send to: the %(n)s active subscriber of %(lists)s cannot get "
                "it (they do not meet the conditions, already got this issue, or their "
                "address is suppressed); nothing was planned. The dry run shows who is "
                "left out and why",
                "nobody to send to: none of the %(n)s active subscribers of %(lists)s can "
                "get it (they do not meet the conditions, already got this issue, or their "
                "address is suppressed); nothing was planned. The dry run shows who is "
                "left out and why", active, lists=named), field=field)
        else:
            super().__init__(msgn(
                "nobody to send to: the %(n)s active subscriber of %(lists)s cannot get "
                "it (already got this issue, or the address is suppressed); nothing "
                "was planned. The dry run shows who is left out and why",
                "nobody to send to: none of the %(n)s active subscribers of %(lists)s can "
                "get it (they already got this issue, or their address is suppressed); "
                "nothing was planned. The dry run shows who is left out and why",
                active, lists=named), field=field)


MAX_TEST_ADDRESSES = 20
TEST_MARK = "[TEST]"


def test_addresses(raw: str) -> list[str]:
    """Up to 20 addresses separated by commas, semicolons, spaces or lines."""
    out: list[str] = []
    bad: list[str] = []
    for part in raw.replace(";", ",").replace("\n", ",").replace(" ", ",").split(","):
        if not part.strip():
            continue
        try:
            address = normalise_address(part).email
        except AddressError:
            bad.append(part.strip())
            continue
        if address not in out:
            out.append(address)
    if bad:
        raise MailerError(msg("not e-mail addresses: %(bad)s", bad=", ".join(bad[:5])))
    if not out:
        raise MailerError(msg("give at least one address to send the test to"))
    if len(out) > MAX_TEST_ADDRESSES:
        raise MailerError(msg("a test goes to at most %(n)s addresses", n=MAX_TEST_ADDRESSES))
    return out


def refuse_suppressed(session: Session, addresses: Sequence[str]) -> None:
    """Refuse a test to suppressed addresses: planning would leave them out in silence
    (no mail goes to a suppressed address, tests included), and "queued for" would name
    someone who never gets it. The refusal names each one, its reason and the way out."""
    found = [(a, hit.reason) for a in addresses
             if (hit := suppressions.get(session, a)) is not None]
    if not found:
        return
    # Each "address (reason)", the reason in the reader's language on the admin's pages.
    named = [msg("%(address)s (%(why)s)", address=a, why=Msg(str(reason), {}))
             for a, reason in found]
    raise MailerError(msgn(
        "%(addresses)s is on the suppression list and gets no mail, tests included; lift "
        "it with 'mailer suppressions remove ADDRESS', or test with another address",
        "%(addresses)s are on the suppression list and get no mail, tests included; lift "
        "them with 'mailer suppressions remove ADDRESS', or test with other addresses",
        len(found), addresses=named).with_admin(msgn(
            "%(addresses)s is on the suppression list and gets no mail, tests included; "
            "lift it under Suppressions, or test with another address",
            "%(addresses)s are on the suppression list and get no mail, tests included; "
            "lift them under Suppressions, or test with other addresses",
            len(found), addresses=named)).with_api(msgn(
                "%(addresses)s is on the suppression list and gets no mail, tests included; "
                "lift it with DELETE /api/suppressions/{email}, or test with another address",
                "%(addresses)s are on the suppression list and get no mail, tests included; "
                "lift them with DELETE /api/suppressions/{email}, or test with other "
                "addresses", len(found), addresses=named)))


def plan_test(session: Session, rendered: RenderedMailing, addresses: Sequence[str], *,
              base_url: str, source: str, now: datetime,
              signature: Signature | None = None) -> Planned:
    """A test send: a mailing of kind ``test`` to ``addresses``, sent like any other.

    Each copy is the sample recipient's (``render.sample``), addressed to the tester; its
    links are signed with the preview key: they show the shape and change nothing.
    """
    refuse_suppressed(session, addresses)
    if not rendered.subject.startswith(TEST_MARK):
        # A test copy is marked in the subject, so nobody mistakes it for the real send.
        rendered = replace(rendered, subject=f"{TEST_MARK} {rendered.subject}")
    sample = {**sample_values(base_url, language=rendered.language), "name": "",
              "first_name": ""}
    recipients = [PlannedRecipient(email=a, fields={**sample, "email": a}) for a in addresses]
    mailing, queued = plan_mailing(
        session, rendered, kind=MailingKind.test, now=now, source=source,
        # Named in no language (pages in either show it): the addresses, then the subject.
        name=f"{', '.join(addresses)}: {rendered.subject}"[:200], recipients=recipients,
        signature=signature)
    return Planned(mailing.id, queued, None)


def control(session: Session, mailing_id: int, action: str, now: datetime) -> Mailing:
    """``pause``, ``resume`` or ``cancel`` a mailing."""
    if action == "pause":
        return pause(session, mailing_id, now)
    if action == "resume":
        return resume(session, mailing_id, now)
    if action == "cancel":
        return cancel(session, mailing_id, now)[0]
    raise MailerError(msg("unknown action %(action)r", action=action))


# --- mailings per issue folder ---------------------------------------------------------------
def _folder_name(source: str) -> str:
    """The issue folder a mailing came from: the CLI stores the path it was given
    (``issues/x``, ``/abs/issues/x/issue.yaml``), the admin ``issues/x``; an invitation's
    mailings ``invitation:x`` and ``invitation:x:remind:7d`` (reminders and the rest)."""
    if (source or "").startswith("invitation:"):
        return source.split(":")[1]
    path = PurePath(source or "")
    return path.parent.name if path.name == "issue.yaml" else path.name


def _one_persons(source: str) -> bool:
    """A registration's confirmation: one mailing per registrant, not the folder's own."""
    return source.startswith("invitation:") and source.endswith(":confirm")


def mailings_for_source(session: Session, source: str) -> list[MailingProgress]:
    """Progress of the mailings (tests too, registrations' confirmations not) made from
    one issue or invitation folder, newest first."""
    name = _folder_name(source)
    ids = [mid for mid, src, _, _ in store.sources(session)
           if _folder_name(src) == name and not _one_persons(src)]
    return progress(session, ids) if ids else []


def test_mailing_ids(session: Session, source: str, *, limit: int) -> list[int]:
    """The newest ``limit`` test mailings made from the issue folder of ``source`` (the
    admin's, the CLI's and the API's alike), newest first."""
    name = _folder_name(source)
    return [mid for mid, src, kind, _ in store.sources(session)
            if kind is MailingKind.test and _folder_name(src) == name][:limit]


#: A mailing in one of these states has begun to go out: its issue's files are public.
STARTED = (MailingStatus.sending, MailingStatus.paused, MailingStatus.done,
           MailingStatus.cancelled)


def folder_went_out(session: Session, folder: str) -> bool:
    """True when a mailing (a test too) of the issue or invitation folder ``folder`` has
    begun to go out: readers may open its images and files from then on."""
    for _, src, _, status in store.sources(session):
        if _folder_name(src) == folder and status in STARTED:
            return True
    return False


def mailings_by_source(session: Session) -> dict[str, list[tuple[int, str]]]:
    """For the issues list: (mailing id, status) per source, newest first; tests and
    registrations' confirmations left out."""
    out: dict[str, list[tuple[int, str]]] = {}
    for mid, source, kind, status in store.sources(session):
        if kind is not MailingKind.test and not _one_persons(source):
            out.setdefault(f"issues/{_folder_name(source)}", []).append((mid, str(status)))
    return out


def target_lists(session: Session) -> list[ListCounts]:
    """The lists a mailing can go to, with their subscribers per status."""
    return list_counts(session)


# --- what the dashboard shows ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TimelinePoint:
    at: datetime
    values: dict[str, int]


def _group(status: OutboxStatus) -> str:
    return {OutboxStatus.sent: "sent", OutboxStatus.failed: "failed",
            OutboxStatus.unknown: "failed", OutboxStatus.skipped: "skipped"}.get(status, "queued")


SECOND = timedelta(seconds=1)


def chart_moments(start: datetime, end: datetime, buckets: int) -> list[datetime]:
    """``buckets`` moments from ``start`` to ``end``, evenly spaced, each rounded up to a
    whole second (the tally counts outcomes per second)."""
    span = (end - start) / max(buckets - 1, 1)
    moments = []
    for b in range(buckets):
        at = end if b == buckets - 1 else start + span * b
        moments.append(at if not at.microsecond else at.replace(microsecond=0) + SECOND)
    return moments


def timeline(session: Session, mailing_id: int, *, buckets: int = 24) -> list[TimelinePoint]:
    """Messages per state over the mailing's life: cumulative sent, failed and skipped
    (the copies that reached that state before each moment), and what was still queued,
    at ``buckets`` moments from its start to just after its last outcome. Summed from the
    outbox tally (one row per second with outcomes, ``outbox.outcome_seconds``), so a
    million-recipient mailing costs no more than a small one."""
    mailing = store.get(session, mailing_id)
    if mailing is None:
        return []
    total = sum(outbox.counts(session, [mailing_id]).get(mailing_id, {}).values())
    if not total:
        return []
    seconds = [(at, status, n) for status, at, n in outbox.outcome_seconds(session, mailing_id)
               if status in FINAL]
    if mailing.started_at is None:
        return []  # never started (scheduled, or cancelled or missed before): no delivery
    start = mailing.started_at
    end = max(start, seconds[-1][0] + SECOND) if seconds else start
    points, i = [], 0
    running = {"sent": 0, "failed": 0, "skipped": 0}
    for at in chart_moments(start, end, buckets):
        while i < len(seconds) and seconds[i][0] < at:
            running[_group(seconds[i][1])] += seconds[i][2]
            i += 1
        points.append(TimelinePoint(at, {**running, "queued": total - sum(running.values())}))
    return points


@dataclass(frozen=True, slots=True)
class Failure:
    mailing_id: int
    mailing: str
    email: str
    status: str
    attempts: int
    reply: str
    at: datetime


def recent_failures(session: Session, *, limit: int = 10,
                    mailing_id: int | None = None) -> list[Failure]:
    """The latest messages that failed (or are waiting to retry), with the SMTP reply."""
    return [Failure(row.mailing_id, name, row.email, str(row.status), row.attempts,
                    row.last_reply, row.updated_at)
            for row, name in outbox.failures(session, limit=limit, mailing_id=mailing_id)]


@dataclass(frozen=True, slots=True)
class WorkerState:
    id: str
    host: str
    pid: int
    role: str
    heartbeat_at: datetime
    alive: bool


@dataclass
class Health:
    workers: list[WorkerState]
    scheduler: str  # who holds the scheduler lease, or ""
    scheduler_until: datetime | None
    jobs: list[tuple[str, datetime | None]]
    next_due: datetime | None
    #: the last delivery outcome any worker recorded (also a finished ``worker --drain``)
    last_delivery: datetime | None = None


STALE_AFTER = 120  # seconds without a heartbeat before a worker counts as gone


def health(session: Session, now: datetime) -> Health:
    """Workers and their last heartbeat, the scheduler's holder and its next jobs."""
    states = [WorkerState(w.id, w.host, w.pid, w.role, w.heartbeat_at,
                          (now - w.heartbeat_at).total_seconds() < STALE_AFTER)
              for w in workers.latest(session, 20)]
    holder, until = "", None
    lock = scheduler.lease(session, SCHEDULER_LOCK)
    if lock is not None and lock.expires_at > now:
        holder, until = f"{lock.holder} ({lock.host}, pid {lock.pid})", lock.expires_at
    return Health(states, holder, until, scheduler.next_jobs(session, 10),
                  outbox.next_due(session), outbox.last_delivery(session))


@dataclass
class Dashboard:
    lists: list[ListCounts]
    mailings: list[MailingProgress]
    shown: MailingProgress | None  # the newest mailing that has started: its chart
    points: list[TimelinePoint]
    failures: list[Failure]
    health: Health


def dashboard(session: Session, now: datetime, *, recent: int = 5) -> Dashboard:
    """Lists, recent mailings, the newest one's chart, failures and worker health."""
    mailings = progress(session, limit=recent, reasons=False)
    shown = next((m for m in mailings if m.total and m.started_at), None)
    return Dashboard(list_counts(session), mailings, shown,
                     timeline(session, shown.id) if shown else [],
                     recent_failures(session, limit=10), health(session, now))
