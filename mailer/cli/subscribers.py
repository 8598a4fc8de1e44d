"""``mailer subscribers import|export|show|erase``."""

from __future__ import annotations

import typer

from mailer.cli import app

subscribers_app = typer.Typer(help="Subscribers: import, export, GDPR show and erase.",
                              no_args_is_help=True)
app.add_typer(subscribers_app, name="subscribers")
