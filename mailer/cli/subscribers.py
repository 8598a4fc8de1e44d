"""``mailer subscribers import|export|show|erase``."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

import typer

from mailer.cli import app
from mailer.cli.context import AppContext
from mailer.domain.findings import msgn
from mailer.services import subscriptions
from mailer.services.imports import Progress, import_subscribers, report_lines
from mailer.store.db import transaction

subscribers_app = typer.Typer(help="Subscribers: import, export, GDPR show and erase.",
                              no_args_is_help=True)
app.add_typer(subscribers_app, name="subscribers")


@subscribers_app.command("import")
def import_(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="CSV file: a header line, then one person per line."),
    list_slug: str = typer.Option(..., "--list", "-l", help="The list to subscribe them to."),
    encoding: str | None = typer.Option(
        None, "--encoding", help="Default: detected (UTF-8 with or without BOM, UTF-16 with "
        "BOM, else Windows-1252 as Swedish Excel writes it)."),
    delimiter: str | None = typer.Option(
        None, "--delimiter", help="Default: detected from the header line (; , tab |). "
        "Write 'tab' for a tab."),
    rejected: Path | None = typer.Option(
        None, "--rejected", help="Where to write the rejected rows "
        "(default: FILE.rejected.csv beside the input)."),
    dry_run: bool = typer.Option(False, "--dry-run",
                                 help="Check everything and report, but save nothing."),
    workers: int | None = typer.Option(
        None, "--workers", min=0, max=32,
        help="Processes that check rows in parallel (default: up to 4 for files over "
        "50,000 lines; 0 = none)."),
) -> None:
    """Import subscribers from CSV into a list (as active subscribers).

    Columns are found by name, Swedish or English: email/e-post (required), name/namn or
    förnamn+efternamn, organisation/kommun/region, kommunkod/code, role/roll/titel,
    language/språk (sv, en); other columns are kept as the person's attributes. Each row's
    address is checked (syntax only, no DNS); a later row with the same address, in any
    case, is rejected as a duplicate. People already in the database are updated; an empty
    cell keeps what we have. Someone who unsubscribed from the list is NOT subscribed again,
    and someone erased at their request is not added back.

    Rejected rows are listed with line and reason and written to FILE.rejected.csv.
    Exit status: 0 all rows imported, 1 some rows rejected (the rest imported), 2 the file
    cannot be used (nothing imported).
    """
    c: AppContext = ctx.obj
    engine = c.engine
    if delimiter is not None and delimiter.lower() in ("tab", "\\t"):
        delimiter = "\t"
    if delimiter is not None and len(delimiter) != 1:
        raise typer.BadParameter("one character, or 'tab'", param_hint="--delimiter")
    with _progress(file) as progress:
        report = import_subscribers(engine, file, list_slug, encoding=encoding,
                                    delimiter=delimiter, rejected_path=rejected,
                                    dry_run=dry_run, progress=progress, workers=workers)
    typer.echo("\n".join(report_lines(report)))
    if report.rejected:
        raise typer.Exit(1)


@contextmanager
def _progress(file: Path) -> Iterator[Progress | None]:
    """A progress bar on stderr when it is a terminal; nothing in pipes, logs and tests."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(f"importing {file.name}", total=None)

        def advance(lines: int, total: int) -> None:
            bar.update(task, completed=lines, total=total)

        yield advance


def _exported(n: int) -> str:
    return msgn("exported %(count)s subscriber", "exported %(count)s subscribers", n,
                count=f"{n:,}")


