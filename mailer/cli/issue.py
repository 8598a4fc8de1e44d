"""``mailer issue new|check|render|preview``: compose a newsletter issue and see it."""

from __future__ import annotations

import datetime as dt
import shutil
import webbrowser
from pathlib import Path

import typer

from mailer.authoring import Loaded, document_path, load_document
from mailer.authoring.scaffold import new_issue
from mailer.cli import app
from mailer.cli.context import AppContext
from mailer.config import parse_sender
from mailer.domain.content import Issue
from mailer.domain.findings import msgn
from mailer.errors import ConfigError, MailerError
from mailer.services.brands import Signature
from mailer.store.db import reading

issue_app = typer.Typer(help="Compose newsletter issues: scaffold, check, render, preview.",
                        no_args_is_help=True)
app.add_typer(issue_app, name="issue")


def _parse_day(value: str | None) -> dt.date:
    if not value:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise MailerError(f"--today {value!r} is not a date; write YYYY-MM-DD") from None


@issue_app.command("new")
def new(
    ctx: typer.Context,
    year: int | None = typer.Option(None, "--year", help="Year of the issue (default: now)."),
    title: str | None = typer.Option(None, "--title", help="Subject and intro heading."),
    month: str | None = typer.Option(None, "--month", help="Month it goes out: 1–12 or "
                                     "YYYY-MM (default: this month). Names the folder."),
) -> None:
    """Create the folder for the next issue number under the workspace's issues/
    (named year, number, month, e.g. issues/2023-nr07-juni, so folders sort)."""
    c: AppContext = ctx.obj
    workspace = Path(c.workspace or Path.cwd())
    month_no = None
    if month:
        y, _, m = month.rpartition("-")
        if not m.isdigit() or (y and not y.isdigit()):
            raise MailerError(f"--month {month!r} is not a month; write 6 or 2023-06")
        month_no = int(m)
        if y:
            if year is not None and year != int(y):
                raise MailerError(f"--month {month} and --year {year} disagree; give one")
            year = int(y)
    folder = new_issue(workspace / "issues", today=dt.date.today(), year=year, title=title,
                       month=month_no)
    typer.echo(f"created {folder / 'issue.yaml'}")
    typer.echo(f"edit it, then: mailer issue check {folder}  and  mailer issue preview {folder}")


@issue_app.command("check")
def check(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="Issue folder (or its issue.yaml)."),
    today: str | None = typer.Option(None, "--today", help="Date for has-passed warnings "
                                     "(YYYY-MM-DD; default: today)."),
) -> None:
    """Validate an issue; print every problem as file:line: field: message."""
    from mailer.services.issues import check_issue

    c: AppContext = ctx.obj
    try:
        settings = c.settings
    except ConfigError:  # a broken mailer.toml is its own error (the commands using it)
        settings = None
    try:
        engine = c.engine
    except MailerError:  # no database (or no mailer.toml that opens one) yet
        engine = None
    loaded = check_issue(path, today=_parse_day(today), settings=settings, engine=engine)
    for problem in loaded.problems:
        typer.echo(str(problem), err=problem.severity == "error")
    errors = msgn("%(n)s error", "%(n)s errors", len(loaded.errors))
    warnings = msgn("%(n)s warning", "%(n)s warnings", len(loaded.warnings))
    if loaded.errors or loaded.document is None:
        typer.echo(f"{loaded.path}: {errors}, {warnings}", err=True)
        raise typer.Exit(1)
    doc = loaded.document
    what = loaded.kind
    if isinstance(doc, Issue):
        sections = msgn("%(n)s section", "%(n)s sections", len(doc.sections))
        items = msgn("%(n)s item", "%(n)s items", sum(len(s.items) for s in doc.sections))
        what = f"{loaded.kind} nr {doc.number} {doc.year}, {sections}, {items}"
    typer.echo(f"ok: {loaded.path} ({what}); {warnings}")


def _signature(c: AppContext, loaded: Loaded) -> Signature:
    """The newsletter the issue will look and sign as (services.brands.for_preview): its
    own brand:, else its lists'; only its own before the database is set up."""
    from mailer.services import brands

    doc = loaded.document
    own = str(getattr(doc, "brand", "") or "")
    lists = [str(x) for x in getattr(doc, "lists", []) or []]
    issue = str(loaded.path)
    try:
        engine = c.engine if lists and not own else None
    except MailerError:  # no database yet ('mailer init'): the lists' brand is unknown
        engine = None
    if engine is None:
        return brands.for_preview(None, c.settings, issue_brand=own, issue=issue,
                                  list_slugs=lists)
    with reading(engine) as session:
        return brands.for_preview(session, c.settings, issue_brand=own, issue=issue,
                                  list_slugs=lists)


