"""``mailer send|mailings|pause|resume|cancel|worker|catcher``: thin verbs over delivery."""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

import typer

from mailer.cli import app
from mailer.cli.context import AppContext
from mailer.domain.localtime import LocalTimeError, parse_local
from mailer.errors import MailerError
from mailer.services import mailings as svc
from mailer.store.db import transaction


def _parse_at(value: str, ctx: AppContext) -> datetime:
    try:
        return parse_local(value, ctx.settings.tz)
    except LocalTimeError as exc:
        raise MailerError(f"--at: {exc} (times are in {ctx.settings.timezone})") from None


def _local(dt: datetime | None, ctx: AppContext) -> str:
    return dt.astimezone(ctx.settings.tz).strftime("%Y-%m-%d %H:%M") if dt else "-"


@app.command("send")
def send(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="Issue or invitation folder (or its issue.yaml)."),
    lists: list[str] = typer.Option([], "--list", "-l",
                                    help="Target list slug (repeatable; default: the "
                                         "issue's own 'lists')."),
    at: str = typer.Option("", "--at", help='Send at this local time, e.g. "2023-06-15 08:00".'),
    again: bool = typer.Option(False, "--again",
                               help="Send although the issue already went (or is going) to "
                                    "one of the lists."),
    include_received: bool = typer.Option(False, "--include-received",
                                          help="With --again: send to people who already "
                                               "got the issue too."),
    dry_run: bool = typer.Option(False, "--dry-run",
                                 help="Show per list who would get it, who is left out and "
                                      "why, and the check's warnings; change nothing."),
    test: str = typer.Option("", "--test",
                             help="Send a test copy (marked [TEST]) to these addresses "
                                  "(comma-separated) instead of the lists."),
) -> None:
    """Render PATH once and plan a mailing to the lists, now or at a time."""
    from mailer.delivery.sources import render_path

    c: AppContext = ctx.obj
    when = _parse_at(at, c) if at else None
    if include_received and not again:
        raise MailerError("--include-received goes with --again (a first send reaches "
                          "everyone on the lists anyway)")
    src = render_path(path, c.settings)
    if test:
        if lists or at or again or dry_run:
            raise MailerError("--test sends a test copy now; leave out --list, --at, --again "
                              "and --dry-run")
        addresses = svc.test_addresses(test)
        with transaction(c.engine) as s:
            planned = svc.plan_test(s, src.rendered, addresses, base_url=c.settings.base_url,
                                    source=src.path, now=datetime.now(UTC))
        typer.echo(f"test mailing {planned.mailing_id} queued for {', '.join(addresses)} "
                   f"(subject marked {svc.TEST_MARK}); run 'mailer worker --drain' to send")
        return
    if str(src.kind) == "invitation":
        # Invitations must record who was invited (reminders go to them); that is
        # 'mailer invite', which also refuses after the registration deadline.
        folder = path.parent if path.suffix == ".yaml" else path
        raise MailerError(f"{path} is an invitation; send it with: mailer invite "
                          f"{folder.name} --list SLUG")
    lists = list(lists) or src.lists
    if not lists:
        raise MailerError(f"{path}: no target list; give --list SLUG or set 'lists' in the issue")
    if dry_run:
        with transaction(c.engine) as s:
            report = svc.dry_run(s, source=src.path, list_slugs=lists, again=again,
                                 include_received=include_received)
        _print_dry_run(report, src.warnings)
        return
    with transaction(c.engine) as s:
        planned = svc.plan_issue(s, src.rendered, name=src.name, source=src.path,
                                 list_slugs=lists, at=when, now=datetime.now(UTC),
                                 again=again, include_received=include_received)
    m, n = planned.mailing_id, planned.queued
    if when:
        typer.echo(f"mailing {m} scheduled for {_local(when, c)} ({c.settings.timezone}): "
                   f"{n} recipients now; a running 'mailer worker' sends it")
    else:
        typer.echo(f"mailing {m} queued for {n} recipients; "
                   "run 'mailer worker' (or 'mailer worker --drain') to send")


