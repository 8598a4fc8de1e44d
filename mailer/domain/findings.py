"""Findings: problems a pure check reports at a path in a document (the loader adds lines)."""

from __future__ import annotations

from dataclasses import dataclass

#: A position in a loaded document, e.g. ("sections", 0, "items", 2, "title").
DocPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Finding:
    """A problem at ``path``; ``text_line`` counts lines inside a Markdown text (from 1)."""

    path: DocPath
    message: str
    severity: str = "error"  # "error" or "warning"
    text_line: int | None = None
