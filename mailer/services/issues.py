"""An issue checked as ``mailer issue check`` and the admin's issue editor check it: the
file's own check (``mailer.authoring``), then what the file alone cannot tell, against the
workspace: its ``brand:`` must be one of mailer.toml's, its ``lists:`` the workspace's."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import Engine

from mailer.authoring import Loaded, load_document
from mailer.config import Settings
from mailer.errors import ConfigError, MailerError, Problem
from mailer.services.lists import unknown_lists
from mailer.store.db import reading

__all__ = ["check_issue", "line_of"]


def check_issue(path: Path | str, *, today: date, settings: Settings | None,
                engine: Engine | None) -> Loaded:
    """Load and check the issue at ``path`` (never raises for bad content). ``settings``
    None: a mailer.toml that does not load (its own error), brand unchecked; ``engine``
    None: no database yet ('mailer init'), lists unchecked (nothing can tell)."""
    loaded = load_document(path, today=today)
    # From the valid document, else from the fields as read: an issue with other errors
    # still hears about an unknown brand or list now, not in a second round.
    doc = loaded.document
    raw_brand = getattr(doc, "brand", None) if doc is not None else loaded.fields.get("brand")
    own = raw_brand.strip() if isinstance(raw_brand, str) else ""
    if own and settings is not None:
        try:
            settings.check_brand(own, "brand")
        except ConfigError:
            pass  # a broken mailer.toml is its own error, reported by the commands using it
        except MailerError as exc:
            # "brand: brand 'x' is not in mailer.toml …": its field named in the message,
            # which stays translatable (the admin shows it in the reader's language).
            loaded.problems.append(Problem(exc.message, str(loaded.path),
                                           line_of(loaded.path, "brand")))
    raw_lists = getattr(doc, "lists", None) if doc is not None else loaded.fields.get("lists")
    lists = ([x for x in raw_lists if isinstance(x, str)]
             if isinstance(raw_lists, list | tuple) else [])
    if lists and engine is not None:
        # An error here, naming the lists there are, not first when the issue is sent.
        with reading(engine) as session:
            refused = unknown_lists(session, lists)
        loaded.problems.extend(Problem(m, str(loaded.path), line_of(loaded.path, "lists"),
                                       "lists") for m in refused)
    return loaded


def line_of(path: Path, key: str) -> int | None:
    """The line of a top-level ``key:`` in a YAML file (for a problem's file:line)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return next((n for n, line in enumerate(lines, 1) if line.startswith(f"{key}:")), None)
