"""``mailer users add|list|set|password|token|tokens|revoke``: the team who run mailer."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta

import typer

from mailer.cli import app
from mailer.cli.context import AppContext
from mailer.domain.roles import Role, role_of
from mailer.errors import MailerError
from mailer.services.accounts import (
    MIN_PASSWORD,
    AccountError,
    create_api_token,
    create_user,
    get_user,
    list_tokens,
    list_users,
    revoke_token,
    set_password,
    update_user,
)
from mailer.store.db import transaction
from mailer.store.models import utcnow

users_app = typer.Typer(help="People who log in to /admin or use the API: admins, editors, "
                        "coordinators.", no_args_is_help=True)
app.add_typer(users_app, name="users")

ROLES = ", ".join(r.value for r in Role)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise MailerError("--password-stdin: nothing on standard input")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise MailerError("no terminal to ask for the password; pipe it in with "
                          "--password-stdin")
    return str(typer.prompt(f"Password (at least {MIN_PASSWORD} characters)",
                            hide_input=True, confirmation_prompt=True))


@users_app.command("add")
def add(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="The person's e-mail address (their login)."),
    role: str = typer.Option(..., "--role", "-r", help=f"One of: {ROLES}."),
    name: str = typer.Option("", "--name", help="Name shown in the admin pages."),
    password_stdin: bool = typer.Option(False, "--password-stdin",
                                        help="Read the password from the first line of stdin."),
) -> None:
    """Add a user (create the first admin with --role admin).

    Admins can do everything; editors everything but manage users; coordinators
    everything but manage users and edit or send newsletter issues.
    """
    c: AppContext = ctx.obj
    try:
        role_of(role)
    except ValueError as exc:
        raise MailerError(f"--role: {exc}") from None
    password = _read_password(password_stdin)
    with transaction(c.engine) as s:
        user = create_user(s, email, role=role, name=name, password=password, now=utcnow())
        typer.echo(f"added {user.email} as {user.role}; they log in at "
                   f"{c.settings.base_url}/admin")


@users_app.command("list")
def list_(ctx: typer.Context) -> None:
    """Show every user with role, status and last login."""
    c: AppContext = ctx.obj
    tz = c.settings.tz
    with transaction(c.engine) as s:
        users = list_users(s)
    if not users:
        typer.echo("no users yet; add the first admin with: "
                   "mailer users add you@example.org --role admin")
        return
    typer.echo(f"{'e-mail':<36} {'role':<12} {'status':<12} {'last login':<17} name")
    for u in users:
        last = u.last_login_at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if u.last_login_at \
            else "never"
        status = "active" if u.active else "deactivated"
        typer.echo(f"{u.email:<36} {u.role:<12} {status:<12} {last:<17} {u.name}")


@users_app.command("set")
def set_(
    ctx: typer.Context,
    email: str = typer.Argument(...),
    role: str | None = typer.Option(None, "--role", help=f"New role: {ROLES}."),
    name: str | None = typer.Option(None, "--name"),
    active: bool | None = typer.Option(None, "--active/--deactivate",
                                       help="Deactivating ends their sessions at once."),
) -> None:
    """Change a user's role, name or active status."""
    c: AppContext = ctx.obj
    with transaction(c.engine) as s:
        user = update_user(s, get_user(s, email), role=role, name=name, active=active,
                           now=utcnow())
        typer.echo(f"{user.email}: {user.role}, {'active' if user.active else 'deactivated'}")


@users_app.command("password")
def password(
    ctx: typer.Context,
    email: str = typer.Argument(...),
    password_stdin: bool = typer.Option(False, "--password-stdin"),
) -> None:
    """Set a user's password (their sessions end)."""
    c: AppContext = ctx.obj
    secret = _read_password(password_stdin)
    with transaction(c.engine) as s:
        set_password(s, get_user(s, email), secret, now=utcnow())
    typer.echo(f"password of {email} changed; their sessions have ended")


@users_app.command("token")
def token(
    ctx: typer.Context,
    email: str = typer.Argument(..., help="Whose token: it acts with their role."),
    name: str = typer.Option(..., "--name", help="What it is for, e.g. 'intranet sync' "
                             "(required: the token lists and revoking name it so)."),
    days: int | None = typer.Option(None, "--days", min=1,
                                    help="Expire after this many days (default: never)."),
) -> None:
    """Create an API token (printed once: store it now, it cannot be shown again)."""
    c: AppContext = ctx.obj
    now = utcnow()
    with transaction(c.engine) as s:
        try:
            made = create_api_token(s, get_user(s, email), name=name, now=now,
                                    expires_at=now + timedelta(days=days) if days else None)
        except AccountError as exc:
            if exc.field != "name":
                raise
            raise AccountError(f"--name: {exc.message}", field="name") from None
    typer.echo(made.secret)
    typer.echo(f"token {made.id} for {email}: send it as 'Authorization: Bearer <token>' to "
               f"{c.settings.base_url}/api; it is shown only now", err=True)


@users_app.command("tokens")
def tokens(ctx: typer.Context, email: str | None = typer.Argument(None)) -> None:
    """List API tokens (never their secret), for one user or all."""
    c: AppContext = ctx.obj
    tz = c.settings.tz
    with transaction(c.engine) as s:
        rows = list_tokens(s, get_user(s, email).id if email else None)

    def when(d: datetime | None) -> str:
        return d.astimezone(tz).strftime("%Y-%m-%d %H:%M") if d else "-"

    for t in rows:
        state = "revoked" if t.revoked_at else "active"
        typer.echo(f"{t.id:>5}  {t.prefix}…  {state:<8} created {when(t.created_at)}  "
                   f"last used {when(t.last_used_at)}  {t.name}")
    if not rows:
        typer.echo("no API tokens")


@users_app.command("revoke")
def revoke(ctx: typer.Context, token_id: int = typer.Argument(..., metavar="TOKEN_ID")) -> None:
    """Revoke an API token at once (see the ids with: mailer users tokens)."""
    c: AppContext = ctx.obj
    with transaction(c.engine) as s:
        revoke_token(s, token_id, now=utcnow())
    typer.echo(f"token {token_id} revoked")
