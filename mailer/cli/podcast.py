"""``mailer podcast add ISSUE FEED_URL``: podcast episodes from the feed into an issue."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from mailer.cli import app
from mailer.services.podcast import add_from_feed

podcast_app = typer.Typer(help="Podcast episodes from the podcast's RSS feed.",
                          no_args_is_help=True)
app.add_typer(podcast_app, name="podcast")


@podcast_app.command("add")
def add(
    issue: Path = typer.Argument(..., help="Issue folder (or its issue.yaml)."),
    feed_url: str = typer.Argument(..., help="The podcast's RSS feed address."),
    episode: int | None = typer.Option(None, "--episode", min=1, help="Episode number."),
    guid: str | None = typer.Option(None, "--guid", help="The episode's guid in the feed."),
    latest: int | None = typer.Option(None, "--latest", min=1,
                                      help="The newest K episodes (default: the newest one)."),
    section: str | None = typer.Option(
        None, "--section", help="Section number (1 = first) or title; default: the last "
        "section with podcast items, or a new one named after the podcast."),
    timeout: float = typer.Option(20.0, "--timeout", min=1, max=300,
                                  help="Seconds to wait for the feed."),
) -> None:
    """Add episodes as podcast items (title, number, date, length, summary, participants,
    link); the issue file is changed only when the feed could be read."""
    r = add_from_feed(issue, feed_url, episode=episode, guid=guid, latest=latest,
                      section=section, timeout=timeout, today=dt.date.today())
    for e in r.already:
        typer.echo(f"already in the issue: {e.label} ({e.link})")
    if not r.added:
        typer.echo(f"nothing added to {r.path}")
        return
    where = (f"new section {r.section + 1} ({r.feed_title or 'Podcast'})" if r.section_created
             else f"section {r.section + 1}")
    for index, e in r.added:
        facts = [str(e.date) if e.date else "", f"{e.minutes} min" if e.minutes else "",
                 f"{len(e.people)} named" if e.people else ""]
        typer.echo(f"added {e.label} as item {index + 1} of {where}"
                   + (f" ({', '.join(f for f in facts if f)})" if any(facts) else ""))
        if e.shortened:
            typer.echo("  the show notes were shortened to a summary; edit it in the issue")
    for p in r.problems:
        typer.echo(str(p), err=p.severity == "error")
    errors = sum(p.severity == "error" for p in r.problems)
    typer.echo(f"{r.path}: saved; check it with: mailer issue check {r.path.parent}")
    if errors:
        raise typer.Exit(1)
