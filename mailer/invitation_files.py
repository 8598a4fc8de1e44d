"""Find and load ``issues/<slug>/issue.yaml`` of kind invitation through the compose loader.

The loader reports every problem with file:line; this module maps an invitation id (the
folder name) to its file and applies the configured time zone to naive times.
"""

from __future__ import annotations

from pathlib import Path

from mailer.authoring import load_document
from mailer.authoring.source import read_source
from mailer.domain.findings import msg
from mailer.domain.invitation import (
    DEFAULT_TIMEZONE,
    Invitation,
    parse_invitation,
    parse_time_of_day,
)
from mailer.errors import MailerError, NotFound

ISSUE_FILE = "issue.yaml"


def invitation_path(workspace: Path, slug: str) -> Path:
    """``issues/<slug>/issue.yaml`` in the workspace (the slug is the folder name)."""
    folder = workspace / "issues" / slug
    if "/" in slug or "\\" in slug or slug.startswith(".") or not folder.is_dir():
        known = sorted(p.parent.name for p in (workspace / "issues").glob(f"*/{ISSUE_FILE}"))
        raise NotFound(f"no invitation folder issues/{slug}/ in {workspace}; "
                       f"known folders: {', '.join(known) or 'none'}")
    path = folder / ISSUE_FILE
    if not path.is_file():
        raise NotFound(f"{path} is missing")
    return path


def load_invitation(workspace: Path, slug: str, *, timezone: str,
                    reminder_time: str = "09:00") -> Invitation:
    """The valid invitation in ``issues/<slug>``, or a MailerError listing every error.

    Naive times in the file are in ``timezone`` (MAILER_TIMEZONE) unless the file says
    ``timezone:`` itself. Reminders before a deadline given as a date go at
    ``reminder_time`` (MAILER_REMINDER_TIME) unless the file says ``reminder_time:``.
    """
    path = invitation_path(workspace, slug)
    loaded = load_document(path)
    if loaded.document is None or loaded.errors:
        raise MailerError(msg("%(path)s is not valid; fix these and run 'mailer issue check "
                              "%(folder)s':", path=str(path), folder=str(path.parent)
                              ).with_admin(msg(
            "issues/%(slug)s/issue.yaml is not valid; its page under Issues shows what to fix",
            slug=slug)).with_api(msg(
                "issues/%(slug)s/issue.yaml is not valid; GET /api/issues/%(slug)s lists "
                "what to fix", slug=slug)), loaded.errors)
    if loaded.kind != "invitation":
        raise MailerError(f"{path} is a {loaded.kind}, not an invitation (kind: invitation)")
    inv = loaded.document
    assert isinstance(inv, Invitation)  # the invitation kind's model
    if timezone != DEFAULT_TIMEZONE:
        src = read_source(path, str(path))
        if isinstance(src.data, dict) and "timezone" not in src.data:
            inv = parse_invitation(src.data, timezone=timezone)
    if inv.reminder_time is None and inv.ends_at_end_of_day:
        inv = inv.model_copy(update={"reminder_time": parse_time_of_day(reminder_time)})
    return inv