def _print_dry_run(report: svc.DryRun, warnings: list[str]) -> None:
    typer.echo("dry run: nothing planned, nothing changed")
    for p in report.lists:
        typer.echo(f"list {p.slug} ({p.name}): {p.would_get} would get it")
        left = [(p.already_received, "already got this issue (an earlier mailing)"),
                (p.on_other_list, "get their one copy through an earlier list of this send"),
                (p.unconfirmed, "have not confirmed their subscription"),
                (p.unsubscribed, "unsubscribed")]
        for n, why in left:
            if n:
                typer.echo(f"  left out {n}: {why}")
    typer.echo(f"in total {report.total} would get it")
    for e in report.earlier:
        typer.echo(f"earlier: {e.describe()}")
    if warnings:
        typer.echo(f"the check's warnings ({len(warnings)}):")
        for w in warnings:
            typer.echo(f"  {w}")
    else:
        typer.echo("the check found no warnings")
    if report.refusal:
        typer.echo(f"the send would be REFUSED: {report.refusal}")


@app.command("mailings")
def mailings(ctx: typer.Context) -> None:
    """List mailings with their progress."""
    c: AppContext = ctx.obj
    with transaction(c.engine) as s:
        rows = svc.progress(s)
    if not rows:
        typer.echo("no mailings yet; plan one with: mailer send PATH --list SLUG")
        return
    typer.echo(f"{'id':>4} {'kind':<12} {'status':<10} {'when':<16} {'sent':>7} {'failed':>6} "
               f"{'other':>6} {'total':>7}  name")
    for p in rows:
        other = p.total - p.counts.get("sent", 0) - p.counts.get("failed", 0)
        when = _local(p.scheduled_at or p.started_at, c)
        typer.echo(f"{p.id:>4} {p.kind:<12} {p.status:<10} {when:<16} "
                   f"{p.counts.get('sent', 0):>7} {p.counts.get('failed', 0):>6} {other:>6} "
                   f"{p.total:>7}  {p.name[:50]}")
        detail = {k: v for k, v in p.counts.items()
                  if k not in ("sent", "failed", "skipped", "unknown")}
        if detail:
            typer.echo("      " + ", ".join(f"{k} {v}" for k, v in sorted(detail.items())))
        for reason in p.reasons:
            typer.echo(f"      {reason}")
        if p.note:
            typer.echo(f"      note: {p.note}")


def _change(ctx: typer.Context, ref: str, verb: str) -> None:
    c: AppContext = ctx.obj
    now = datetime.now(UTC)
    with transaction(c.engine) as s:
        if verb == "pause":
            m = svc.pause(s, ref, now)
            typer.echo(f"mailing {m.id} paused; messages already handed to a connection finish")
        elif verb == "resume":
            m = svc.resume(s, ref, now)
            typer.echo(f"mailing {m.id} is {m.status} again")
        else:
            m, n = svc.cancel(s, ref, now)
            typer.echo(f"mailing {m.id} cancelled; {n} messages will not be sent")


@app.command("pause")
def pause(ctx: typer.Context, mailing: str = typer.Argument(..., help="Mailing id.")) -> None:
    """Pause a sending or scheduled mailing."""
    _change(ctx, mailing, "pause")


@app.command("resume")
def resume(ctx: typer.Context, mailing: str = typer.Argument(..., help="Mailing id.")) -> None:
    """Resume a paused mailing."""
    _change(ctx, mailing, "resume")


@app.command("cancel")
def cancel(ctx: typer.Context, mailing: str = typer.Argument(..., help="Mailing id.")) -> None:
    """Cancel a mailing: what is not sent yet is skipped."""
    _change(ctx, mailing, "cancel")


