"""``mailer invitations``, ``mailer registrations``, ``mailer remind`` and ``mailer reconfirm``.

Thin: parse, call ``mailer.services.invitations`` (and ``imports``), print. ID is always
the invitation's folder name under ``issues/``. Commands that depend on the time take
``--now DATETIME`` (naive means the configured zone), so a dry run can be made for any
moment.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import typer
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from mailer.cli import app
from mailer.cli.context import AppContext
from mailer.domain.findings import msgn
from mailer.domain.invitation import Invitation, meetings, seats_text
from mailer.domain.localtime import LocalTimeError, parse_local
from mailer.domain.reminders import SlotState, invitation_slots
from mailer.errors import MailerError
from mailer.invitation_files import invitation_path
from mailer.services import imports
from mailer.services import invitations as service
from mailer.services.invitations import SlotReport
from mailer.store.models import ReconfirmAnswer

invitations_app = typer.Typer(help="Invitations: check, sync, show, calendar file.",
                              no_args_is_help=True)
registrations_app = typer.Typer(help="Registrations: import, list, add, cancel, transfer.",
                                no_args_is_help=True)
reconfirm_app = typer.Typer(help="Yearly re-confirmation of multi-year networks.",
                            no_args_is_help=True)
app.add_typer(invitations_app, name="invitations")
app.add_typer(registrations_app, name="registrations")
app.add_typer(reconfirm_app, name="reconfirm")

NOW_HELP = ("Pretend it is this time (e.g. '2023-02-08 09:00', in the configured zone, or "
            "ISO 8601 with an offset). Default: now.")


def parse_now(value: str | None, tz_name: str) -> datetime:
    """``--now`` as an aware UTC datetime; a naive value is in the configured zone."""
    if not value:
        return datetime.now(UTC)
    from zoneinfo import ZoneInfo

    try:
        return parse_local(value, ZoneInfo(tz_name))
    except LocalTimeError as exc:
        raise MailerError(f"--now: {exc}") from None


@contextmanager
def session_for(engine: Engine, *, dry_run: bool = False) -> Iterator[Session]:
    """One transaction; rolled back at the end of a dry run so nothing changes."""
    with Session(engine, expire_on_commit=False) as session:
        session.begin()
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        if dry_run:
            session.rollback()
        else:
            session.commit()


def _load(c: AppContext, slug: str) -> Invitation:
    return service.load(c.settings, slug)


def _local(dt: datetime, inv: Invitation) -> str:
    return dt.astimezone(inv.tz).strftime("%Y-%m-%d %H:%M")


# --- invitations ----------------------------------------------------------------------
@invitations_app.command("check")
def check(ctx: typer.Context, slug: str = typer.Argument(..., metavar="ID"),
          now: str | None = typer.Option(None, "--now", help=NOW_HELP)) -> None:
    """Validate issues/ID/issue.yaml (as 'mailer issue check' does) and show its timing."""
    from mailer.authoring import load_document
    from mailer.services.invitation_mail import render_problems

    c: AppContext = ctx.obj
    s = c.settings
    at = parse_now(now, s.timezone)
    path = invitation_path(s.workspace, slug)
    loaded = load_document(path, today=at.astimezone(s.tz).date())
    for p in loaded.problems:
        typer.echo(str(p), err=True)
    if not loaded.ok:
        raise typer.Exit(1)
    inv = service.load(s, slug)
    broken = render_problems(s, slug, inv)
    for line in broken:
        typer.echo(f"{path}: {line}", err=True)
    if broken:
        raise typer.Exit(1)
    typer.echo(f"{path}: ok ({meetings(len(inv.meetings))}, deadline {_local(inv.deadline, inv)}"
               f" {inv.timezone}; the invitation and its reminders render)")
    for slot in invitation_slots(inv):
        typer.echo(f"  reminder {slot.key}: {_local(slot.at, inv)}")


@invitations_app.command("sync")
def sync(ctx: typer.Context, slug: str = typer.Argument(..., metavar="ID"),
         now: str | None = typer.Option(None, "--now", help=NOW_HELP)) -> None:
    """Bring the database in line with issue.yaml (deadline, seats, reminders)."""
    c: AppContext = ctx.obj
    at = parse_now(now, c.settings.timezone)
    with session_for(c.engine) as session:
        inv, result = service.sync(session, c.settings, slug, at)
    what = "created" if result.created else "updated" if result.changed else "unchanged"
    typer.echo(f"{slug}: {what}")
    if result.deadline_moved:
        typer.echo(f"the deadline moved to {_local(inv.deadline, inv)}; a running worker "
                   "reschedules the reminders on its next sweep")


@invitations_app.command("show")
def show(ctx: typer.Context, slug: str = typer.Argument(..., metavar="ID"),
         now: str | None = typer.Option(None, "--now", help=NOW_HELP)) -> None:
    """Deadline, reminders and their state, invitees, seats, ledger."""
    c: AppContext = ctx.obj
    at = parse_now(now, c.settings.timezone)
    with session_for(c.engine, dry_run=True) as session:
        d = service.detail(session, c.settings, slug, at)
        inv, row = d.invitation, d.row
        typer.echo(f"{inv.title}\n  deadline: {_local(inv.deadline, inv)} ({inv.timezone})"
                   f"{'  (passed)' if inv.deadline_utc <= at else ''}")
        typer.echo(f"  seats: {seats_text(inv.seats)}"
                   f"{', transferable' if inv.seats.transferable else ''}"
                   f"{', wait list' if inv.seats.waitlist else ''}")
        typer.echo(f"  invitees: {d.invitees}"
                   + (f" (first invited {_local(row.first_invited_at, inv)})"
                      if row.first_invited_at else " (not invited yet)"))
        if d.not_reached:
            typer.echo(f"  not reached: {d.not_reached} (their copy expired, was skipped or "
                       f"failed; see 'mailer mailings'; 'mailer invite {slug}' invites them "
                       "again)")
        for slot in d.slots:
            counts = ", ".join(f"{k} {n}" for k, n in sorted(slot.ledger.items()))
            what = slot.state if row.first_invited_at else "(after the invitation is sent)"
            typer.echo(f"  reminder {slot.key}: {_local(slot.at, inv)} {what}"
                       + (f" ({counts})" if counts else ""))


@invitations_app.command("ics")
def ics(ctx: typer.Context, slug: str = typer.Argument(..., metavar="ID"),
        out: Path | None = typer.Option(
            None, "--out", "-o",
            help="default: inbjudan.ics or invitation.ics, in the invitation's language")) -> None:
    """Write the meetings as an iCalendar file (what the confirmation carries)."""
    from mailer.render.ics import ics_filename, meetings_ics

    c: AppContext = ctx.obj
    inv = _load(c, slug)
    target = out or Path(ics_filename(inv.language))
    data = meetings_ics(inv, slug, domain=c.settings.sender.domain, now=datetime.now(UTC))
    try:
        target.write_bytes(data)
    except OSError as exc:
        raise MailerError(f"--out {target}: cannot write the file there ({exc.strerror}); "
                          "choose another path") from None
    typer.echo(f"wrote {target} ({meetings(len(inv.meetings))})")


@app.command("invite")
def invite(ctx: typer.Context, slug: str = typer.Argument(..., metavar="ID"),
           list_slug: str | None = typer.Option(None, "--list", "-l",
                                                help="List to invite (default: lists: in "
                                                     "issue.yaml)."),
           dry_run: bool = typer.Option(False, "--dry-run", help="Count only; send nothing."),
           now: str | None = typer.Option(None, "--now", help=NOW_HELP),
           where: list[str] = typer.Option([], "--where",
                                           help="Only subscribers meeting FIELD=VALUE, "
                                                "FIELD!=VALUE or FIELD~TEXT (repeatable, all "
                                                "must hold); fields as for 'mailer send', and "
                                                "registered=yes/no for this invitation.")
           ) -> None:
    """Send the invitation to every active subscriber of a list not invited yet."""
    c: AppContext = ctx.obj
    at = parse_now(now, c.settings.timezone)
    with session_for(c.engine, dry_run=dry_run) as session:
        done = service.invite(session, c.settings, slug, list_slug=list_slug, now=at,
                              dry_run=dry_run, where=where)
    for d in done:
        if dry_run:
            typer.echo(f"{d.list_slug}: {d.people} would be invited")
        else:
            typer.echo(f"{d.list_slug}: {d.people} invited"
                       + (f" in mailing {d.mailing_id}" if d.people else
                          " (everyone was invited already)"))
    deadline = _load(c, slug).deadline_utc
    if dry_run and deadline <= at:
        typer.echo("the deadline has passed: a real send would be refused", err=True)
    elif not dry_run and any(d.people for d in done) and deadline <= datetime.now(UTC):
        # --now decided who is invited; the copies still expire at the deadline by the
        # real clock, so only a worker on the same --now delivers them.
        typer.echo("note: by the real clock the deadline has passed: a worker skips these "
                   "copies as expired unless it runs with the same --now "
                   "(mailer worker --drain --now ...); expired copies do not count as "
                   "invited and can be invited again", err=True)


# --- registrations --------------------------------------------------------------------
@registrations_app.command("list")
def list_registrations(ctx: typer.Context, slug: str = typer.Argument(..., metavar="ID")) -> None:
    """Registrations grouped by organisation, with the seats left."""
    c: AppContext = ctx.obj
    with session_for(c.engine, dry_run=True) as session:
        inv, groups = service.seats(session, c.settings, slug, datetime.now(UTC))
        if not groups:
            typer.echo(f"no registrations for {slug} yet")
            return
        total = 0
        for g in groups:
            total += len(g.registered)
            typer.echo(msgn("%(organisation)s: %(taken)s of %(n)s seat, %(left)s left",
                            "%(organisation)s: %(taken)s of %(n)s seats, %(left)s left",
                            g.limit, organisation=g.organisation, taken=len(g.registered),
                            left=g.remaining))
            for label, rows in (("registered", g.registered), ("wait list", g.waitlisted),
                                ("", g.other)):
                for r in rows:
                    state = label or r.status.value
                    if r.transferred_to_id:
                        state += " (seat passed on)"
                    typer.echo(f"  {r.subscriber.name or '-':<28} {r.subscriber.email:<36} "
                               f"{state:<22} {r.how.value:<11} {_local(r.registered_at, inv)}")
        orgs = sum(1 for g in groups if g.registered)
        typer.echo(msgn("%(total)s registered from %(n)s organisation",
                        "%(total)s registered from %(n)s organisations", orgs, total=total))


@registrations_app.command("import")
def import_cmd(
    ctx: typer.Context,
    file: Path = typer.Argument(..., exists=False),
    slug: str = typer.Option(..., "--invitation", metavar="ID", help="Folder under issues/."),
    create_unknown: bool = typer.Option(False, "--create-unknown",
                                        help="Add people we do not know (needs name and "
                                             "organisation columns)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Report only; change nothing."),
    now: str | None = typer.Option(None, "--now", help=NOW_HELP),
) -> None:
    """Import registrations from an external system's CSV (sv/en headers) with a report.

    Rejected rows are listed with line and reason and written to FILE.rejected.csv.
    Exit status, as for 'mailer subscribers import': 0 every row applied, 1 some rows
    rejected (the rest applied, or would be with --dry-run), 2 the file cannot be used.
    """
    c: AppContext = ctx.obj
    if not file.is_file():
        raise MailerError(f"{file}: no such file")
    at = parse_now(now, c.settings.timezone)
    with session_for(c.engine, dry_run=dry_run) as session:
        report = imports.import_registrations(session, c.settings, slug, file.read_bytes(),
                                              filename=file.name,
                                              create_unknown=create_unknown, now=at)
    for line in report.lines():
        typer.echo(line)
    if report.rejected:
        rejected = file.with_name(file.stem + ".rejected.csv")
        imports.write_rejected_registrations(rejected, report)
        typer.echo(f"rejected rows written to {rejected}")
    if dry_run:
        typer.echo("dry run: nothing was changed")
    if report.rejected:  # a script must not read "all went in" from a partial import
        raise typer.Exit(1)


@registrations_app.command("add")
def add(ctx: typer.Context, slug: str = typer.Argument(..., metavar="ID"),
        email: str = typer.Argument(...),
        name: str = typer.Option("", "--name", help="To add someone we do not know yet."),
        organisation: str = typer.Option("", "--organisation"),
        late: bool = typer.Option(False, "--late", help="Accept after the deadline."),
        confirm: bool = typer.Option(False, "--send-confirmation",
                                     help="E-mail the confirmation with the meetings (.ics)."),
        now: str | None = typer.Option(None, "--now", help=NOW_HELP)) -> None:
    """Register a person (a coordinator marking a registration by hand)."""
    c: AppContext = ctx.obj
    at = parse_now(now, c.settings.timezone)
    with session_for(c.engine) as session:
        result = service.add_registration(session, c.settings, slug, email=email, name=name,
                                          organisation=organisation, late=late, now=at,
                                          send_confirmation=confirm)
    typer.echo(result.message)


@registrations_app.command("cancel")
def cancel_cmd(ctx: typer.Context, slug: str = typer.Argument(..., metavar="ID"),
               email: str = typer.Argument(...),
               now: str | None = typer.Option(None, "--now", help=NOW_HELP)) -> None:
    """Cancel a registration; the seat goes to the organisation's first on the wait list."""
    c: AppContext = ctx.obj
    at = parse_now(now, c.settings.timezone)
    with session_for(c.engine) as session:
        done = service.cancel_registration(session, c.settings, slug, email, at)
        promoted = done.promoted.subscriber.email if done.promoted else None
    typer.echo(f"cancelled {email}" + (f"; {promoted} moved up from the wait list"
                                       if promoted else ""))


@registrations_app.command("transfer")
def transfer_cmd(ctx: typer.Context, slug: str = typer.Argument(..., metavar="ID"),
                 from_email: str = typer.Argument(..., metavar="FROM"),
                 to_email: str = typer.Argument(..., metavar="TO"),
                 name: str = typer.Option("", "--name", help="Name of TO if we do not know "
                                                             "them yet."),
                 now: str | None = typer.Option(None, "--now", help=NOW_HELP)) -> None:
    """Give a seat to a colleague in the same organisation."""
    c: AppContext = ctx.obj
    at = parse_now(now, c.settings.timezone)
    with session_for(c.engine) as session:
        done = service.transfer_seat(session, c.settings, slug, from_email=from_email,
                                     to_email=to_email, name=name, now=at)
    typer.echo(f"the seat of {from_email} now belongs to {to_email} ({done.organisation})")
    if done.organisation_recorded:
        typer.echo(f"{to_email} had no organisation on file; it is now {done.organisation}")


# --- reminders ------------------------------------------------------------------------
@app.command("remind")
def remind(ctx: typer.Context, slug: str = typer.Argument(..., metavar="ID"),
           dry_run: bool = typer.Option(False, "--dry-run",
                                        help="List who would get a reminder and why others "
                                             "would not; change nothing."),
           offset: str | None = typer.Option(None, "--offset",
                                             help="Which reminder (7d, 1d); default: the "
                                                  "current one."),
           now: str | None = typer.Option(None, "--now", help=NOW_HELP)) -> None:
    """Send the current reminder now to invitees who have not registered."""
    c: AppContext = ctx.obj
    at = parse_now(now, c.settings.timezone)
    inv = _load(c, slug)
    with session_for(c.engine, dry_run=dry_run) as session:
        report = service.remind(session, c.settings, slug, at, dry_run=dry_run, offset=offset)
    print_remind(report, inv, slug, at, dry_run=dry_run)


def print_remind(report: SlotReport, inv: Invitation, slug: str, at: datetime, *,
                 dry_run: bool) -> None:
    """What 'mailer remind' prints: one line per invitee, then the summary."""
    sent = not dry_run
    for d in report.decisions:
        typer.echo(d.line(sent=sent))
    counts = ", ".join(f"{label}: {n}" for label, n in sorted(
        Counter(d.label(sent=sent) for d in report.decisions).items()))
    head = (f"reminder {report.key} (due {_local(report.slot.at, inv)})"
            + (" sent early" if report.state is SlotState.upcoming and not dry_run else ""))
    if dry_run:
        closed = " - the deadline has passed, nothing would be sent" \
            if inv.deadline_utc <= at else ""
        if not report.decisions:
            closed += (f" - nobody is invited yet (mailer invite {slug} --list SLUG)")
        typer.echo(f"dry run, {head}: {len(report.recipients)} would be reminded ({counts})"
                   f"{closed}", err=True)
    else:
        typer.echo(f"{head}: {len(report.recipients)} reminded"
                   + (f" in mailing {report.mailing_id}" if report.mailing_id else "")
                   + f" ({counts})", err=True)


# --- yearly re-confirmation ------------------------------------------------------------
@reconfirm_app.command("status")
def reconfirm_status(ctx: typer.Context, slug: str = typer.Argument(..., metavar="ID"),
                     year: int = typer.Argument(...)) -> None:
    """Who was asked to confirm YEAR and what they answered."""
    c: AppContext = ctx.obj
    with session_for(c.engine, dry_run=True) as session:
        rows = service.reconfirmation_status(session, c.settings, slug, year,
                                             datetime.now(UTC))
    if not rows:
        typer.echo(f"nobody has been asked about {year} yet")
    for r in rows:
        answer = r.answer.value if r.answer else "no answer yet"
        typer.echo(f"{r.organisation:<30} {r.email:<36} {answer}")


