"""``mailer webhooks``: endpoints that receive signed events (Standard Webhooks)."""

from __future__ import annotations

import typer

from mailer.cli import app
from mailer.cli.context import AppContext
from mailer.cli.deliver import _local
from mailer.domain.findings import msgn
from mailer.services import webhooks as svc
from mailer.store.db import transaction

webhooks_app = typer.Typer(help="Outgoing webhooks: other systems hear of sign-ups, "
                                "registrations, bounces and finished mailings.",
                           invoke_without_command=True)
app.add_typer(webhooks_app, name="webhooks")


def _state(ep: svc.EndpointInfo, c: AppContext) -> str:
    if not ep.enabled:
        return "DISABLED"
    if ep.failing_since is not None:
        return f"failing since {_local(ep.failing_since, c)}"
    return "enabled"


@webhooks_app.callback()
def show(ctx: typer.Context) -> None:
    """List the endpoints with their deliveries."""
    if ctx.invoked_subcommand is not None:
        return
    c: AppContext = ctx.obj
    with transaction(c.engine) as s:
        eps = svc.endpoints(s)
    if not eps:
        typer.echo("no webhook endpoints; add one with: mailer webhooks add URL --events all")
        return
    for ep in eps:
        typer.echo(f"{ep.id:>3}  {ep.url}  [{_state(ep, c)}]")
        typer.echo(f"     events: {', '.join(ep.events)}")
        typer.echo(f"     delivered {ep.delivered}, waiting {ep.pending}"
                   + (f"; {ep.description}" if ep.description else ""))
        if not ep.enabled and ep.disabled_reason:
            typer.echo(f"     {ep.disabled_reason}")
            typer.echo(f"     'mailer webhooks enable {ep.id}' sends its waiting events")


@webhooks_app.command("add")
def add(
    ctx: typer.Context,
    url: str = typer.Argument(..., help="The receiver, e.g. https://crm.example.org/hooks"),
    events: str = typer.Option(..., "--events",
                               help=f"Comma-separated: {','.join(svc.EVENTS)} (or 'all')."),
    secret: str = typer.Option("", "--secret",
                               help="whsec_… signing secret (default: a new random one)."),
    description: str = typer.Option("", "--description"),
) -> None:
    """Add an endpoint; prints the secret receivers verify signatures with."""
    c: AppContext = ctx.obj
    with transaction(c.engine) as s:
        ep, key = svc.add_endpoint(s, url, events, secret=secret, description=description)
    typer.echo(f"added webhook endpoint {ep.id}: {ep.url} ({', '.join(ep.events)})")
    if not secret:
        typer.echo(f"signing secret (give it to the receiver): {key}")


@webhooks_app.command("log")
def log(
    ctx: typer.Context,
    endpoint_id: int = typer.Argument(...),
    limit: int = typer.Option(50, "--limit", min=1, max=10000),
) -> None:
    """The endpoint's delivery attempts, newest first."""
    c: AppContext = ctx.obj
    with transaction(c.engine) as s:
        lines = svc.endpoint_log(s, endpoint_id, limit)
    if not lines:
        typer.echo("no attempts yet")
    for ln in lines:
        answer = str(ln.status) if ln.status is not None else "no answer"
        typer.echo(f"{_local(ln.at, c)}  {ln.type:<24} {ln.event_id}  "
                   f"try {ln.attempt}  {answer:>9}  {ln.milliseconds} ms"
                   + (f"  {ln.error}" if ln.error and not ln.ok else ""))


@webhooks_app.command("enable")
def enable(ctx: typer.Context, endpoint_id: int = typer.Argument(...)) -> None:
    """Switch an endpoint on again; its waiting events go out in order."""
    c: AppContext = ctx.obj
    with transaction(c.engine) as s:
        ep = svc.enable_endpoint(s, endpoint_id)
    waiting = msgn("%(n)s event waits for the worker", "%(n)s events wait for the worker",
                   ep.pending)
    typer.echo(f"enabled webhook endpoint {ep.id}; {waiting}")


@webhooks_app.command("disable")
def disable(ctx: typer.Context, endpoint_id: int = typer.Argument(...)) -> None:
    """Stop deliveries to an endpoint (its events keep collecting)."""
    c: AppContext = ctx.obj
    with transaction(c.engine) as s:
        ep = svc.disable_endpoint(s, endpoint_id)
    typer.echo(f"disabled webhook endpoint {ep.id}; events collect until "
               f"'mailer webhooks enable {ep.id}'")


@webhooks_app.command("remove")
def remove(ctx: typer.Context, endpoint_id: int = typer.Argument(...)) -> None:
    """Delete an endpoint with its waiting events and its log."""
    c: AppContext = ctx.obj
    with transaction(c.engine) as s:
        url = svc.remove_endpoint(s, endpoint_id)
    typer.echo(f"removed webhook endpoint {endpoint_id} ({url})")
