"""``mailer lists`` and ``mailer lists create``."""

from __future__ import annotations

import typer

from mailer.cli import app
from mailer.cli.context import AppContext
from mailer.services.lists import create_list, edit_list, list_counts
from mailer.store.db import transaction

lists_app = typer.Typer(help="Mailing lists.", invoke_without_command=True)
app.add_typer(lists_app, name="lists")


@lists_app.callback()
def show_lists(ctx: typer.Context) -> None:
    """Show every list with its subscriptions per status."""
    if ctx.invoked_subcommand is not None:
        return
    c: AppContext = ctx.obj
    with transaction(c.engine) as s:
        rows = list_counts(s)
    if not rows:
        typer.echo("no lists yet; create one with: mailer lists create SLUG --name 'Name'")
        return
    typer.echo(f"{'list':<24} {'active':>8} {'unconfirmed':>12} {'unsubscribed':>13}  name")
    for r in rows:
        brand = f"  [brand {r.brand}]" if r.brand else ""
        typer.echo(f"{r.slug:<24} {r.active:>8} {r.unconfirmed:>12} {r.unsubscribed:>13}  "
                   f"{r.name}{brand}")


@lists_app.command("create")
def create(
    ctx: typer.Context,
    slug: str = typer.Argument(..., help="Short name: a-z, 0-9 and '-'."),
    name: str = typer.Option(..., "--name", help="Name shown to subscribers."),
    description: str = typer.Option("", "--description"),
    private: bool = typer.Option(False, "--private", help="Not offered on the public form."),
    single_opt_in: bool = typer.Option(False, "--single-opt-in",
                                       help="Form sign-ups are active at once (no confirmation)."),
    language: str = typer.Option("sv", "--language", help="sv or en."),
    brand: str = typer.Option("", "--brand",
                              help="Its newsletter: a [brands.NAME] of mailer.toml (its look, "
                                   "From and Reply-To); default the workspace's [brand]."),
) -> None:
    """Create a list."""
    c: AppContext = ctx.obj
    with transaction(c.engine) as s:
        lst = create_list(s, slug, name, description=description, public=not private,
                          double_opt_in=not single_opt_in, language=language, brand=brand,
                          settings=c.settings)
    typer.echo(f"created list {lst.slug!r} ({lst.name})" + _brand_note(lst.brand))


def _brand_note(brand: str) -> str:
    return f", brand {brand!r}" if brand else ""


@lists_app.command("edit")
def edit(
    ctx: typer.Context,
    slug: str = typer.Argument(..., help="The list's short name."),
    name: str | None = typer.Option(None, "--name", help="Name shown to subscribers."),
    description: str | None = typer.Option(None, "--description"),
    brand: str | None = typer.Option(None, "--brand",
                                     help="Its newsletter: a [brands.NAME] of mailer.toml; "
                                          "'' = the workspace's [brand]."),
) -> None:
    """Change a list's name, description or brand."""
    c: AppContext = ctx.obj
    with transaction(c.engine) as s:
        lst = edit_list(s, c.settings, slug, name=name, description=description, brand=brand)
    typer.echo(f"list {lst.slug!r} ({lst.name})" + _brand_note(lst.brand))
