"""The ``mailer`` command line: thin verbs over the services in store, delivery, render."""

from __future__ import annotations

import importlib
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
    # The command's database connections close with it, not whenever the garbage
    # collector finds its engine (in-process callers, such as the tests, run many).
    ctx.call_on_close(ctx.obj.close)


# The module that registers each top-level command or group: a command imports only its
# own area (``mailer worker`` does not load the web server, the importer or the issue
# editor: about a second and 25 MB less at every start). Anything else (no command,
# --help, an unknown name) imports them all. tests/test_cli_usage.py checks this map
# against what the modules register.
COMMANDS: dict[str, str] = {
    "cancel": "deliver", "catcher": "deliver", "mailings": "deliver", "pause": "deliver",
    "resume": "deliver", "send": "deliver", "worker": "deliver",
    "db": "db", "init": "db", "secret": "db",
    "demo": "demo",
    "dkim": "deliverability", "doctor": "deliverability", "inbox": "deliverability",
    "suppressions": "deliverability", "unsubscribes": "deliverability",
    "invitations": "invitations", "invite": "invitations", "reconfirm": "invitations",
    "registrations": "invitations", "remind": "invitations",
    "issue": "issue", "lists": "lists", "podcast": "podcast", "segments": "segments",
    "serve": "web", "smtp": "smtp", "subscribers": "subscribers", "users": "users",
    "webhooks": "webhooks",
}
AREAS = tuple(sorted(set(COMMANDS.values())))  # every area: what --help and typos load
_VALUED = ("-w", "--workspace")  # the root's options that take a value


def command_name(argv: list[str]) -> str | None:
    """The top-level command ``argv`` (without the program) asks for, or None (none,
    or a root option such as --help first)."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in _VALUED:
            i += 2
        elif arg.startswith("--workspace="):
            i += 1
        elif arg.startswith("-"):
            return None
        else:
            return arg
    return None


def _register(argv: list[str] | None = None) -> None:
    """Import the area that registers the command in ``argv`` (every area when it is
    not known)."""
    area = COMMANDS.get(command_name(argv) or "") if argv is not None else None
    for name in (area,) if area else AREAS:
        importlib.import_module(f"mailer.cli.{name}")


def main() -> None:
    """Entry point: run the app, print user errors without a traceback."""
    _register(sys.argv[1:])
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
