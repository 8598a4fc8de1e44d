"""Deliverability use cases: read the bounce/sender inbox, the suppression list, sender
health per mailing, and ``mailer doctor``'s configuration check.

``process_inbox`` applies what arrives: DSNs and non-standard bounces (the policy of
``domain.feedback.BouncePolicy``), ARF complaints (unsubscribed from every list and
suppressed), the ``mailto:`` unsubscribe requests of List-Unsubscribe; auto-replies and
delay notices are read and left alone. Each message is handled in its own transaction
together with the record of its key, so a crash halfway loses nothing and a second run
changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.delivery.inbound import open_mailbox, redact
from mailer.delivery.verp import Verp, rows_of
from mailer.domain.addresses import AddressError, normalise_address
from mailer.domain.alignment import organisational
from mailer.domain.feedback import (
    BounceClass,
    BouncePolicy,
    Feedback,
    FeedbackKind,
    parse,
    read_feedback,
)
from mailer.domain.findings import msg
from mailer.errors import MailerError, NotFound, message_of
from mailer.links import Links
from mailer.store import subscriptions as subs
from mailer.store import suppressions as store
from mailer.store.db import transaction
from mailer.store.models import FeedbackEventKind, Subscriber, Suppression, SuppressionReason
from mailer.tokens import BadToken, Purpose, Tokens

log = logging.getLogger(__name__)


@dataclass
class InboxReport:
    read: int = 0
    already: int = 0  # processed by an earlier run (same Message-ID)
    hard: int = 0
    soft: int = 0
    policy: int = 0  # 5.7.x refusals reported back: ours to fix, never the reader's
    complaints: int = 0
    suppressed: int = 0
    unsubscribed: int = 0  # subscriptions ended (complaints and mailed requests)
    requests: int = 0  # mailed unsubscribe requests applied
    auto_replies: int = 0
    warnings: int = 0  # delayed-delivery notices
    other: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def processed(self) -> int:
        return self.read - self.already


def _verp(settings: Settings) -> Verp | None:
    return Verp(settings.bounce_address, settings.signing_keys()) \
        if settings.bounce_address else None


def policy_of(settings: Settings) -> BouncePolicy:
    return BouncePolicy(settings.soft_bounce_limit, settings.soft_bounce_days)


def process_inbox(engine: Engine, settings: Settings, source: str | Path, *,
                  now: datetime) -> InboxReport:
    """Apply every new message in the mailbox at ``source``; safe to run again."""
    report = InboxReport()
    verp = _verp(settings)
    tokens = Tokens(settings.signing_keys())
    policy = policy_of(settings)
    box = open_mailbox(source)
    try:
        for item in box.messages():
            report.read += 1
            with transaction(engine) as s:
                if store.seen(s, item.key):
                    report.already += 1
                    fresh = False
                else:
                    try:
                        msg = parse(item.data)
                        fb = read_feedback(msg)
                    except Exception as exc:  # a malformed message fails alone
                        report.problems.append(f"{item.name}: cannot be read ({exc})")
                        report.other += 1
                        fb = Feedback(FeedbackKind.other)
                        msg = None
                    if msg is not None:
                        _apply(s, fb, msg, item.name, verp, tokens, policy, report, now)
                    store.mark_seen(s, item.key, fb.kind.value, now)
                    fresh = True
            try:
                box.done(item)  # after the commit: flag or move it in the mailbox too
            except Exception as exc:  # recorded anyway: never processed twice
                if fresh:
                    report.problems.append(f"{item.name}: processed, but not marked in the "
                                           f"mailbox ({exc})")
    finally:
        box.close()
    return report


def _apply(s: Session, fb: Feedback, msg: Message, name: str, verp: Verp | None,
           tokens: Tokens, policy: BouncePolicy, report: InboxReport, now: datetime) -> None:
    if fb.kind is FeedbackKind.bounce:
        _bounce(s, fb, msg, name, verp, policy, report, now)
    elif fb.kind is FeedbackKind.complaint:
        _complaint(s, fb, msg, name, verp, report, now)
    elif fb.kind is FeedbackKind.unsubscribe:
        try:
            data = tokens.read(Purpose.unsubscribe, fb.token.strip("<>"))
        except BadToken:
            report.problems.append(f"{name}: an unsubscribe request whose token is not one "
                                   "of ours (tampered or an old key)")
            return
        report.requests += 1
        report.unsubscribed += subs.unsubscribe_by_token(
            s, data.subscriber_id, data.scope_id, now=now, ip=None,
            source=f"mailto:{msg.get('From', '')}"[:200])
    elif fb.kind is FeedbackKind.auto_reply:
        report.auto_replies += 1
    elif fb.kind is FeedbackKind.warning:
        report.warnings += 1
    else:
        report.other += 1


def _bounce(s: Session, fb: Feedback, msg: Message, name: str, verp: Verp | None,
            policy: BouncePolicy, report: InboxReport, now: datetime) -> None:
    # Which rows it is about, most trusted first: the VERP address it came back to
    # (signed), the X-Mailer-Outbox header of the returned original, the address alone.
    verp_rows = store.rows(s, verp.rows_in(msg) if verp is not None else [])
    header_rows = store.rows(s, fb.outbox_ids)
    for b in fb.bounced:
        row = None
        if len(verp_rows) == 1 and len(fb.bounced) == 1:
            row = next(iter(verp_rows.values()))  # the address may be a forwarding target
        else:
            row = next((r for r in [*verp_rows.values(), *header_rows.values()]
                        if r.email.lower() == b.address), None)
        if row is None and len(header_rows) == 1 and len(fb.bounced) == 1 and not b.address:
            row = next(iter(header_rows.values()))
        if row is None and b.address:
            row = store.latest_row_for(s, b.address)
        if row is None:
            report.problems.append(f"{name}: a bounce for {b.address or 'an unnamed address'} "
                                   "that matches no message we sent; ignored")
            continue
        if store.has_event(s, FeedbackEventKind.bounce, row.id, row.email):
            continue  # the same bounce again (a copy with another Message-ID)
        if b.bounce_class is BounceClass.hard:
            report.hard += 1
        elif b.bounce_class is BounceClass.soft:
            report.soft += 1
        else:
            report.policy += 1
        fact = store.BounceFact(email=row.email, status=b.status, bounce_class=b.bounce_class,
                                diagnostic=b.diagnostic, outbox_id=row.id,
                                mailing_id=row.mailing_id, source="inbox")
        if store.record_bounce(s, fact, policy, now):
            report.suppressed += 1


def _complaint(s: Session, fb: Feedback, msg: Message, name: str, verp: Verp | None,
               report: InboxReport, now: datetime) -> None:
    named = store.rows(s, [*(verp.rows_in(msg) if verp is not None else []),
                           *rows_of(verp, fb.senders), *fb.outbox_ids])
    targets: dict[str, store.RowInfo | None] = {}
    for r in named.values():
        targets.setdefault(r.email.lower(), r)
    for address in fb.addresses:
        if address not in targets:
            targets[address] = store.latest_row_for(s, address)
    if not targets:
        report.problems.append(f"{name}: a complaint that names no recipient of ours")
        return
    for address, row in targets.items():
        if row is None:
            report.problems.append(f"{name}: a complaint about {address}, whom we never "
                                   "mailed; suppressed anyway")
        elif store.has_event(s, FeedbackEventKind.complaint, row.id, row.email):
            continue
        email = row.email if row is not None else address
        report.complaints += 1
        if store.record_complaint(s, email, outbox_id=row.id if row else None,
                                  mailing_id=row.mailing_id if row else None,
                                  detail=f"ARF {fb.detail}", now=now):
            report.suppressed += 1
        person_id = store.subscriber_of(s, email)
        person = s.get(Subscriber, person_id) if person_id is not None else None
        if person is not None:
            report.unsubscribed += len(subs.unsubscribe(
                s, person, None, now=now, ip=None, source=f"complaint ({fb.detail})"[:100]))


# --- the suppression list ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SuppressionInfo:
    email: str  # "" once the person was erased (only the hash is kept)
    reason: str
    detail: str
    source: str
    created_at: datetime
    signup_attempts: int = 0  # sign-ups for the address while it was suppressed
    last_signup_at: datetime | None = None
    last_signup: str = ""  # where and for which list: "form: medborgardialog"

    @classmethod
    def of(cls, s: Suppression) -> SuppressionInfo:
        return cls(s.email or "", str(s.reason), s.detail, s.source, s.created_at,
                   s.signup_attempts or 0, s.last_signup_at, s.last_signup or "")

    def as_dict(self) -> dict[str, str | int | None]:
        return {"email": self.email, "reason": self.reason, "detail": self.detail,
                "source": self.source, "created_at": self.created_at.isoformat(),
                "signup_attempts": self.signup_attempts,
                "last_signup_at": (self.last_signup_at.isoformat()
                                   if self.last_signup_at else None),
                "last_signup": self.last_signup}


def suppressions(session: Session, *, q: str = "", limit: int = 500,
                 offset: int = 0) -> list[SuppressionInfo]:
    return [SuppressionInfo.of(x) for x in store.listing(session, q=q, limit=limit,
                                                          offset=offset)]


def suppressions_matching(session: Session, *, q: str = "") -> int:
    """How many suppressions ``suppressions`` with this ``q`` pages through."""
    return store.matching(session, q)


def suppression_counts(session: Session) -> dict[str, int]:
    return store.count(session)


def _address(email: str) -> str:
    try:
        return normalise_address(email).email
    except AddressError as exc:
        raise MailerError(msg("%(email)r is not an e-mail address: %(why)s", email=email,
                              why=message_of(exc)), field="email") from None


def add_suppression(session: Session, email: str, *, now: datetime, reason: str = "manual",
                    detail: str = "", source: str = "admin") -> bool:
    """Suppress ``email`` by hand; False when it was suppressed already."""
    try:
        why = SuppressionReason(reason)
    except ValueError:
        raise MailerError(msg("unknown reason %(reason)r; use one of %(reasons)s",
                              reason=reason, reasons=", ".join(r.value
                                                              for r in SuppressionReason)),
                          field="reason") from None
    return store.suppress(session, _address(email), why, now=now, detail=detail,
                          source=source)


def remove_suppression(session: Session, email: str, *, links: Links, now: datetime,
                       settings: Settings) -> int:
    """Allow mail to ``email`` again (after the person fixed their mailbox, or asked
    through another channel). Sign-ups that waited while it was suppressed now get their
    confirmation link: only following it activates them. Returns how many were sent."""
    # here, not at the top: subscriptions -> notifications -> mailings imports this module
    from mailer.services.subscriptions import send_waiting_confirmations

    address = _address(email)
    found = store.get(session, address)
    since, attempts = (found.created_at, found.signup_attempts) if found else (now, 0)
    if not store.unsuppress(session, address):
        raise NotFound(msg("%(email)s is not on the suppression list", email=email))
    if not attempts:
        return 0
    return send_waiting_confirmations(session, links, address, since=since, now=now,
                                      sender=settings.sender, settings=settings)


def left_out(session: Session, list_ids: list[int]) -> int:
    """Active subscribers of these lists that planning leaves out (suppressed)."""
    return store.suppressed_in_lists(session, list_ids)


def is_suppressed(session: Session, email: str) -> SuppressionInfo | None:
    found = store.get(session, email)
    return SuppressionInfo.of(found) if found is not None else None


# --- sender health ---------------------------------------------------------------------------
BOUNCE_WARN = 0.02  # bounce rate above which the dashboard warns
COMPLAINT_WARN = 0.001  # complaint rate (Gmail's hard ceiling is 0.3 %)


@dataclass(frozen=True, slots=True)
class SenderHealth:
    """What receivers said about one mailing."""

    mailing_id: int
    delivered: int  # accepted by the server, minus those that bounced later
    bounced_hard: int
    bounced_soft: int
    policy: int  # 5.7.x refusals: our reputation or authentication
    complained: int
    unsubscribed: int
    attempted: int  # sent + failed + unknown: the denominator of the rates

    @property
    def bounced(self) -> int:
        return self.bounced_hard + self.bounced_soft

    def rate(self, n: int) -> float:
        return n / self.attempted if self.attempted else 0.0

    @property
    def bounce_rate(self) -> float:
        return self.rate(self.bounced)

    @property
    def complaint_rate(self) -> float:
        return self.rate(self.complained)

    @property
    def warnings(self) -> list[str]:
        """Stable codes: bounce_rate, complaint_rate, policy."""
        out = []
        if self.bounce_rate > BOUNCE_WARN:
            out.append("bounce_rate")
        if self.complaint_rate > COMPLAINT_WARN:
            out.append("complaint_rate")
        if self.policy:
            out.append("policy")
        return out

    def as_dict(self) -> dict[str, object]:
        return {"delivered": self.delivered, "bounced_hard": self.bounced_hard,
                "bounced_soft": self.bounced_soft, "policy_refusals": self.policy,
                "complained": self.complained, "unsubscribed": self.unsubscribed,
                "bounce_rate": round(self.bounce_rate, 4),
                "complaint_rate": round(self.complaint_rate, 5),
                "unsubscribe_rate": round(self.rate(self.unsubscribed), 4),
                "warnings": self.warnings}


def sender_health(session: Session, counts: dict[int, dict[str, int]]) -> dict[int,
                                                                                SenderHealth]:
    """Sender health per mailing, given its outbox rows per status (``outbox.counts``)."""
    events = store.health_counts(session, list(counts))
    out = {}
    for mid, by_status in counts.items():
        e = events.get(mid, {})
        sent = by_status.get("sent", 0)
        attempted = sent + by_status.get("failed", 0) + by_status.get("unknown", 0)
        hard, soft = e.get("bounced_hard", 0), e.get("bounced_soft", 0)
        # A DSN for a row the server accepted: it was not delivered after all.
        late = store.bounced_after_sent(session, mid) if (hard or soft) else 0
        out[mid] = SenderHealth(mid, max(sent - late, 0), hard, soft, e.get("bounced_policy", 0),
                                e.get("complained", 0), e.get("unsubscribed", 0), attempted)
    return out


# --- mailer doctor ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Check:
    ok: bool
    what: str
    fix: str = ""


@dataclass
class Doctor:
    checks: list[Check]
    records: list[str]  # DNS records to publish (zone-file lines)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def doctor(settings: Settings) -> Doctor:
    """Check what a bulk sender needs configured and the DNS records to publish."""
    from mailer.delivery.dkim import load_key

    checks: list[Check] = []
    records: list[str] = []
    from_domain = settings.sender.domain.lower()
    org = organisational(from_domain)
    try:
        settings.signing_key()
        checks.append(Check(True, "MAILER_SECRET_KEY is set (signs links and VERP addresses)"))
    except MailerError as exc:
        checks.append(Check(False, "MAILER_SECRET_KEY is not set", str(exc)))
    base = urlsplit(settings.base_url)
    checks.append(Check(base.scheme == "https",
                        f"MAILER_BASE_URL {settings.base_url} is https",
                        "one-click unsubscribe (RFC 8058) needs an https:// base URL; set "
                        "MAILER_BASE_URL=https://…"))
    if settings.dkim_selector:
        d = settings.dkim_domain_or_from
        aligned = organisational(d) == org
        checks.append(Check(aligned, f"DKIM domain {d} aligns with the From domain "
                                     f"{from_domain} (DMARC, relaxed)",
                            f"set MAILER_DKIM_DOMAIN to {from_domain} or a subdomain of {org}"))
        for ed in (False, True):
            path = settings.dkim_key_path(ed25519=ed)
            selector = settings.dkim_ed25519_selector if ed else settings.dkim_selector
            if path is None:
                continue
            try:
                key = load_key(path, domain=d, selector=selector)
            except MailerError as exc:
                checks.append(Check(False, f"DKIM key {path}", str(exc)))
                continue
            checks.append(Check(True, f"DKIM key {path} ({key.algorithm.decode()}, "
                                      f"selector {selector})"))
            records.append(key.dns_record())
    else:
        checks.append(Check(False, "mailer does not DKIM-sign (MAILER_DKIM_SELECTOR unset)",
                            "fine if your relay signs for the From domain; otherwise run "
                            "'mailer dkim keygen --selector S'"))
    if settings.bounce_address:
        bdomain = settings.bounce_address.rpartition("@")[2].lower()
        checks.append(Check(organisational(bdomain) == org,
                            f"bounce address domain {bdomain} is in {org} (SPF alignment)",
                            f"use a bounce address under {org}, e.g. bounces@{from_domain}"))
        records.append(f'{bdomain}. IN TXT "v=spf1 mx include:<your relay\'s SPF> ~all"')
    else:
        checks.append(Check(False, "MAILER_BOUNCE_ADDRESS is unset: bounces go to the From "
                                   "mailbox and name no outbox row",
                            f"set MAILER_BOUNCE_ADDRESS=bounces@{from_domain} and "
                            "MAILER_INBOX to where that mailbox is delivered"))
        records.append(f'{from_domain}. IN TXT "v=spf1 mx include:<your relay\'s SPF> ~all"')
    checks.append(Check(bool(settings.inbox), "MAILER_INBOX is set (the worker reads bounces "
                                              "and complaints)" if settings.inbox else
                        "MAILER_INBOX is unset: nobody reads bounces and complaints",
                        "" if settings.inbox else "set MAILER_INBOX to the bounce mailbox "
                        "(Maildir, mbox or imaps://user:pass@host/INBOX)"))
    records.append(f'_dmarc.{org}. IN TXT "v=DMARC1; p=none; rua=mailto:dmarc@{org}; '
                   'adkim=r; aspf=r"')
    _brand_checks(settings, org, checks, records)
    _search_check(settings, checks)
    return Doctor(checks, records)


def _search_check(settings: Settings, checks: list[Check]) -> None:
    """PostgreSQL: has the subscribers search its trigram indexes (migration 0022 makes
    them where the pg_trgm extension can be created)? Without them every search reads
    every subscriber. SQLite has none and needs none."""
    from sqlalchemy.exc import SQLAlchemyError

    from mailer.store import trigram
    from mailer.store.db import make_engine

    if not settings.db_url.startswith("postgresql"):
        return
    engine = make_engine(settings.db_url)
    try:
        with engine.connect() as conn:
            missing = trigram.missing(conn)
    except SQLAlchemyError as exc:
        why = str(getattr(exc, "orig", exc)).strip()[:200]
        checks.append(Check(False, "the database could not be read to check the subscribers "
                                   f"search's indexes: {why}",
                            "check MAILER_DATABASE_URL and that the server answers"))
        return
    finally:
        engine.dispose()
    checks.append(Check(not missing, "the subscribers search has its trigram indexes "
                                     "(PostgreSQL, pg_trgm)" if not missing else
                        f"the subscribers search lacks the trigram indexes {', '.join(missing)}"
                        ": every search reads every subscriber (slow with many)",
                        "" if not missing else trigram.FIX))


def _brand_checks(settings: Settings, org: str, checks: list[Check],
                  records: list[str]) -> None:
    """Each newsletter with its own From (``[brands.<name>] from_address``) or its own DKIM
    key: who signs its mail, with a d= aligned with its From domain as DMARC asks (the
    worker never signs with a misaligned one: ``delivery.dkim.DkimSigners``), and is the
    bounce address aligned for SPF?"""
    from mailer.delivery.dkim import brand_key

    named = [("", "[brand]")] if settings.brand.from_address else []
    named += [(k, f"[brands.{k}]") for k, b in sorted(settings.brands.items())
              if b.from_address or b.dkim_selector]
    dmarc = {org}
    for name, table in named:
        domain = settings.brand_from_domain(name)
        borg = organisational(domain)
        path = settings.brand_dkim_path(name) if name else None
        if path is not None:
            try:
                key = brand_key(settings, name)
            except MailerError as exc:
                checks.append(Check(False, f"{table}: DKIM key {path}", str(exc)))
                key = None
            if key is not None:
                checks.append(Check(
                    organisational(key.domain) == borg,
                    f"{table}: signs with its own DKIM key {path} ({key.algorithm.decode()}, "
                    f"selector {key.selector}, d={key.domain}), aligned with its From domain "
                    f"{domain} (DMARC)",
                    f"set dkim_domain in [brands.{name}] to {domain} (or a domain under "
                    f"{borg}) and publish its record; until then its mail goes unsigned"))
                records.append(key.dns_record())
        elif settings.dkim_selector:
            d = settings.dkim_domain_or_from
            checks.append(Check(
                organisational(d) == borg,
                f"{table}: From domain {domain} aligns with the DKIM domain {d} (DMARC)"
                if organisational(d) == borg else
                f"{table}: mail from {domain} goes out without mailer's DKIM signature: the "
                f"workspace's DKIM domain {d} does not align with it (mailer never signs "
                "with a misaligned d=)",
                (f"give {table} its own key: mailer dkim keygen --selector <selector> "
                 f"--domain {domain} --brand {name}" if name else
                 f"set MAILER_DKIM_DOMAIN to {domain}") + ", or let a relay that signs for "
                f"{domain} do the signing"))
        if settings.bounce_address:
            bdomain = settings.bounce_address.rpartition("@")[2].lower()
            checks.append(Check(
                organisational(bdomain) == borg,
                f"{table}: From domain {domain} aligns with the bounce address domain "
                f"{bdomain} (SPF)",
                f"use a From address under {organisational(bdomain)} for {table}, or rely on "
                "DKIM alignment alone"))
        if borg not in dmarc:
            dmarc.add(borg)
            records.append(f'_dmarc.{borg}. IN TXT "v=DMARC1; p=none; rua=mailto:dmarc@{borg}; '
                           'adkim=r; aspf=r"')


def inbox_label(settings: Settings) -> str:
    return redact(settings.inbox)