@issue_app.command("render")
def render(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="Issue folder (or its issue.yaml)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write the files to."),
) -> None:
    """Write index.html, index.txt and sample.eml (for a sample recipient) to --out."""
    from mailer.render.documents import options_for, render_document
    from mailer.render.sample import personalise, sample_message, sample_values

    c: AppContext = ctx.obj
    settings = c.settings
    loaded = load_document(path)
    if not loaded.ok:
        raise MailerError(f"{loaded.path} has problems; fix them first "
                          f"(mailer issue check {path})", loaded.errors)
    looks = _signature(c, loaded)
    rendered = render_document(loaded.document, loaded.kind,
                               options_for(settings, loaded.folder, brand=looks.brand))
    values = sample_values(settings.base_url, settings.secret_key, language=rendered.language)
    html, text = personalise(rendered, values)
    eml = bytes(sample_message(rendered, parse_sender(looks.sender), values))
    media = [f for f in loaded.folder.iterdir()
             if f.is_file() and f.suffix.lower() in (".png", ".jpg", ".jpeg", ".gif", ".webp")]
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "index.html").write_text(html, encoding="utf-8")
        (out / "index.txt").write_text(text, encoding="utf-8")
        (out / "sample.eml").write_bytes(eml)
        if media:
            target = out / "media" / loaded.folder.name
            target.mkdir(parents=True, exist_ok=True)
            for f in media:
                shutil.copy2(f, target / f.name)
    except OSError as exc:
        raise MailerError(f"--out {out}: cannot write the files there ({exc.strerror}: "
                          f"{exc.filename}); give a folder you can write to") from None
    size = len(html.encode("utf-8"))
    typer.echo(f"wrote {out / 'index.html'} ({size / 1024:.1f} KB), {out / 'index.txt'}, "
               f"{out / 'sample.eml'}")
    if size > 102 * 1024:
        typer.echo("warning: the HTML is over 102 KB; Gmail will clip it", err=True)
    for p in loaded.warnings:
        typer.echo(str(p), err=True)


@issue_app.command("preview")
def preview(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="Issue folder (or its issue.yaml)."),
    port: int = typer.Option(8025, "--port", min=1, max=65535, help="Port on 127.0.0.1."),
    open_browser: bool = typer.Option(False, "--open", help="Open a browser at the page."),
) -> None:
    """Serve a live preview (desktop and mobile side by side) on 127.0.0.1."""
    from mailer.render.documents import options_for, render_document
    from mailer.render.engine import template_dirs
    from mailer.render.preview import PreviewState, Snapshot, make_server, problems_page
    from mailer.render.sample import personalise, sample_values

    c: AppContext = ctx.obj
    settings = c.settings
    file = document_path(path)
    base = f"http://127.0.0.1:{port}"

    def build() -> Snapshot:
        loaded = load_document(file)
        if not loaded.ok:
            lines = [str(p) for p in loaded.problems]
            problems = msgn("%(n)s problem", "%(n)s problems", len(loaded.errors))
            return Snapshot("", problems_page(problems, lines),
                            "\n".join(lines), False)
        options = options_for(settings, loaded.folder, asset_base_url=f"{base}/media",
                              brand=_signature(c, loaded).brand)
        rendered = render_document(loaded.document, loaded.kind, options)
        html, text = personalise(rendered, sample_values(base, settings.secret_key,
                                                         language=rendered.language))
        return Snapshot("", html, text, True)

    watched = [file.parent, *template_dirs(settings.workspace)]
    state = PreviewState(build, watched, file.parent, title=str(file.parent))
    try:
        server = make_server(state, port)
    except OSError as exc:
        raise MailerError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}; "
                          "try another --port") from None
    typer.echo(f"preview of {file.parent} at {base}/  (Ctrl-C stops)")
    if open_browser:
        webbrowser.open(f"{base}/")
    try:
        server.serve_forever()
    finally:
        server.server_close()
