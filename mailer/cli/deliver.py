"""``mailer send|mailings|pause|resume|cancel|worker|catcher``: thin verbs over delivery."""

from __future__ import annotations

import asyncio
import gc
import re
import signal
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from sqlalchemy.orm import Session

from mailer.cli import app
from mailer.cli.context import AppContext
from mailer.domain.findings import msgn
from mailer.domain.localtime import LocalTimeError, parse_local
from mailer.errors import MailerError
from mailer.services import brands, segments, test_sends
from mailer.services import mailings as svc
from mailer.services.deliverability import left_out
from mailer.store.db import transaction

if TYPE_CHECKING:
    from mailer.delivery.sources import Source
    from mailer.services.brands import Signature


def _parse_at(value: str, ctx: AppContext) -> datetime:
    if re.fullmatch(r"\s*\d{4}-\d{2}-\d{2}\s*", value):
        # A day alone would be its midnight: a newsletter landing at 00:00 by mistake.
        raise MailerError(f"--at: {value.strip()!r} has no time of day; give one too, e.g. "
                          f"'{value.strip()} 08:00' (times are in {ctx.settings.timezone})")
    try:
        return parse_local(value, ctx.settings.tz)
    except LocalTimeError as exc:
        raise MailerError(f"--at: {exc} (times are in {ctx.settings.timezone})") from None


def _local(dt: datetime | None, ctx: AppContext) -> str:
    return dt.astimezone(ctx.settings.tz).strftime("%Y-%m-%d %H:%M") if dt else "-"


def _audience(session: Session, lists: list[str], where: list[str],
              segment: str) -> segments.Audience:
    """``--list``/``--where``/``--segment`` as the mailing's target (lists and conditions)."""
    return segments.audience(session, list_slugs=lists, where=where, segment=segment)


