"""``mailer registrations import``: an external system's CSV into registrations, with a report.

Every good row is applied, every bad row is reported with its line and left out; a file
that belongs to another invitation changes nothing at all. Rows are applied in
registration-time order, so seats go to whoever registered first.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from mailer.domain.findings import msg
from mailer.domain.registration import RegistrationHow, RegistrationStatus, SeatOutcome
from mailer.domain.registration_rows import (
    RegistrationCsvRow,
    RowOrProblem,
    RowProblem,
    map_columns,
    parse_row,
)
from mailer.domain.subscriber_rows import header_key
from mailer.errors import MailerError
from mailer.store.csv_input import rows_of, sniff_bytes
from mailer.store.models import InvitationRow, Subscriber
from mailer.store.registrations import (
    SeatsFull,
    cancel,
    ensure_subscriber,
    find_or_create_organisation,
    find_subscriber,
    register,
    registration_of,
)


@dataclass
class Rejected:
    line: int
    email: str
    reason: str
    raw: tuple[str, ...] = ()


@dataclass
class ImportReport:
    headers: list[str] = field(default_factory=list)
    registered: list[str] = field(default_factory=list)
    waitlisted: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)  # subscribers added (--create-unknown)
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return len(self.registered) + len(self.waitlisted) + len(self.cancelled)

    def lines(self) -> list[str]:
        out = [f"registered {len(self.registered)}, wait-listed {len(self.waitlisted)}, "
               f"cancelled {len(self.cancelled)}, unchanged {len(self.unchanged)}, "
               f"rejected {len(self.rejected)}"
               + (f" (new subscribers: {len(self.created)})" if self.created else "")]
        # A row without a usable address has none to name: its reason quotes the cell.
        out += [f"  line {r.line}: {r.email + ': ' if r.email else ''}{r.reason}"
                for r in sorted(self.rejected, key=lambda r: r.line)]
        return out


def read_rows(data: bytes, *, tz: ZoneInfo,
              name: str = "the file") -> tuple[list[str], Iterator[RowOrProblem]]:
    """The headers and, lazily, each data row as a typed row or a problem (with its line),
    read by the shared CSV reader (encoding, delimiter, quoting, line numbers)."""
    fmt = sniff_bytes(data, name)
    headers, rows = rows_of(data, name, fmt)
    if not headers:
        raise MailerError(msg("%(name)s: the file is empty; expected a header line with at "
                              "least e-post/email", name=name))
    columns = map_columns(headers)

    def typed() -> Iterator[RowOrProblem]:
        for _first, last, values in rows:
            if any(v.strip() for v in values):
                yield parse_row(values, columns, last, tz)

    return headers, typed()


def import_registrations(session: Session, invitation: InvitationRow, data: bytes, *,
                         accepted_ids: set[str], tz: ZoneInfo, now: datetime, source: str,
                         create_unknown: bool = False) -> ImportReport:
    """Apply a registration CSV to ``invitation`` (caller holds its lock and transaction)."""
    headers, stream = read_rows(data, tz=tz, name=source)
    report = ImportReport(headers=headers)
    good: list[RegistrationCsvRow] = []
    first_line: dict[str, int] = {}
    wrong: list[RegistrationCsvRow] = []
    ids = {header_key(x) for x in accepted_ids if x}
    for item in stream:
        if isinstance(item, RowProblem):
            report.rejected.append(Rejected(item.line, item.email, item.message, item.raw))
            continue
        if item.invitation and header_key(item.invitation) not in ids:
            wrong.append(item)
            continue
        key = item.email.casefold()
        if key in first_line:
            report.rejected.append(Rejected(item.line, item.email,
                                            msg("duplicate of line %(line)s; left out",
                                                line=first_line[key]), item.raw))
            continue
        first_line[key] = item.line
        good.append(item)
    if wrong and not good:
        found = sorted({w.invitation for w in wrong})
        values = {"found": ", ".join(repr(f) for f in found), "invitation": invitation.slug,
                  "ids": ", ".join(sorted(accepted_ids))}
        raise MailerError(msg(
            "this file is for %(found)s, not for %(invitation)r (accepted ids: %(ids)s); "
            "nothing was imported. Check --invitation, or add the external id as "
            "registration.external_id in issue.yaml", **values).with_admin(msg(
                "this file is for %(found)s, not for %(invitation)r (accepted ids: %(ids)s); "
                "nothing was imported. Upload it on that invitation's page, or add the "
                "external id as registration.external_id in issue.yaml", **values)))
    report.rejected += [Rejected(w.line, w.email, msg(
        "belongs to invitation %(other)r, not %(invitation)r; left out", other=w.invitation,
        invitation=invitation.slug), w.raw) for w in wrong]
    good.sort(key=lambda r: (r.registered_at or now, r.line))
    for row in good:
        _apply(session, invitation, row, report, now=now, source=source,
               create_unknown=create_unknown)
    return report


def _holds_registration(session: Session, invitation: InvitationRow,
                        sub: Subscriber | None) -> bool:
    """Whether ``sub`` is registered or wait-listed for ``invitation`` (what a cancel
    changes)."""
    if sub is None:
        return False
    held = registration_of(session, invitation.id, sub.id)
    return held is not None and held.status in (RegistrationStatus.registered,
                                                RegistrationStatus.waitlisted)


def _apply(session: Session, invitation: InvitationRow, row: RegistrationCsvRow,
           report: ImportReport, *, now: datetime, source: str, create_unknown: bool) -> None:
    sub = find_subscriber(session, row.email)
    if row.cancelled and not _holds_registration(session, invitation, sub):
        # Cancelled in the other system, never registered here (or cancelled already, or
        # seat passed on): nothing to change, so neither refused nor a subscriber created.
        report.unchanged.append(row.email)
        return
    if sub is None:
        if not create_unknown:
            report.rejected.append(Rejected(
                row.line, row.email, msg("not a known subscriber; import them first (mailer "
                                         "subscribers import) or rerun with --create-unknown"
                                         ).with_admin(msg(
                    "not a known subscriber; import them to a list first, or upload the file "
                    "again with 'Add people we do not know' ticked")),
                row.raw))
            return
        if not (row.name and row.organisation):
            report.rejected.append(Rejected(row.line, row.email, msg(
                "unknown, and the row lacks the name or organisation to add them"), row.raw))
            return
        sub = ensure_subscriber(session, row.email, name=row.name,
                                organisation=row.organisation)
        report.created.append(row.email)
    try:
        with session.begin_nested():  # a refused row leaves nothing behind
            if row.cancelled:
                cancel(session, invitation, sub, now=now, note=f"{source}:{row.line}")
                report.cancelled.append(row.email)
                return
            org = (find_or_create_organisation(session, row.organisation)
                   if row.organisation and sub.organisation is None else None)
            result = register(session, invitation, sub, how=RegistrationHow.import_,
                              now=row.registered_at or now, source=f"{source}:{row.line}",
                              organisation=org, late_ok=True)
    except (SeatsFull, MailerError) as exc:
        report.rejected.append(Rejected(row.line, row.email, exc.message, row.raw))
        return
    if result.outcome is None:
        report.unchanged.append(row.email)
    elif result.outcome is SeatOutcome.waitlisted:
        report.waitlisted.append(row.email)
    else:
        report.registered.append(row.email)
