"""``mailer segments``: saved segments (a list narrowed by conditions) and who matches."""

from __future__ import annotations

import typer

from mailer.cli import app
from mailer.cli.context import AppContext
from mailer.domain.findings import msgn
from mailer.services import segments as svc
from mailer.store.db import transaction

segments_app = typer.Typer(help="Saved segments: a list narrowed by conditions.",
                           invoke_without_command=True)
app.add_typer(segments_app, name="segments")

WHERE_HELP = ("FIELD=VALUE, FIELD!=VALUE or FIELD~TEXT (contains, any case); repeatable, all "
              "must hold. Fields: org.kind (municipality, region, other), org.code, "
              "org.county (e.g. 'Hallands län' or 13), org.name, role, language, attr.NAME.")


@segments_app.callback()
def show_segments(ctx: typer.Context) -> None:
    """Show every saved segment, its list, conditions and how many match now."""
    if ctx.invoked_subcommand is not None:
        return
    c: AppContext = ctx.obj
    with transaction(c.engine) as s:
        rows = svc.segments(s)
    if not rows:
        typer.echo("no segments yet; add one with: mailer segments add NAME --list SLUG "
                   "--where org.kind=region")
        return
    typer.echo(f"{'segment':<24} {'list':<20} {'matching':>8}  conditions")
    for r in rows:
        typer.echo(f"{r.name:<24} {r.list_slug:<20} {r.count:>8}  {' and '.join(r.conditions)}")


@segments_app.command("add")
def add(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The segment's name, used with --segment."),
    list_slug: str = typer.Option(..., "--list", "-l", help="The list it is a part of."),
    where: list[str] = typer.Option(..., "--where", help=WHERE_HELP),
) -> None:
    """Save (or change) a segment; mailings to it are evaluated when they are sent."""
    c: AppContext = ctx.obj
    with transaction(c.engine) as s:
        info = svc.save(s, name, list_slug, where)
    match = msgn("%(n)s subscriber matches now", "%(n)s subscribers match now", info.count)
    typer.echo(f"segment {info.name!r}: list {info.list_slug!r} where "
               f"{' and '.join(info.conditions)}; {match}")


@segments_app.command("show")
def show(
    ctx: typer.Context,
    name: str = typer.Argument("", help="A saved segment (or give --list and --where)."),
    list_slug: list[str] = typer.Option([], "--list", "-l"),
    where: list[str] = typer.Option([], "--where", help=WHERE_HELP),
    sample: int = typer.Option(10, "--sample", min=0, max=1000,
                               help="How many matching subscribers to list."),
) -> None:
    """Who matches now: the count and a sample (by address)."""
    c: AppContext = ctx.obj
    if not name and not list_slug:
        raise typer.BadParameter("give a segment NAME or --list SLUG (with --where)")
    with transaction(c.engine) as s:
        target = svc.audience(s, list_slugs=list_slug, where=where, segment=name)
        found = svc.preview(s, target, sample=sample)
    conds = " and ".join(x.text for x in target.conditions) or "(no conditions)"
    typer.echo(msgn("%(n)s active subscriber of %(lists)s where %(conditions)s",
                    "%(n)s active subscribers of %(lists)s where %(conditions)s",
                    found.count, lists=", ".join(target.list_slugs), conditions=conds))
    for m in found.sample:
        typer.echo(f"  {m.email:<36} {m.name[:24]:<24} {m.organisation[:28]:<28} {m.role[:30]}")
    if found.count > len(found.sample) and found.sample:
        typer.echo(f"  … and {found.count - len(found.sample)} more")


@segments_app.command("remove")
def remove(ctx: typer.Context, name: str = typer.Argument(...)) -> None:
    """Forget a saved segment; mailings planned with it keep their conditions."""
    c: AppContext = ctx.obj
    with transaction(c.engine) as s:
        svc.remove(s, name)
    typer.echo(f"segment {name!r} removed")
