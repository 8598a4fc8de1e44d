"""``mailer issue new``: a folder for the next issue number, carried over from the last."""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel.dates import format_date
from ruamel.yaml import YAML

from mailer.authoring.examples import FLAGSHIP, flagship_path
from mailer.authoring.load import DOCUMENT_NAME
from mailer.domain.content import SCAFFOLD_TEXTS
from mailer.errors import MailerError
from mailer.render.i18n import LANGUAGES, Translator, newsletter_heading


@dataclass(frozen=True, slots=True)
class Previous:
    folder: Path
    number: int
    year: int
    data: dict[str, Any]  # the raw YAML of an earlier issue, read loosely with .get()


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except Exception:  # an unreadable issue is skipped here; `issue check` reports it
        return None
    return data if isinstance(data, dict) else None


def previous_issues(issues_dir: Path) -> list[Previous]:
    """Every newsletter issue under ``issues_dir`` with a number and year, oldest first."""
    found = []
    for yaml_path in sorted(issues_dir.glob(f"*/{DOCUMENT_NAME}")):
        data = _read(yaml_path)
        if not data or data.get("kind", "newsletter") != "newsletter":
            continue
        try:
            found.append(Previous(yaml_path.parent, int(data["number"]), int(data["year"]), data))
        except (KeyError, TypeError, ValueError):
            continue
    return sorted(found, key=lambda p: (p.year, p.number))


def _q(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def folder_name(year: int, number: int, month: int, language: str = "sv") -> str:
    """``2023-nr07-juni``: year, then the number with two digits, then the month in words,
    so that folders sort in issue order (nr 7 after nr 6, nr 10 after nr 9)."""
    name = format_date(dt.date(year, month, 1), "MMMM",
                       locale=language if language in LANGUAGES else "sv").lower()
    return f"{year}-nr{number:02d}-{unidecode_ascii(name)}"


def unidecode_ascii(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if c.isascii() and
                   (c.isalnum() or c == "-"))


def new_issue(issues_dir: Path, *, today: dt.date, year: int | None = None,
              title: str | None = None, month: int | None = None) -> Path:
    """Create ``issues/<year>-nr<nn>-<month>/issue.yaml`` for the next number.

    ``month`` is the month the issue goes out (default: this month, or January of
    another ``year``)."""
    year = year or today.year
    if month is not None and not 1 <= month <= 12:
        raise MailerError(f"--month {month} is not a month; give 1–12 (or YYYY-MM)")
    prev = previous_issues(issues_dir) if issues_dir.is_dir() else []
    number = max((p.number for p in prev if p.year == year), default=0) + 1
    last = prev[-1].data if prev else {}
    month = month or (today.month if year == today.year else 1)
    language = last.get("language", "sv")
    # The example with every field of every item type: the workspace's copy, else the one
    # shipped with mailer (a new workspace has none).
    example = issues_dir / FLAGSHIP / DOCUMENT_NAME
    example_name = (f"issues/{FLAGSHIP}/{DOCUMENT_NAME}" if example.is_file()
                    else str(flagship_path() / DOCUMENT_NAME))
    folder = issues_dir / folder_name(year, number, month, language)
    if folder.exists():
        raise MailerError(f"{folder} already exists; choose another --year or remove it")
    said_in = language if language in LANGUAGES else "sv"  # `issue check` names the rest
    say = Translator(said_in).gettext
    texts = SCAFFOLD_TEXTS.translated(say)
    heading = newsletter_heading(number, year, said_in)
    name = last.get("name") or say("Our newsletter")
    editor = last.get("editor") or {}
    lists = last.get("lists") or []
    lines = [
        f"# Issue {number} of {year}. Check it with: mailer issue check {folder}",
        "kind: newsletter",
        f"name: {_q(name)}",
        f"number: {number}",
        f"year: {year}",
        f"language: {language}",
        f"subject: {_q(title or heading)}",
        "preheader: \"\"  # one line shown after the subject in the inbox",
    ]
    if last.get("organisation"):
        lines.append(f"organisation: {_q(last['organisation'])}")
    lines.append(f"lists: [{', '.join(str(x) for x in lists)}]")
    lines += [
        "",
        f"intro_title: {_q(title or heading)}",
        "intro: |",
        f"  {texts.intro}",
        "",
        "# Item types: report, factsheet, podcast, example, offer, event, network.",
        f"# See {example_name} for every field of each type.",
        "sections:",
        f"  - title: {texts.section}",
        "    items:",
        "      - type: report",
        "        source: SKR",
        f"        title: {texts.title}",
        f"        summary: {texts.summary}",
        f"        link: {{url: \"https://www.example.org/\", text: {texts.link_text}}}",
    ]
    if editor.get("name"):
        lines += ["", "editor:"]
        for key in ("name", "email", "phone", "organisation"):
            if editor.get(key):
                lines.append(f"  {key}: {_q(editor[key])}")
        website = editor.get("website")
        if isinstance(website, dict) and website.get("url"):
            lines.append(f"  website: {{url: {_q(website['url'])}, "
                         f"text: {_q(website.get('text', ''))}}}")
    folder.mkdir(parents=True)
    (folder / DOCUMENT_NAME).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder

