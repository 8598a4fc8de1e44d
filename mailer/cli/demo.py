"""``mailer demo``: the whole path once — database, subscribers, render, catch, send."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from mailer.cli import app
from mailer.cli.context import AppContext
from mailer.config import Settings, load_settings
from mailer.errors import MailerError
from mailer.store.db import make_engine, transaction, upgrade

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from mailer.delivery.worker import DeliveryReport

DEMO_LIST = "medborgardialog"
DEMO_LIST_NAME = "Nyhetsbrev om medborgardialog"
_PACKAGE = Path(__file__).resolve().parent.parent


def demo_csv() -> Path:
    """``subscribers/demo.csv`` as shipped (inside the package, or beside it in a checkout)."""
    for candidate in (_PACKAGE / "_subscribers" / "demo.csv",
                      _PACKAGE.parent / "subscribers" / "demo.csv"):
        if candidate.is_file():
            return candidate
    raise MailerError("subscribers/demo.csv is missing from this installation; reinstall mailer")


@app.command("demo")
def demo(
    ctx: typer.Context,
    folder: Path = typer.Option(Path("mailer-demo"), "--dir",
                                help="Demo workspace (default ./mailer-demo; ignored when "
                                     "--workspace is given)."),
    keep: bool = typer.Option(False, "--keep",
                              help="Keep the catcher's web page running until Ctrl-C."),
) -> None:
    """Create a workspace, import the 52 fictitious subscribers of subscribers/demo.csv,
    render newsletter nr 6 2023, start the built-in mail catcher, send the issue to
    everyone on the demo list, then invite them to the example network and show the
    reminder's dry run."""
    from mailer.authoring.examples import copy_example
    from mailer.delivery.catcher import Catcher
    from mailer.delivery.sources import render_path
    from mailer.services.demo import fill_list, list_summary
    from mailer.services.imports import report_lines
    from mailer.services.mailings import plan_mailing

    c: AppContext = ctx.obj
    started = time.perf_counter()
    workspace = (c.workspace or folder).resolve()
    workspace.mkdir(parents=True, exist_ok=True)
    settings = load_settings(workspace, demo=True)
    settings.signing_key()  # a random key for this workspace, kept in .mailer-secret (0600)
    engine = make_engine(settings.db_url)
    upgrade(engine)
    typer.echo(f"1/5 workspace {workspace} (database {settings.db_url})")

    report = fill_list(engine, demo_csv(), DEMO_LIST, DEMO_LIST_NAME)
    typer.echo("2/5 " + "\n".join(report_lines(report)))

    issue = copy_example(workspace)
    source = render_path(issue, settings)
    typer.echo(f"3/5 rendered {issue.relative_to(workspace)}: {source.rendered.subject!r} "
               f"({len(source.rendered.html.encode()) / 1024:.0f} KB HTML, once per mailing)")

    catcher = Catcher(workspace / "catcher" / "Maildir", smtp_port=0, web_port=0).start()
    try:
        typer.echo(f"4/5 mail catcher on {catcher.smtp_url}, web page {catcher.web_url}")
        with transaction(engine) as s:
            mailing, planned = plan_mailing(
                s, source.rendered, kind=source.kind, name=source.name, source=source.path,
                list_slugs=[DEMO_LIST], now=datetime.now(UTC))
        sending = settings.model_copy(update={"smtp_url": catcher.smtp_url})
        result = _send(engine, sending, planned)
        typer.echo(f"5/5 mailing {mailing.id}: sent {result.sent}, failed {result.failed}, "
                   f"unknown {result.unknown}, skipped {result.skipped} of {planned} in "
                   f"{result.seconds:.2f} s ({result.rate:.0f} messages/s)")
        for row in list_summary(engine):
            typer.echo(f"    list {row.slug}: {row.active} active, {row.unconfirmed} "
                       f"unconfirmed, {row.unsubscribed} unsubscribed")
        typer.echo(f"done in {time.perf_counter() - started:.1f} s. Read the mail:\n"
                   f"    Maildir  {workspace / 'catcher' / 'Maildir'}\n"
                   f"    web      {catcher.web_url}  (later: mailer -w {workspace} catcher)\n"
                   f"    issue    mailer -w {workspace} issue preview {issue}")
        if result.sent != planned:
            raise MailerError(f"only {result.sent} of {planned} messages were delivered; "
                              f"see 'mailer -w {workspace} mailings'")
        _coordinator(engine, sending, workspace)
        if keep:
            typer.echo("the catcher's web page stays up; press Ctrl-C to stop")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    finally:
        catcher.stop()
        engine.dispose()


#: The demo registers these invitees (from subscribers/demo.csv) after inviting them.
DEMO_REGISTRANTS = ("asa.lindqvist@hylte.example", "maria.holm@uppsala.example",
                    "lars.wikstrom@falun.example")


def _coordinator(engine: Engine, settings: Settings, workspace: Path) -> None:
    """The coordinator's path on the example invitation, as if it were 26 days before its
    deadline: invite the demo list, deliver, register a few, then a reminder dry run."""
    from datetime import timedelta

    from mailer.authoring.examples import INVITATION, copy_example
    from mailer.cli.invitations import print_remind, session_for
    from mailer.delivery.worker import deliver_due
    from mailer.domain.reminders import invitation_slots
    from mailer.services import invitations as service

    folder = copy_example(workspace, INVITATION, lists=[DEMO_LIST])
    inv = service.load(settings, INVITATION)
    invite_at = (inv.deadline - timedelta(days=26)).replace(hour=9, minute=0)
    local = f"{invite_at:%Y-%m-%d %H:%M}"
    typer.echo(f"coordinator: {folder.relative_to(workspace)} ({inv.title}), "
               f"deadline {inv.deadline:%Y-%m-%d %H:%M}; as if it were {local}:")
    with session_for(engine) as s:
        invited = service.invite(s, settings, INVITATION, list_slug=None, now=invite_at)
    shift = invite_at - datetime.now(UTC)
    report = deliver_due(engine, settings, clock=lambda: datetime.now(UTC) + shift)
    for d in invited:
        typer.echo(f"    mailer invite {INVITATION} --now '{local}': {d.people} invited from "
                   f"list {d.list_slug}; delivered {report.sent}")
    register_at = invite_at + timedelta(days=10)
    for email in DEMO_REGISTRANTS:
        try:
            with session_for(engine) as s:
                added = service.add_registration(s, settings, INVITATION, email=email,
                                                 now=register_at)
            typer.echo(f"    mailer registrations add {INVITATION} {email}: {added.message}")
        except MailerError as exc:
            typer.echo(f"    {email}: {exc.message}")
    remind_at = invitation_slots(inv)[0].at
    typer.echo(f"    mailer remind {INVITATION} --dry-run --now "
               f"'{remind_at.astimezone(inv.tz):%Y-%m-%d %H:%M}':")
    with session_for(engine, dry_run=True) as s:
        dry = service.remind(s, settings, INVITATION, remind_at, dry_run=True)
    print_remind(dry, inv, INVITATION, remind_at, dry_run=True)


def _send(engine: Engine, settings: Settings, planned: int) -> DeliveryReport:
    """Drain the outbox, with a progress bar on a terminal."""
    from mailer.delivery.worker import deliver_due

    if not sys.stderr.isatty():
        return deliver_due(engine, settings)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress("sending", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  transient=True) as bar:
        task = bar.add_task("send", total=planned)

        def tick(r: DeliveryReport) -> None:
            bar.update(task, completed=r.sent + r.failed + r.unknown + r.skipped)

        return deliver_due(engine, settings, on_progress=tick)