@reconfirm_app.command("answer")
def reconfirm_answer(ctx: typer.Context, slug: str = typer.Argument(..., metavar="ID"),
                     email: str = typer.Argument(...), year: int = typer.Argument(...),
                     answer: ReconfirmAnswer = typer.Argument(..., help="yes or no"),
                     comment: str = typer.Option("", "--comment"),
                     now: str | None = typer.Option(None, "--now", help=NOW_HELP)) -> None:
    """Record a participant's answer given by phone or e-mail."""
    c: AppContext = ctx.obj
    at = parse_now(now, c.settings.timezone)
    with session_for(c.engine) as session:
        service.answer_reconfirmation(session, c.settings, slug, email=email, year=year,
                                      answer=answer, now=at, comment=comment)
    typer.echo(f"{email}: {answer.value} for {year}")


@invitations_app.command("run-due")
def run_due(ctx: typer.Context,
            dry_run: bool = typer.Option(False, "--dry-run", help="Report only."),
            now: str | None = typer.Option(None, "--now", help=NOW_HELP)) -> None:
    """Send every reminder and re-confirmation that is due now, mark missed ones (for cron;
    the worker does the same on every pass)."""
    c: AppContext = ctx.obj
    at = parse_now(now, c.settings.timezone)
    report = service.run_due(c.engine, c.settings, now=at, dry_run=dry_run)
    for slug, reps in report.reminders.items():
        for r in reps:
            if r.state is SlotState.due:
                typer.echo(f"{slug} reminder {r.key}: {len(r.recipients)} "
                           f"{'would be ' if dry_run else ''}reminded")
            elif r.missed:
                typer.echo(f"{slug} reminder {r.key}: {r.state.value}, {r.missed} marked missed")
    for slug, years in report.reconfirmations.items():
        for y in years:
            if y.state == "due" and (y.asked or dry_run):
                typer.echo(f"{slug} re-confirmation {y.year}: {len(y.asked)} "
                           f"{'would be ' if dry_run else ''}asked")
    for slug, why in report.problems.items():
        typer.echo(f"{slug}: skipped: {why}", err=True)
    if report.problems:
        raise typer.Exit(1)

