"""CSV imports: subscribers into a list, registrations into an invitation, and their reports.

The CLI (``mailer subscribers import``, ``mailer registrations import``) and the admin
(list import, invitation registration import) call these. ``report_lines`` is the CLI's
English report of a subscriber import; the admin shows the same report in the reader's
language from the report's fields (each rejected row's reason is a ``msg()``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.domain.findings import Msg, msgn
from mailer.domain.spreadsheet import SafeCsvWriter
from mailer.errors import MailerError, message_of
from mailer.services.invitations import open_invitation
from mailer.store.importer import ImportReport as ImportReport
from mailer.store.importer import Progress as Progress
from mailer.store.importer import import_subscribers as _import_subscribers
from mailer.store.registration_import import ImportReport as RegistrationReport
from mailer.store.registration_import import import_registrations as _import_registrations


# --- subscribers --------------------------------------------------------------------------
def import_subscribers(engine: Engine, path: Path, list_slug: str, *,
                       encoding: str | None = None, delimiter: str | None = None,
                       rejected_path: Path | None = None, dry_run: bool = False,
                       progress: Progress | None = None, now: datetime | None = None,
                       workers: int | None = None, shown_as: str | None = None,
                       localise: Callable[[str], str] = str) -> ImportReport:
    """Import ``path`` into ``list_slug`` (active subscribers); every bad row is rejected
    with its line and reason and written to the rejected file, the rest imported.

    ``shown_as``: the name a refusal gives the file instead of ``path`` (the admin's
    uploads are stored under the workspace; the person chose ``lista.xlsx``).
    ``localise``: the rejected file in the reader's language (default English)."""
    try:
        return _import_subscribers(engine, path, list_slug, encoding=encoding,
                                   delimiter=delimiter, rejected_path=rejected_path,
                                   dry_run=dry_run, progress=progress, now=now,
                                   workers=workers, localise=localise)
    except MailerError as exc:
        message = message_of(exc)
        if (shown_as is None or not isinstance(message, Msg)
                or message.params.get("path") != str(path)):
            raise
        raise type(exc)(Msg(message.msgid, {**message.params, "path": shown_as},
                            message.plural, message.n), exc.problems) from None


def _shown(path: Path | None, base: Path | None) -> str:
    if path is None:
        return ""
    if base is not None and path.is_relative_to(base):
        return str(path.relative_to(base))
    return str(path)


def report_lines(r: ImportReport, *, base: Path | None = None) -> list[str]:
    """The report: counts, the first rejected rows, where the rest are. Paths under
    ``base`` are shown relative to it (the admin hides its upload folder)."""
    c = r.counts
    rows = msgn("%(count)s row in %(seconds)s s", "%(count)s rows in %(seconds)s s", r.rows,
                count=f"{r.rows:,}", seconds=f"{r.seconds:.1f}")
    head = (f"{'DRY RUN (nothing saved): ' if r.dry_run else ''}imported "
            f"{_shown(r.path, base)} into list {r.list_slug!r} ({r.format.label}; {rows})")
    lines = [head, f"columns: {r.columns}"]
    new = f" ({c.new_people:,} new to the database)" if c.imported else ""
    lines += [
        f"  imported:  {c.imported:>9,}{new}",
        f"  updated:   {c.updated:>9,}",
        f"  unchanged: {c.unchanged:>9,}",
    ]
    if c.kept_unsubscribed:
        lines.append(f"  unchanged (unsubscribed): {c.kept_unsubscribed:,} - they left this "
                     "list earlier; an import never subscribes them again")
    lines.append(f"  rejected:  {r.rejected:>9,}")
    if r.empty_rows:
        lines.append(f"  empty rows skipped: {r.empty_rows:,}")
    if c.organisations_created:
        lines.append(f"  new organisations: {c.organisations_created:,}")
    if r.rejected:
        lines.append("rejected rows:")
        lines += [f"  {x}" for x in r.first_rejected]
        more = r.rejected - len(r.first_rejected)
        if more:
            lines.append(f"  … and {more:,} more")
        lines.append("all rejected rows, with line and reason: "
                     f"{_shown(r.rejected_path, base)}")
    return lines


# --- registrations ------------------------------------------------------------------------
def import_registrations(session: Session, settings: Settings, slug: str, data: bytes, *,
                         filename: str, create_unknown: bool,
                         now: datetime) -> RegistrationReport:
    """An external registration system's CSV into the invitation's registrations (the
    invitation row locked); a dry run is the caller's rollback."""
    inv, row = open_invitation(session, settings, slug, now)
    return _import_registrations(session, row, data,
                                 accepted_ids={slug, inv.registration.external_id}, tz=inv.tz,
                                 now=now, source=filename, create_unknown=create_unknown)


def write_rejected_registrations(path: Path, report: RegistrationReport) -> None:
    """The rejected rows with line and reason, then the original columns (Excel-friendly)."""
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        w = SafeCsvWriter(fh, delimiter=";")
        w.writerow(["rad/line", "fel/reason", *report.headers])
        for r in sorted(report.rejected, key=lambda r: r.line):
            w.writerow([r.line, r.reason, *r.raw])
