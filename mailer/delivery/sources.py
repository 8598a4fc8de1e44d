"""Turn a folder (newsletter issue or invitation) into a RenderedMailing for sending.

The one call from delivery into the compose renderer; everything else in delivery
sees only ``RenderedMailing``.
"""

from __future__ import annotations

from dataclasses import dataclass
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


def render_path(path: Path, settings: Settings) -> Source:
    """Load and render the issue or invitation at ``path`` once (no personalisation)."""
    path = Path(path)
    if not path.exists():
        raise MailerError(f"{path}: no such file or folder (give an issue folder or its "
                          "issue.yaml)")
    try:
        from mailer.render import render_issue  # type: ignore[attr-defined]
    except ImportError:
        raise MailerError("rendering issues is not available in this build yet "
                          "(the compose renderer is missing)") from None
    rendered, kind, name = render_issue(path, settings)  # pragma: no cover - until merged
    return Source(rendered, MailingKind(kind), name, str(path))
