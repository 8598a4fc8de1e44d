"""``mailer init`` and ``mailer db upgrade|status``."""

from __future__ import annotations

import typer

from mailer.cli import app
from mailer.cli.context import AppContext
from mailer.store.db import current_revision, head_revision, upgrade

db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.command("init")
def init(ctx: typer.Context) -> None:
    """Create the workspace database (or bring it up to date) and the issues/ folder."""
    c: AppContext = ctx.obj
    s = c.settings
    s.workspace.mkdir(parents=True, exist_ok=True)
    (s.workspace / "issues").mkdir(exist_ok=True)
    engine = c.raw_engine()
    upgrade(engine)
    typer.echo(f"database ready at {engine.url.render_as_string(hide_password=True)} "
               f"(migration {current_revision(engine)})")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context, revision: str = typer.Argument("head")) -> None:
    """Apply the migrations up to REVISION (default: the newest)."""
    c: AppContext = ctx.obj
    engine = c.raw_engine()
    before = current_revision(engine)
    upgrade(engine, revision)
    typer.echo(f"migrated {before or 'empty database'} -> {current_revision(engine)}")


@db_app.command("status")
def db_status(ctx: typer.Context) -> None:
    """Show the database's migration and the newest one this mailer knows."""
    c: AppContext = ctx.obj
    engine = c.raw_engine()
    have, want = current_revision(engine), head_revision(engine)
    state = "up to date" if have == want else "needs 'mailer db upgrade'"
    typer.echo(f"database: {engine.url.render_as_string(hide_password=True)}\n"
               f"migration: {have or 'none'} (newest: {want}) - {state}")
