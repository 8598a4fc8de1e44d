"""``mailer smtp test``: the first command an operator runs against the SMTP servers."""

from __future__ import annotations

import typer

from mailer.cli import app
from mailer.cli.context import AppContext

smtp_app = typer.Typer(help="Check the SMTP servers in MAILER_SMTP_URL.", no_args_is_help=True)
app.add_typer(smtp_app, name="smtp")

SHOWN = ("SIZE", "PIPELINING", "SMTPUTF8", "8BITMIME", "CHUNKING", "DSN", "ENHANCEDSTATUSCODES")


@smtp_app.command("test")
def test(
    ctx: typer.Context,
    to: str = typer.Option("", "--to", help="Also send one test message to this address "
                                            "through each server."),
) -> None:
    """Connect to each server: TLS, certificate, login, what it offers; optionally send one."""
    from mailer.services.smtp_check import check_servers

    c: AppContext = ctx.obj
    trouble = False
    for check in check_servers(c.settings, to=to or None):
        p = check.probe
        typer.echo(f"{p.url}  (weight {check.weight:g}, {check.limits})")
        if p.error:
            typer.echo(f"  ERROR: {p.error}")
            trouble = True
            continue
        if p.tls == "none":
            typer.echo("  TLS: no TLS (the conversation and any password travel in clear)")
        else:
            typer.echo(f"  TLS: {p.tls}, {p.tls_version}, {p.cipher}")
        cert = p.certificate
        if cert is not None:
            state = ("verified" if cert.verified
                     else "NOT verified (verify=false in MAILER_SMTP_URL)")
            typer.echo(f"  certificate: {cert.subject}, issued by {cert.issuer}, valid "
                       f"{cert.not_before[:10]} to {cert.not_after[:10]}, names "
                       f"{', '.join(cert.names) or '-'} ({state})")
        offers = []
        for ext in SHOWN:
            if ext == "SIZE":
                offers.append(f"SIZE {p.size}" if p.size is not None else "SIZE no")
            else:
                offers.append(f"{ext} {'yes' if ext.lower() in p.extensions else 'no'}")
        typer.echo("  " + " · ".join(offers))
        typer.echo(f"  AUTH {' '.join(sorted(p.auth_methods)) or 'none offered'}")
        if p.login:
            typer.echo(f"  logged in as {p.login}")
        if p.sent is not None:
            ok = p.sent.result.value == "sent"
            typer.echo(f"  test message to {to}: {'sent' if ok else 'NOT SENT'} ({p.sent.reply})")
            trouble = trouble or not ok
    if trouble:
        raise typer.Exit(1)
