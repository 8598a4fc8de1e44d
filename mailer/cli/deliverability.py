"""``mailer inbox|unsubscribes|suppressions|dkim keygen|doctor``: deliverability verbs."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import typer

from mailer.cli import app
from mailer.cli.context import AppContext
from mailer.domain.findings import msgn
from mailer.errors import MailerError
from mailer.links import Links
from mailer.services import deliverability as svc
from mailer.store.db import transaction


def _inbox(ctx: typer.Context, source: str) -> None:
    c: AppContext = ctx.obj
    where = source or c.settings.inbox
    if not where:
        raise MailerError("give the mailbox (mailer inbox PATH-OR-imaps://…) or set "
                          "MAILER_INBOX")
    r = svc.process_inbox(c.engine, c.settings, where, now=datetime.now(UTC))
    read = msgn("read %(n)s message", "read %(n)s messages", r.read)
    suppressed = msgn("suppressed %(n)s address", "suppressed %(n)s addresses", r.suppressed)
    ended = msgn("%(n)s subscription ended", "%(n)s subscriptions ended", r.unsubscribed)
    typer.echo(f"{read}, {r.already} processed before; "
               f"bounces: {r.hard} hard, {r.soft} soft, {r.policy} policy (5.7.x); "
               f"complaints {r.complaints}; unsubscribe requests {r.requests}; "
               f"auto-replies {r.auto_replies}; delay notices {r.warnings}; other {r.other}")
    typer.echo(f"{suppressed}; {ended}")
    if r.policy:
        typer.echo("WARNING: receivers refused our mail for policy reasons (5.7.x: "
                   "authentication or reputation); check 'mailer doctor'", err=True)
    for why in r.problems[:20]:
        typer.echo(f"  {why}")


@app.command("inbox")
def inbox(
    ctx: typer.Context,
    source: str = typer.Argument("", help="Maildir, mbox file, folder of .eml files, or "
                                          "imaps://user:password@host/INBOX (default: "
                                          "MAILER_INBOX)."),
) -> None:
    """Read bounces, complaints and mailed unsubscribe requests; apply them once."""
    _inbox(ctx, source)


@app.command("unsubscribes")
def unsubscribes(
    ctx: typer.Context,
    source: str = typer.Argument("", help="Same as 'mailer inbox SOURCE'."),
) -> None:
    """Alias of 'mailer inbox' (mailed unsubscribe requests are part of the inbox)."""
    _inbox(ctx, source)


sup_app = typer.Typer(help="The suppression list: addresses no mailing goes to.",
                      invoke_without_command=True)
app.add_typer(sup_app, name="suppressions")


@sup_app.callback()
def show(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="One JSON array on stdout."),
    q: str = typer.Option("", "--search", "-s", help="Address part or reason."),
    limit: int = typer.Option(500, "--limit", min=1),
) -> None:
    """List suppressed addresses, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    c: AppContext = ctx.obj
    with transaction(c.engine) as s:
        rows = svc.suppressions(s, q=q, limit=limit)
        counts = svc.suppression_counts(s)
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in rows], ensure_ascii=False, indent=1))
        return
    if not rows:
        typer.echo("no suppressed addresses")
        return
    for r in rows:
        when = r.created_at.astimezone(c.settings.tz).strftime("%Y-%m-%d %H:%M")
        typer.echo(f"{r.email or '(erased: hash only)':<40} {r.reason:<13} {when}  "
                   f"{r.detail[:60]}")
        if r.signup_attempts and r.last_signup_at is not None:
            last = r.last_signup_at.astimezone(c.settings.tz).strftime("%Y-%m-%d %H:%M")
            typer.echo(f"    signed up again {r.signup_attempts} time(s) while suppressed, "
                       f"last {last} ({r.last_signup}); no mail was sent")
    typer.echo(", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


@sup_app.command("add")
def add(
    ctx: typer.Context,
    email: str = typer.Argument(...),
    reason: str = typer.Option("manual", "--reason",
                               help="manual, hard_bounce, soft_bounces, complaint or erased."),
    note: str = typer.Option("", "--note", help="Why (shown in the list)."),
) -> None:
    """Suppress an address: no mailing goes to it."""
    c: AppContext = ctx.obj
    with transaction(c.engine) as s:
        added = svc.add_suppression(s, email, now=datetime.now(UTC), reason=reason,
                                    detail=note, source="cli")
    typer.echo(f"{email} suppressed" if added else f"{email} was suppressed already")


@sup_app.command("remove")
def remove(ctx: typer.Context, email: str = typer.Argument(...)) -> None:
    """Allow mail to an address again; sign-ups made while it was suppressed are sent
    their confirmation link."""
    c: AppContext = ctx.obj
    links = Links.of(c.settings)
    with transaction(c.engine) as s:
        sent = svc.remove_suppression(s, email, links=links, now=datetime.now(UTC),
                                      settings=c.settings)
    typer.echo(f"{email} removed from the suppression list; the next mailing includes it")
    if sent:
        typer.echo(f"{sent} sign-up(s) made while it was suppressed: the confirmation link "
                   "is queued (the worker sends it)")


dkim_app = typer.Typer(help="DKIM signing keys.", no_args_is_help=True)
app.add_typer(dkim_app, name="dkim")


@dkim_app.command("keygen")
def keygen(
    ctx: typer.Context,
    selector: str = typer.Option(..., "--selector", help="e.g. nl2026"),
    domain: str = typer.Option("", "--domain", help="d= domain (default: the From domain, "
                                                    "the brand's with --brand)."),
    algorithm: str = typer.Option("rsa", "--algorithm", help="rsa (2048 bits) or ed25519 "
                                                               "(signs besides RSA)."),
    brand: str = typer.Option("", "--brand", help="The key of newsletter [brands.NAME] "
                                                  "(its own From domain); default: the "
                                                  "workspace's key."),
    force: bool = typer.Option(False, "--force", help="Replace an existing key file."),
) -> None:
    """Make a signing key in the workspace, record it in mailer.toml, print the DNS record."""
    from mailer.config import load_settings_without_keys, set_workspace_toml
    from mailer.delivery.dkim import dns_record, generate_key, write_key
    from mailer.domain.alignment import aligned

    c: AppContext = ctx.obj
    # Without the brands' key files: this is what makes them.
    settings = load_settings_without_keys(c.workspace, **c.overrides)
    if algorithm not in ("rsa", "ed25519"):
        raise MailerError(f"--algorithm {algorithm!r}: choose rsa or ed25519")
    ed = algorithm == "ed25519"
    if brand:
        settings.check_brand(brand, "--brand")
        if ed:
            raise MailerError("--brand makes a brand's one key: an RSA key (--algorithm rsa), "
                              "which every receiver verifies; dual RSA + Ed25519 signing is "
                              "the workspace key's (without --brand)")
        values = {"dkim_selector": selector, "dkim_key_file": f"dkim/{selector}.pem"}
        if domain:
            values["dkim_domain"] = domain
        brands = {k: b.model_dump() for k, b in settings.brands.items()}
        brands[brand] = {**brands[brand], **values}
        checked = load_settings_without_keys(c.workspace, **{**c.overrides, "brands": brands})
        d = checked.brand_dkim_domain(brand)
        key_file = values["dkim_key_file"]
        table = f"brands.{brand}"
    else:
        prefix = "dkim_ed25519_" if ed else "dkim_"
        values = {f"{prefix}selector": selector, f"{prefix}key_file": f"dkim/{selector}.pem"}
        if domain:
            values["dkim_domain"] = domain
        # Validate before writing anything (selector and domain syntax).
        checked = load_settings_without_keys(c.workspace, **{**c.overrides, **values})
        d = checked.dkim_domain_or_from
        key_file = values[f"{prefix}key_file"]
        table = ""
    path = checked.workspace / key_file
    if path.exists() and not force:
        raise MailerError(f"{path} exists; give --force to replace it (the old DNS record "
                          "then no longer matches)")
    key = generate_key(algorithm)
    write_key(key, path)
    toml = set_workspace_toml(checked.workspace, values, table=table)
    where = f"[{table}] in {toml}" if table else str(toml)
    typer.echo(f"wrote {path} (mode 0600) and set {', '.join(values)} in {where}")
    if brand:
        from_domain = checked.brand_from_domain(brand)
        if not aligned(d, from_domain):
            typer.echo(f"WARNING: {d} does not align with the brand's From domain "
                       f"{from_domain}; the worker does not sign its mail with this key "
                       "until they share the organisational domain", err=True)
    typer.echo("publish this DNS record, then send:")
    typer.echo(dns_record(d, selector, key))


@app.command("doctor")
def doctor(ctx: typer.Context) -> None:
    """Check the sender configuration; print the SPF, DKIM and DMARC records to publish."""
    c: AppContext = ctx.obj
    d = svc.doctor(c.settings)
    for check in d.checks:
        typer.echo(f"{'ok  ' if check.ok else 'FAIL'} {check.what}")
        if not check.ok and check.fix:
            typer.echo(f"     fix: {check.fix}")
    typer.echo("\nDNS records to publish (zone-file lines):")
    for rec in d.records:
        typer.echo(rec)
    if not d.ok:
        raise typer.Exit(1)
