"""``mailer demo``'s setup: the demo list and its fictitious subscribers."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from mailer.errors import NotFound
from mailer.services.imports import ImportReport, import_subscribers
from mailer.services.lists import ListCounts, create_list, get_list, list_counts
from mailer.store.db import transaction


def fill_list(engine: Engine, csv: Path, slug: str, name: str) -> ImportReport:
    """Create the list if it is missing and import ``csv`` into it."""
    with transaction(engine) as s:
        try:
            get_list(s, slug)
        except NotFound:
            create_list(s, slug, name, language="sv")
    return import_subscribers(engine, csv, slug)


def list_summary(engine: Engine) -> list[ListCounts]:
    """Every list with its subscribers per status."""
    with transaction(engine) as s:
        return list_counts(s)
