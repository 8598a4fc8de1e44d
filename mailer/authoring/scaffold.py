"""``mailer issue new``: a folder for the next issue number, carried over from the last."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from mailer.authoring.load import DOCUMENT_NAME
from mailer.errors import MailerError


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


def new_issue(issues_dir: Path, *, today: dt.date, year: int | None = None,
              title: str | None = None) -> Path:
    """Create ``issues/<year>-<month>-nyhetsbrev-<n>/issue.yaml`` for the next number."""
    year = year or today.year
    prev = previous_issues(issues_dir) if issues_dir.is_dir() else []
    number = max((p.number for p in prev if p.year == year), default=0) + 1
    last = prev[-1].data if prev else {}
    month = today.month if year == today.year else 1
    folder = issues_dir / f"{year}-{month:02d}-nyhetsbrev-{number}"
    if folder.exists():
        raise MailerError(f"{folder} already exists; choose another --year or remove it")
    language = last.get("language", "sv")
    heading = (f"Nyhetsbrev nr {number} år {year}" if language == "sv"
               else f"Newsletter no. {number}, {year}")
    name = last.get("name") or "Vårt nyhetsbrev"
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
        "  Skriv inledningen här (Markdown: **fet**, [länktext](https://…)).",
        "",
        "# Item types: report, factsheet, podcast, example, offer, event, network.",
        "# See issues/2023-06-nyhetsbrev-6/issue.yaml for every field of each type.",
        "sections:",
        "  - title: Nyheter",
        "    items:",
        "      - type: report",
        "        source: SKR",
        "        title: Rubrik",
        "        summary: En kort sammanfattning.",
        "        link: {url: \"https://www.example.org/\", text: Läs mer}",
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