@app.command("send")
def send(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="Issue or invitation folder (or its issue.yaml)."),
    lists: list[str] = typer.Option([], "--list", "-l",
                                    help="Target list slug (repeatable; default: the "
                                         "issue's own 'lists')."),
    at: str | None = typer.Option(None, "--at",
                                  help='Send at this local time, e.g. "2023-06-15 08:00".'),
    where: list[str] = typer.Option([], "--where",
                                    help="Only subscribers meeting FIELD=VALUE, FIELD!=VALUE "
                                         "or FIELD~TEXT (contains); repeatable, all must "
                                         "hold. Fields: org.kind, org.code, org.county, "
                                         "org.name, role, language, attr.NAME."),
    segment: str | None = typer.Option(None, "--segment",
                                       help="A saved segment (mailer segments): its list "
                                            "and conditions."),
    window: str = typer.Option("", "--window",
                               help='When copies may land, e.g. "Mon-Fri 08:00-17:00" '
                                    "(Swedish holidays excluded), or 'off'; default: "
                                    "send_window in mailer.toml."),
    again: bool = typer.Option(False, "--again",
                               help="Send although the issue already went (or is going) to "
                                    "one of the lists."),
    include_received: bool = typer.Option(False, "--include-received",
                                          help="With --again: send to people who already "
                                               "got the issue too."),
    dry_run: bool = typer.Option(False, "--dry-run",
                                 help="Show per list who would get it, who is left out and "
                                      "why, and the check's warnings; change nothing."),
    test: str | None = typer.Option(None, "--test",
                                    help="Send a test copy (marked [TEST]) to these "
                                         "addresses (comma-separated) instead of the lists."),
    track_clicks: bool = typer.Option(False, "--track-clicks",
                                      help="Count clicks on the mail's links (per link, in "
                                           "aggregate; see 'mailer mailings show ID')."),
) -> None:
    """Render PATH once and plan a mailing to the lists, now or at a time."""
    from mailer.delivery.sources import render_path

    c: AppContext = ctx.obj
    # An option given empty (--test "$ADDRESSES" with the variable unset) is an error, never
    # "not given": that would send the issue to everyone on its lists, now.
    when = _parse_at(at, c) if at is not None else None
    if segment is not None and not segment.strip():
        raise MailerError("--segment is empty; give a saved segment's name (see: mailer "
                          "segments) or leave out --segment")
    segment = segment or ""
    if include_received and not again:
        raise MailerError("--include-received goes with --again (a first send reaches "
                          "everyone on the lists anyway)")
    # The day it goes out, for the check's warnings (an event or deadline that has passed).
    day = (when or datetime.now(UTC)).astimezone(c.settings.tz).date()
    src = render_path(path, c.settings, today=day)
    if test is not None:
        if lists or when or again or dry_run:
            raise MailerError("--test sends a test copy now; leave out --list, --at, --again "
                              "and --dry-run")
        addresses = svc.test_addresses(test)
        src, signature = _branded(c, path, src, src.lists, "", day, test=True)
        with transaction(c.engine) as s:
            planned = svc.plan_test(s, src.rendered, addresses, base_url=c.settings.base_url,
                                    source=src.path, now=datetime.now(UTC),
                                    signature=signature)
            running = test_sends.worker_running(s, datetime.now(UTC))
        # Queued, not sent: a worker sends it, and the server may still refuse it.
        typer.echo(f"test mailing {planned.mailing_id} queued for {', '.join(addresses)} "
                   f"(subject marked {svc.TEST_MARK}); not sent yet")
        typer.echo("  a worker is running: it sends the test within seconds" if running else
                   "  no worker is running: 'mailer worker --drain' sends it now (or start "
                   "'mailer worker'; 'mailer serve' also sends tests while no worker runs)")
        typer.echo(f"  each address's state: mailer mailings show {planned.mailing_id}")
        return
    if str(src.kind) == "invitation":
        # Invitations must record who was invited (reminders go to them); that is
        # 'mailer invite', which also refuses after the registration deadline.
        folder = path.parent if path.suffix == ".yaml" else path
        raise MailerError(f"{path} is an invitation; send it with: mailer invite "
                          f"{folder.name} --list SLUG")
    lists = list(lists) or ([] if segment else src.lists)
    if not lists and not segment:
        raise MailerError(f"{path}: no target list; give --list SLUG or set 'lists' in the issue")
    src, signature = _branded(c, path, src, lists, segment, day)
    if dry_run:
        # What the send would refuse before planning, the dry run refuses too.
        svc.check_send_time(when, datetime.now(UTC), c.settings.tz)
        svc.check_window(window)
        with transaction(c.engine) as s:
            report = svc.dry_run(s, source=src.path, list_slugs=lists, again=again,
                                 include_received=include_received, where=where,
                                 segment=segment, scheduled=when is not None,
                                 tz=c.settings.tz)
        _print_dry_run(report, src.warnings, c)
        if report.refusal:
            # A script checks the status, as for the send it stands for (MailerError's 2).
            raise typer.Exit(MailerError.exit_code)
        return
    with transaction(c.engine) as s:
        target = _audience(s, lists, where, segment)
        planned = svc.plan_issue(s, src.rendered, source=src.path,
                                 list_slugs=lists, at=when, now=datetime.now(UTC),
                                 where=where, segment=segment, send_window=window,
                                 again=again, include_received=include_received,
                                 track_clicks=svc.TrackClicks.of(c.settings)
                                 if track_clicks else None, signature=signature,
                                 tz=c.settings.tz)
        suppressed = left_out(s, list(svc.get_mailing(s, planned.mailing_id).list_ids))
    m, n = planned.mailing_id, planned.queued
    recipients = msgn("%(n)s recipient", "%(n)s recipients", n)
    if target.conditions:
        typer.echo("only subscribers where " + " and ".join(c.text for c in target.conditions))
    if when:
        typer.echo(f"mailing {m} scheduled for {_local(when, c)} ({c.settings.timezone}): "
                   f"{recipients} now; a running 'mailer worker' sends it")
        if not n:
            typer.echo("nobody would get it now: who is on its lists at that time gets it; "
                       "if nobody is, the mailing is cancelled then")
    else:
        typer.echo(f"mailing {m} queued for {recipients}; "
                   "run 'mailer worker' (or 'mailer worker --drain') to send")
    if suppressed:
        left = msgn("%(n)s subscriber", "%(n)s subscribers", suppressed)
        typer.echo(f"{left} of these lists left out: their "
                   "address is on the suppression list (see 'mailer suppressions')")
    if src.warnings:  # e.g. an event that has passed by the day it goes out
        _print_warnings(src.warnings)