@subscribers_app.command("export")
def export(
    ctx: typer.Context,
    list_slug: str = typer.Option(..., "--list", "-l", help="The list to export."),
    status: str = typer.Option("active", "--status",
                               help="active, unconfirmed, unsubscribed or all."),
    out: Path | None = typer.Option(None, "--out", "-o", help="File to write (default: stdout)."),
    excel: bool = typer.Option(False, "--excel",
                               help="For Swedish Excel: UTF-8 with BOM, ';'-delimited."),
) -> None:
    """Export a list's subscribers as CSV (columns that `import` reads back)."""
    c: AppContext = ctx.obj
    engine = c.engine
    if out is None:
        if excel:
            sys.stdout.write("\ufeff")
        with transaction(engine) as s:
            n = subscriptions.export_list(s, list_slug, sys.stdout, status=status, excel=excel,
                                   tz=c.settings.tz)
        typer.echo(_exported(n), err=True)
        return
    tmp = out.with_name(out.name + ".tmp")
    try:
        with tmp.open("w", encoding="utf-8-sig" if excel else "utf-8", newline="") as f, \
                transaction(engine) as s:
            n = subscriptions.export_list(s, list_slug, f, status=status, excel=excel,
                                   tz=c.settings.tz)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    typer.echo(f"{_exported(n)} ({status}) of list {list_slug!r} to {out}", err=True)


@subscribers_app.command("show")
def show(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="The person's e-mail address (any case)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable, for a GDPR reply."),
) -> None:
    """Everything we hold on one person (for a GDPR request for access)."""
    c: AppContext = ctx.obj
    with transaction(c.engine) as s:
        data = subscriptions.access_report_by_email(s, email)
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        typer.echo(personal_data_text(data, c.settings.tz))


@subscribers_app.command("erase")
def erase(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="The person's e-mail address (any case)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Erase a person (GDPR right to erasure): their data and subscriptions.

    The consent log keeps its entries without the address (only a one-way hash), so we
    can still show that consent existed for mail already sent; an erase entry is added,
    and an import of an old file will not add them back.
    """
    c: AppContext = ctx.obj
    with transaction(c.engine) as s:
        who, n = subscriptions.erase_preview(s, email)
        if not yes:
            typer.confirm(f"Erase {who} and their {n} subscription(s)? This cannot be undone",
                          abort=True)
        subscriptions.erase_by_email(s, email)
    typer.echo(f"erased {who} ({n} subscription(s)); the consent log keeps only a hash")


# Any: reads the access report (JSON) by key, trusting the shape personal_data gives it.
def personal_data_text(data: Mapping[str, Any], tz: tzinfo | None = None) -> str:
    """``personal_data`` as text a person can read."""
    def when(value: str | None) -> str:
        if not value:
            return "-"
        moment = datetime.fromisoformat(value)
        return (moment.astimezone(tz) if tz else moment).strftime("%Y-%m-%d %H:%M %Z")

    p = data["subscriber"]
    out = [f"{p['name'] or '(no name)'} <{p['email']}>",
           f"  role:          {p['role'] or '-'}",
           f"  language:      {p['language']}"]
    org = data.get("organisation")
    out.append(f"  organisation:  {org['name']} ({org['kind']}"
               f"{', code ' + org['code'] if org['code'] else ''})" if org else
               "  organisation:  -")
    for key, value in sorted(p["attributes"].items()):
        out.append(f"  {key}: {value}")
    out.append(f"  in our records since {when(p['created_at'])}, "
               f"last changed {when(p['updated_at'])}")
    out.append("subscriptions:" if data["subscriptions"] else "subscriptions: none")
    for s in data["subscriptions"]:
        line = f"  {s['list']} ({s['list_name']}): {s['status']} since {when(s['updated_at'])}"
        line += f", source {s['source'] or '-'}, added {when(s['created_at'])}"
        if s["confirmed_at"]:
            line += f", confirmed {when(s['confirmed_at'])}"
        if s["unsubscribed_at"]:
            line += f", unsubscribed {when(s['unsubscribed_at'])}"
        out.append(line)
    out.append("consent log:" if data["consent_events"] else "consent log: empty")
    for e in data["consent_events"]:
        extra = "".join(f", {k} {e[k]}" for k in ("source", "ip") if e[k])
        out.append(f"  {when(e['at'])}  {e['action']}"
                   f"{' list ' + e['list'] if e['list'] else ''}{extra}")
    out.append("mail sent to them:" if data["deliveries"] else "mail sent to them: none")
    out.extend(f"  {when(d['sent_at'] or d['created_at'])}  {d['status']}  {d['mailing']}"
               for d in data["deliveries"])
    core = {"subscriber", "organisation", "subscriptions", "consent_events", "deliveries"}
    out.extend(f"{name}: {value}" for name, value in data.items() if name not in core)
    return "\n".join(out)
