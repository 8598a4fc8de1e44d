"""``mailer init``, ``mailer secret rotate`` and ``mailer db upgrade|status``."""

from __future__ import annotations

import typer

from mailer.cli import app
from mailer.cli.context import AppContext
from mailer.config import create_secret_file, rotate_secret_file
from mailer.store.db import current_revision, head_revision, upgrade

db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")
secret_app = typer.Typer(help="The key that signs links in mail.", no_args_is_help=True)
app.add_typer(secret_app, name="secret")


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
    if s.secret_key:
        typer.echo("secret key: MAILER_SECRET_KEY (from the environment or mailer.toml)")
    elif create_secret_file(s.workspace):
        typer.echo(f"secret key generated in {s.secret_file} (readable by you only); it "
                   "signs the links in mail: back it up, keep it out of version control")
    else:
        s.signing_keys()  # an unreadable or broken key file is reported now, not later
        typer.echo(f"secret key: {s.secret_file}")


@secret_app.command("rotate")
def secret_rotate(ctx: typer.Context) -> None:
    """Add a new key to the workspace's .mailer-secret: new links use it, links already
    mailed (signed with the earlier keys) keep working."""
    c: AppContext = ctx.obj
    n = rotate_secret_file(c.settings.workspace)
    typer.echo(f"{c.settings.secret_file}: a new key signs from now on; {n - 1} earlier "
               f"key(s) still verify links already sent. Restart 'mailer serve' and "
               "'mailer worker' to use it.")
    if c.settings.secret_key:
        typer.echo("note: MAILER_SECRET_KEY is set and still signs; unset it to use the "
                   "file's newest key (its value keeps verifying when you list it in "
                   "MAILER_OLD_SECRET_KEYS)", err=True)


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