def _branded(c: AppContext, path: Path, src: Source, lists: list[str],
             segment: str, day: date, *, test: bool = False) -> tuple[Source, Signature]:
    """The newsletter's brand for these lists (services.brands), and the issue rendered
    in it: again when it names no brand and its lists have one."""
    from mailer.delivery.sources import render_path

    with transaction(c.engine) as s:
        signature = brands.for_send(s, c.settings, issue_brand=src.brand,
                                    issue=f"{src.path}/issue.yaml", list_slugs=lists,
                                    segment=segment, test=test)
    if signature.brand != src.rendered_brand:
        src = render_path(path, c.settings, brand=signature.brand, today=day)
    return src, signature


def _print_dry_run(report: svc.DryRun, warnings: list[str], c: AppContext) -> None:
    typer.echo("dry run: nothing planned, nothing changed")
    if report.conditions:
        typer.echo((f"segment {report.segment}: " if report.segment else "")
                   + "only subscribers where " + " and ".join(report.conditions))
    for p in report.lists:
        typer.echo(f"list {p.slug} ({p.name}): {p.would_get} would get it")
        left = [(p.not_matching, "do not meet the conditions"),
                (p.already_received, "already got this issue (an earlier mailing)"),
                (p.on_other_list, "get their one copy through an earlier list of this send"),
                (p.suppressed, "their address is on the suppression list"),
                (p.unconfirmed, "have not confirmed their subscription"),
                (p.unsubscribed, "unsubscribed")]
        for n, why in left:
            if n:
                typer.echo(f"  left out {n}: {why}")
    typer.echo(f"in total {report.total} would get it")
    for e in report.earlier:
        typer.echo(f"earlier: {e.describe(c.settings.tz)}")
    if warnings:
        _print_warnings(warnings)
    else:
        typer.echo("the check found no warnings")
    if report.refusal:
        typer.echo(f"the send would be REFUSED: {report.refusal}")


def _print_warnings(warnings: list[str]) -> None:
    typer.echo(f"the check's warnings ({len(warnings)}):")
    for w in warnings:
        typer.echo(f"  {w}")


mailings_app = typer.Typer(help="Mailings: progress of each; 'show ID' for one in detail.",
                           invoke_without_command=True)
app.add_typer(mailings_app, name="mailings")


@mailings_app.callback()
def mailings(ctx: typer.Context) -> None:
    """List mailings with their progress."""
    if ctx.invoked_subcommand is not None:
        return
    from mailer.delivery.worker import window_text

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
        if p.segment or p.audience:
            typer.echo("      to " + (f"segment {p.segment!r}: " if p.segment else "")
                       + "where " + " and ".join(p.audience))
        window = window_text(p.send_window, p.kind, c.settings.send_window)
        if window and window != "off":
            typer.echo(f"      send window: {window}{_next_opening(window, p, c)}")
        for reason in p.reasons:
            typer.echo(f"      {reason}")
        if p.note:
            typer.echo(f"      note: {p.note}")
        h = p.health
        if h is not None and (h.attempted or h.bounced or h.complained):
            typer.echo(f"      health: delivered {h.delivered}, bounced {h.bounced} "
                       f"({h.bounce_rate:.1%}: {h.bounced_hard} hard, {h.bounced_soft} soft), "
                       f"complaints {h.complained} ({h.complaint_rate:.2%}), "
                       f"unsubscribed {h.unsubscribed}")
            for w in h.warnings:
                typer.echo(f"      WARNING: {_HEALTH_WARNINGS[w]}")


def _next_opening(window: str, p: svc.MailingProgress, c: AppContext) -> str:
    """", next opening 2026-12-01 08:00" while copies wait for a closed window."""
    from mailer.domain.sendwindow import SendWindow

    waiting = sum(p.counts.get(k, 0) for k in ("queued", "retry"))
    if p.status not in ("sending", "scheduled", "paused") or not waiting:
        return ""
    now = datetime.now(UTC)
    start = max(now, p.scheduled_at or now)
    opens = SendWindow.parse(window, c.settings.timezone).next_open(start)
    return f", next opening {_local(opens, c)}" if opens > start else ""


