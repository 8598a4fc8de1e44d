"""``mailer subscribers import|export|show|erase``."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from mailer.cli import app
from mailer.cli.context import AppContext
from mailer.errors import NotFound
from mailer.services.imports import Progress, import_subscribers, report_lines
from mailer.store.db import transaction
from mailer.store.subscribers import (
    erase_subscriber,
    export_subscribers,
    find_subscriber,
    personal_data,
    personal_data_text,
)

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
            n = export_subscribers(s, list_slug, sys.stdout, status=status, excel=excel,
                                   tz=c.settings.tz)
        typer.echo(f"exported {n:,} subscribers", err=True)
        return
    tmp = out.with_name(out.name + ".tmp")
    try:
        with tmp.open("w", encoding="utf-8-sig" if excel else "utf-8", newline="") as f, \
                transaction(engine) as s:
            n = export_subscribers(s, list_slug, f, status=status, excel=excel,
                                   tz=c.settings.tz)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    typer.echo(f"exported {n:,} subscribers ({status}) of list {list_slug!r} to {out}", err=True)


@subscribers_app.command("show")
def show(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="The person's e-mail address (any case)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable, for a GDPR reply."),
) -> None:
    """Everything we hold on one person (for a GDPR request for access)."""
    c: AppContext = ctx.obj
    with transaction(c.engine) as s:
        person = find_subscriber(s, email)
        if person is None:
            raise NotFound(f"no subscriber with the address {email!r}")
        data = personal_data(s, person)
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
        person = find_subscriber(s, email)
        if person is None:
            raise NotFound(f"no subscriber with the address {email!r}")
        who = f"{person.name} <{person.email}>" if person.name else person.email
        n = len(person.subscriptions)
        if not yes:
            typer.confirm(f"Erase {who} and their {n} subscription(s)? This cannot be undone",
                          abort=True)
        erase_subscriber(s, person)
    typer.echo(f"erased {who} ({n} subscription(s)); the consent log keeps only a hash")
