"""The ``mailer`` command line: thin verbs over the services in store, delivery, render."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from mailer.cli.context import AppContext
from mailer.errors import MailerError

app = typer.Typer(
    name="mailer",
    help="Newsletters, invitations and registration reminders.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _root(
    ctx: typer.Context,
    workspace: Path | None = typer.Option(
        None, "--workspace", "-w", envvar="MAILER_WORKSPACE",
        help="Folder with mailer.toml, the database and issues/ (default: current folder).",
    ),
) -> None:
    ctx.obj = AppContext(workspace=workspace)


def _register() -> None:
    # Each area registers its own commands; imported here to keep startup in one place.
    from mailer.cli import (  # noqa: F401
        db,
        deliver,
        deliverability,
        demo,
        invitations,
        issue,
        lists,
        podcast,
        segments,
        smtp,
        subscribers,
        users,
        web,
        webhooks,
    )


def main() -> None:
    """Entry point: run the app, print user errors without a traceback."""
    _register()
    try:
        rv = app(standalone_mode=False)
        if isinstance(rv, int) and rv:
            sys.exit(rv)
    except MailerError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:
        # Usage errors (missing argument, unknown option, a value of the wrong type) come
        # from click, or from the copy of click that newer typer bundles: both have show().
        show = getattr(exc, "show", None)
        if callable(show) and hasattr(exc, "exit_code"):
            show()
            sys.exit(int(exc.exit_code))
        raise