@app.command("worker")
def worker(
    ctx: typer.Context,
    drain: bool = typer.Option(False, "--drain",
                               help="Deliver what is due now, then exit (cron, scripts)."),
    max_wait: float = typer.Option(60.0, "--max-wait",
                                   help="With --drain: wait for retries due within this many "
                                        "seconds; later ones are left for the next run."),
    now: str | None = typer.Option(None, "--now",
                                   help="With --drain: decide invitation reminders and "
                                        "re-confirmations as if it were this time (e.g. "
                                        "'2023-02-08 09:00'); for dry runs and tests."),
) -> None:
    """Run the scheduler and delivery loop (or, with --drain, deliver once and exit)."""
    from mailer.delivery.worker import Worker
    from mailer.schedule.runner import run_worker

    c: AppContext = ctx.obj
    engine, settings = c.engine, c.settings
    # Hand the GIL to the database thread sooner (default 5 ms): the outcome of a
    # message the server accepted is committed sooner, which narrows the window in which
    # a crash makes it go out twice.
    sys.setswitchinterval(0.0005)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        clock = None
        if drain and now:
            from mailer.cli.invitations import parse_now

            shift = parse_now(now, settings.timezone) - datetime.now(UTC)
            clock = lambda: datetime.now(UTC) + shift  # noqa: E731
        w = Worker(engine, settings, role="drain" if drain else "scheduler", clock=clock)
        if drain:
            from mailer.cli.invitations import parse_now
            from mailer.schedule.invitations import worker_pass

            at = parse_now(now, settings.timezone)
            invites = await asyncio.to_thread(worker_pass, engine, settings, now=at)
            if invites.reminded:
                typer.echo(f"invitations: {invites.reminded} reminders planned")
            for slug, why in invites.problems.items():
                typer.echo(f"invitation {slug} skipped: {why}", err=True)
            try:
                report = await w.deliver(drain=True, stop=stop, max_wait=max_wait)
            finally:
                await w.close()
        else:
            if now:
                raise MailerError("--now works with --drain only")

            def started() -> None:
                typer.echo(f"worker {w.id}: scheduler and delivery to "
                           f"{settings.smtp.redacted()}; Ctrl-C stops")
            try:
                report = await run_worker(engine, settings, stop=stop, worker=w,
                                          on_started=started)
            except MailerError:
                await w.close()
                raise
        typer.echo(
            f"sent {report.sent}, failed {report.failed}, unknown {report.unknown}, "
            f"retries {report.retried} in {report.seconds:.1f} s ({report.rate:.0f}/s)")
        if report.settled_from_journal:
            typer.echo(f"recorded {report.settled_from_journal} outcomes of an earlier worker "
                       "that stopped, from its journal")
        if report.requeued_at_start:
            typer.echo(f"re-sent {report.requeued_at_start} messages that were in flight "
                       "when an earlier worker stopped (they may arrive twice)")
        for mid in report.missed:
            typer.echo(f"mailing {mid} MISSED: its time passed beyond the grace "
                       "(see 'mailer mailings')")
        if report.waiting_retries:
            typer.echo(f"{report.waiting_retries} messages wait for a later retry")

    asyncio.run(run())


@app.command("catcher")
def catcher(
    ctx: typer.Context,
    smtp_port: int = typer.Option(2525, "--smtp-port", min=1, max=65535),
    web_port: int = typer.Option(8025, "--web-port", min=1, max=65535),
) -> None:
    """Catch all mail on 127.0.0.1 into a Maildir in the workspace, with a web page."""
    import time

    from mailer.delivery.catcher import Catcher

    c: AppContext = ctx.obj
    path = c.settings.workspace / "catcher" / "Maildir"
    try:
        cat = Catcher(path, smtp_port=smtp_port, web_port=web_port).start()
    except OSError as exc:
        raise MailerError(f"cannot listen on 127.0.0.1 ({exc}); choose other ports with "
                          "--smtp-port/--web-port") from None
    typer.echo(f"catching mail at {cat.smtp_url} (MAILER_SMTP_URL={cat.smtp_url})\n"
               f"Maildir: {path}\nread it at {cat.web_url}  (Ctrl-C stops)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        cat.stop()


@app.command("unsubscribes")
def unsubscribes(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="Maildir, mbox file, or folder of .eml files where "
                                          "mail to the sender address is delivered."),
) -> None:
    """Apply unsubscribe requests sent by e-mail (List-Unsubscribe's mailto: form)."""
    from mailer.delivery.inbound import process_requests
    from mailer.tokens import Tokens

    c: AppContext = ctx.obj
    report = process_requests(c.engine, Tokens(c.settings.signing_keys()), path,
                              now=datetime.now(UTC))
    typer.echo(f"read {report.read} message(s): {report.unsubscribed} subscription(s) ended, "
               f"{report.already} already unsubscribed, {len(report.ignored)} not a request")
    for why in report.ignored[:20]:
        typer.echo(f"  {why}")
