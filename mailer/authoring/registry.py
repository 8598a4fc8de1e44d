"""Document kinds (newsletter, invitation, …): each registers its model and its checks."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from mailer.domain.findings import Finding


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What a kind's checker may look at besides the document: its folder and the date."""

    folder: Path
    today: date | None = None

    def exists(self, relative: str) -> bool:
        """True when ``relative`` names a file inside the document's folder."""
        target = (self.folder / relative).resolve()
        return self.folder.resolve() in target.parents and target.is_file()


# Any: each kind's checker takes its own model (Issue, Invitation, …); Callable parameters
# are contravariant, so no common type would accept them all.
Checker = Callable[[Any, CheckContext], Iterable[Finding]]
PartialChecker = Callable[[Mapping[str, object], CheckContext], Iterable[Finding]]


@dataclass(frozen=True, slots=True)
class Kind:
    name: str
    model: type[BaseModel]
    checker: Checker | None = None
    partial_checker: PartialChecker | None = None
    description: str = ""


_KINDS: dict[str, Kind] = {}
_discovered = False


def register_kind(name: str, model: type[BaseModel], checker: Checker | None = None,
                  *, partial_checker: PartialChecker | None = None,
                  description: str = "") -> None:
    """Make ``kind: <name>`` loadable.

    ``model`` validates the shape (use ``extra="forbid"`` so typos are caught);
    ``checker(document, ctx)`` yields Findings for the rules beyond the shape;
    ``partial_checker(raw_data, ctx)``, optional, runs when the shape is invalid so
    that the problems in the valid parts are reported in the same run.
    Modules in ``mailer.authoring.kinds`` are imported on first use and register here.
    """
    _KINDS[name] = Kind(name, model, checker, partial_checker, description)


def kinds() -> dict[str, Kind]:
    """Every registered kind (importing each module of ``mailer.authoring.kinds`` once)."""
    global _discovered
    if not _discovered:
        _discovered = True
        package = importlib.import_module("mailer.authoring.kinds")
        for info in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{info.name}")
    return _KINDS


DEFAULT_KIND = "newsletter"