@mailings_app.command("show")
def show(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="Mailing id (or exact name)."),
    csv_out: Path | None = typer.Option(None, "--csv",
                                        help="Also write the click statistics as CSV here "
                                             "('-' for standard output)."),
) -> None:
    """One mailing: its progress and, when it counts clicks, clicks per link."""
    from mailer.services import clicks

    c: AppContext = ctx.obj
    with transaction(c.engine) as s:
        m = svc.get_mailing(s, ref)
        p = svc.progress(s, [m.id])[0]
        r = clicks.report(s, m.id)
        test = test_sends.find_test(s, m.id)  # a test names each address's copy
    if csv_out is not None and str(csv_out) == "-":
        typer.echo(clicks.to_csv(r), nl=False)
        return
    typer.echo(f"mailing {p.id}: {p.name}")
    typer.echo(f"  kind {p.kind}, status {p.status}, started {_local(p.started_at, c)}, "
               f"finished {_local(p.finished_at, c)}")
    typer.echo("  " + ", ".join(f"{k} {v}" for k, v in sorted(p.counts.items()))
               + f" (total {p.total})")
    if p.sender:
        typer.echo(f"  from {p.sender}" + (f" (brand {p.brand})" if p.brand else ""))
    if p.note:
        typer.echo(f"  note: {p.note}")
    for copy in test.copies if test is not None else ():
        typer.echo(f"  {copy.email}: {_copy_state(copy, c)}")
    if not r.tracked:
        typer.echo("  clicks: not counted (plan with --track-clicks to count them)")
    else:
        on_links = msgn("%(clicks)s on %(n)s link", "%(clicks)s on %(n)s links",
                        len(r.links), clicks=r.clicks)
        typer.echo(f"  clicks: {on_links}; unique clickers "
                   f"{r.unique_clickers} of {r.sent} sent ({r.click_rate:.1%})"
                   + ("; per person: on" if r.per_person else ""))
        typer.echo(f"  {'#':>3} {'clicks':>7} {'unique':>7}  link")
        for link in r.links:
            typer.echo(f"  {link.position + 1:>3} {link.clicks:>7} {link.clickers:>7}  "
                       f"{link.url}")
    if csv_out is not None:
        csv_out.write_text(clicks.to_csv(r), encoding="utf-8")
        typer.echo(f"  click statistics written to {csv_out}")


def _copy_state(copy: test_sends.CopyState, c: AppContext) -> str:
    """One address's copy of a test, as 'mailer mailings show' says it."""
    when = _local(copy.at, c)
    if copy.state == "queued":
        return f"queued since {when} (not sent yet)"
    if copy.state == "sending":
        return "being sent now"
    if copy.state == "sent":
        return f"sent {when}"
    reply = f": {copy.reply}" if copy.reply else ""
    if copy.state == "retry":
        return str(msgn("not sent yet: %(n)s attempt failed; next attempt %(when)s",
                        "not sent yet: %(n)s attempts failed; next attempt %(when)s",
                        copy.attempts, when=when)) + reply
    return f"{copy.state} {when} ({copy.reason}){reply}"


_HEALTH_WARNINGS = {
    "bounce_rate": "bounce rate above 2 % - clean the list before the next mailing",
    "complaint_rate": "complaint rate above 0.1 % (Gmail refuses bulk mail above 0.3 %)",
    "policy": "receivers refused mail for policy reasons (5.7.x: authentication or "
              "reputation); sending was slowed down - see 'mailer doctor'",
}


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
            typer.echo(msgn("mailing %(id)s cancelled; %(n)s message will not be sent",
                            "mailing %(id)s cancelled; %(n)s messages will not be sent",
                            n, id=m.id))


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
        inbox = None
        if settings.inbox:
            from mailer.services.deliverability import inbox_label, process_inbox

            def inbox() -> object:
                r = process_inbox(engine, settings, settings.inbox, now=datetime.now(UTC))
                if r.processed:
                    new = msgn("%(n)s new message", "%(n)s new messages", r.processed)
                    # counts after their labels: no plural to agree with
                    typer.echo(f"inbox {inbox_label(settings)}: {new}: bounces: {r.hard} hard, "
                               f"{r.soft} soft; complaints: {r.complaints}; policy refusals: "
                               f"{r.policy}; suppressed: {r.suppressed}")
                return r
        if drain:
            if inbox is not None:  # apply bounces and complaints before sending
                await asyncio.to_thread(inbox)
            from mailer.cli.invitations import parse_now
            from mailer.domain.invitation import people
            from mailer.schedule.invitations import worker_pass

            at = parse_now(now, settings.timezone)
            invites = await asyncio.to_thread(worker_pass, engine, settings, now=at)
            if invites.reminded:
                typer.echo(f"invitations: reminders planned for {people(invites.reminded)}")
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
                servers = ", ".join(u.redacted() for u in settings.smtp_servers)
                typer.echo(f"worker {w.id}: delivery to {servers}; "
                           "Ctrl-C stops")

            def role(now_role: str) -> None:
                if now_role == "scheduler":
                    typer.echo(f"worker {w.id}: runs the scheduler")
                else:
                    typer.echo(f"worker {w.id}: standby, another worker runs the scheduler; "
                               "this one delivers and takes over if that one stops")
            try:
                report = await run_worker(engine, settings, stop=stop, worker=w,
                                          on_started=started, inbox=inbox, on_role=role)
            except MailerError:
                await w.close()
                raise
        typer.echo(
            f"sent {report.sent}, failed {report.failed}, unknown {report.unknown}, "
            f"retries {report.retried} in {report.seconds:.1f} s ({report.rate:.0f}/s)")
        if report.settled_from_journal:
            typer.echo(msgn("recorded %(n)s outcome of an earlier worker that stopped, from "
                            "its journal", "recorded %(n)s outcomes of an earlier worker that "
                            "stopped, from its journal", report.settled_from_journal))
        if report.requeued_at_start:
            typer.echo(msgn("re-sent %(n)s message that was in flight when an earlier worker "
                            "stopped (it may arrive twice)", "re-sent %(n)s messages that were "
                            "in flight when an earlier worker stopped (they may arrive twice)",
                            report.requeued_at_start))
        for mid in report.missed:
            typer.echo(f"mailing {mid} MISSED: its time passed beyond the grace "
                       "(see 'mailer mailings')")
        for mid in report.nobody:
            typer.echo(f"mailing {mid} CANCELLED at its time: nobody to send to on its lists "
                       "(add subscribers, then plan it again)")
        if report.bounced or report.policy_refusals:
            typer.echo(f"bounced at once: {report.bounced} ({report.suppressed} suppressed); "
                       f"policy refusals (5.7.x): {report.policy_refusals}")
        if report.deferred:
            typer.echo(msgn(
                "%(n)s message waits for the next opening of its send window ('mailer "
                "mailings' shows it; a running worker sends it then)",
                "%(n)s messages wait for the next opening of their send window ('mailer "
                "mailings' shows it; a running worker sends them then)", report.deferred))
        if report.waiting_retries:
            typer.echo(msgn("%(n)s message waits for a later retry",
                            "%(n)s messages wait for a later retry", report.waiting_retries))
        hooks = report.webhooks
        if hooks is not None and (hooks.delivered or hooks.failed_attempts or hooks.waiting):
            typer.echo(f"webhooks: delivered {hooks.delivered}, failed attempts "
                       f"{hooks.failed_attempts}, waiting for a retry {hooks.waiting}")
        for eid in (hooks.disabled or []) if hooks is not None else []:
            typer.echo(f"warning: webhook endpoint {eid} DISABLED: every attempt failed for "
                       f"{settings.webhook_disable_after_days:g} days; see 'mailer webhooks "
                       f"log {eid}', then 'mailer webhooks enable {eid}'")
        if report.waiting_rate:
            typer.echo(msgn("%(n)s message waits for the rate limit (MAILER_RATE_PER_HOUR / "
                            "_PER_SECOND); a later run sends it", "%(n)s messages wait for the "
                            "rate limit (MAILER_RATE_PER_HOUR / _PER_SECOND); a later run sends "
                            "them", report.waiting_rate))
        if report.released and not report.paused:
            typer.echo(msgn("stopped: %(n)s claimed message was given back unsent",
                            "stopped: %(n)s claimed messages were given back unsent",
                            report.released))
        if report.paused:
            raise MailerError(f"sending paused, no message was marked failed: {report.paused}")

    asyncio.run(run())
    # Everything is committed and closed. Freezing the heap spares the interpreter's
    # exit a full garbage collection of every module object (seconds on a busy machine),
    # so a SIGTERM ends the process within 2 s.
    gc.freeze()


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
    except OSError as exc:  # the ports are named by Catcher; this is the Maildir
        raise MailerError(f"cannot create the catcher's Maildir {path}: "
                          f"{exc.strerror or exc}; check the workspace's permissions") from None
    typer.echo(f"catching mail at {cat.smtp_url} (MAILER_SMTP_URL={cat.smtp_url})\n"
               f"Maildir: {path}\nread it at {cat.web_url}  (Ctrl-C stops)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        cat.stop()
