"""Turn a folder (newsletter issue or invitation) into a RenderedMailing for sending.

The one call from delivery into the compose renderer; everything else in delivery
sees only ``RenderedMailing``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from mailer.config import Settings
from mailer.errors import MailerError
from mailer.render.types import RenderedMailing
from mailer.store.models import MailingKind


@dataclass(frozen=True, slots=True)
class Source:
    rendered: RenderedMailing
    kind: MailingKind
    name: str
    path: str
    lists: list[str]  # the document's own target lists (used when --list is not given)
    warnings: list[str] = field(default_factory=list)  # the check's warnings, as shown
    brand: str = ""  # the document's own brand: ("" = its lists' or the workspace's)
    rendered_brand: str = ""  # the brand it was rendered in


def render_path(path: Path, settings: Settings, *, brand: str = "",
                today: date | None = None) -> Source:
    """Load and render the issue or invitation at ``path`` once (no personalisation); a
    document naming no brand is rendered in ``brand`` (its lists', services.brands).
    ``today`` (the day it goes out) enables the check's has-passed warnings."""
    path = Path(path)
    if not path.exists():
        raise MailerError(f"{path}: no such file or folder (give an issue folder or its "
                          "issue.yaml)")
    from mailer.authoring import load_document
    from mailer.render.documents import options_for, render_document

    loaded = load_document(path, today=today)
    if not loaded.ok:
        raise MailerError(f"{loaded.path} has problems; fix them first "
                          f"(mailer issue check {path})", loaded.errors)
    settings.check_brand(str(getattr(loaded.document, "brand", "") or ""),
                         str(loaded.path))
    rendered = render_document(loaded.document, loaded.kind,
                               options_for(settings, loaded.folder, brand=brand))
    doc = loaded.document
    own = str(getattr(doc, "brand", "") or "")
    name = f"{loaded.folder.name}: {rendered.subject}"
    lists = [str(x) for x in getattr(doc, "lists", []) or []]
    return Source(rendered, MailingKind(loaded.kind), name, str(loaded.folder), lists,
                  [str(w) for w in loaded.warnings], own, own or brand)
