"""The workspace's issue folders as the admin pages see them: list, open, check, render.

Loading and checking is the authoring loader's (``load_document``), rendering the
renderer's (``render_document``); this module finds folders safely from a URL name and
keeps the last rendering per folder so both preview frames cost one MJML compile.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from mailer.authoring import DOCUMENT_NAME, Loaded, load_document
from mailer.config import Settings
from mailer.domain.findings import msg
from mailer.errors import MailerError, NotFound
from mailer.render.documents import options_for, render_document
from mailer.render.i18n import Translator, describe_problem
from mailer.render.preview import fingerprint, problems_page
from mailer.render.sample import personalise, sample_values
from mailer.render.types import RenderedMailing
from mailer.services.issues import check_issue

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")


def issues_dir(settings: Settings) -> Path:
    return settings.workspace / "issues"


def issue_folder(settings: Settings, name: str) -> Path:
    """The folder ``issues/<name>``, refusing anything that is not a plain folder name."""
    folder = issues_dir(settings) / name
    if not NAME_RE.match(name) or not (folder / DOCUMENT_NAME).is_file():
        raise NotFound(msg("no issue folder %(name)r in %(folder)s", name=name,
                           folder=str(issues_dir(settings))))
    return folder


def local_today(settings: Settings, now: dt.datetime) -> dt.date:
    return now.astimezone(settings.tz).date()


@dataclass(frozen=True, slots=True)
class IssueSummary:
    """One row of the issues list."""

    name: str
    kind: str
    title: str
    number: int | None
    year: int | None
    errors: int
    warnings: int
    lists: tuple[str, ...]
    date: dt.date | None


def summarise(loaded: Loaded, raw_title: str = "") -> IssueSummary:
    """A row of the list; an issue with errors shows the title and lists as written."""
    doc = loaded.document
    written = loaded.fields if doc is None else {}
    lists = written.get("lists")
    as_written = [x for x in lists if isinstance(x, str)] if isinstance(lists, list) else []
    title = next((t for t in (getattr(doc, "subject", None), getattr(doc, "title", None),
                              written.get("subject"), written.get("title"), raw_title)
                  if isinstance(t, str) and t.strip()), loaded.folder.name)
    return IssueSummary(
        name=loaded.folder.name, kind=loaded.kind, title=title,
        number=getattr(doc, "number", None), year=getattr(doc, "year", None),
        errors=len(loaded.errors), warnings=len(loaded.warnings),
        lists=tuple(getattr(doc, "lists", ()) or as_written), date=getattr(doc, "date", None))


def list_issues(settings: Settings, today: dt.date,
                engine: Engine | None = None) -> list[IssueSummary]:
    """Every issue folder in the workspace, newest name first, checked as ``mailer issue
    check`` checks it (with ``engine``, its ``lists:`` against the workspace's too)."""
    root = issues_dir(settings)
    if not root.is_dir():
        return []
    return [summarise(check_issue(folder, today=today, settings=settings, engine=engine))
            for folder in sorted(root.iterdir(), reverse=True)
            if folder.is_dir() and (folder / DOCUMENT_NAME).is_file()
            and NAME_RE.match(folder.name)]


@dataclass(frozen=True, slots=True)
class Preview:
    ok: bool
    html: str
    text: str
    rendered: RenderedMailing | None


class PreviewCache:
    """The last rendering per folder, keyed by the folder's and templates' fingerprint."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[Path, tuple[str, Preview]] = {}

    def version(self, settings: Settings, folder: Path, brand: str = "") -> str:
        from mailer.render.engine import template_dirs

        own = settings.brands[brand].templates if brand in settings.brands else ""
        dirs = template_dirs(settings.workspace) if not (
            own and (settings.workspace / own).is_dir()) else template_dirs(
                settings.workspace, own)
        return fingerprint([folder, *dirs]) + f":{brand}"

    def get(self, settings: Settings, folder: Path, asset_base: str,
            brand: str = "") -> Preview:
        """``brand``: the look of an issue naming none (its lists', services.brands)."""
        version = self.version(settings, folder, brand)
        with self._lock:
            hit = self._cache.get(folder)
            if hit is not None and hit[0] == version:
                return hit[1]
        preview = render_preview(settings, folder, asset_base, brand)
        with self._lock:
            self._cache[folder] = (version, preview)
        return preview


def render_preview(settings: Settings, folder: Path, asset_base: str,
                   brand: str = "") -> Preview:
    """The issue as a sample recipient sees it, or a page listing its problems.

    Links are signed with the preview-only key (``sample_values`` without a secret), so
    a preview never carries a working unsubscribe link for a real subscriber id.
    """
    loaded = load_document(folder)
    if not loaded.ok:
        lang = settings.language
        lines = [describe_problem(p, lang) for p in loaded.errors]
        title = Translator(lang).ngettext("%(n)s error", "%(n)s errors", len(lines)) % {
            "n": len(lines)}
        return Preview(False, problems_page(title, lines, lang), "\n".join(lines), None)
    try:
        rendered = render_document(loaded.document, loaded.kind,
                                   options_for(settings, folder, asset_base_url=asset_base,
                                               brand=brand))
    except MailerError as exc:
        tr = Translator(settings.language)
        said = tr.localise(exc.message)
        return Preview(False, problems_page(tr.gettext("Cannot render"), said.splitlines(),
                                            settings.language), said, None)
    html, text = personalise(rendered, sample_values(settings.base_url,
                                                     language=rendered.language))
    return Preview(True, html, text, rendered)
