"""Read ``issues/<slug>/issue.yaml`` of kind invitation, with file:line for every problem.

A small reader of our own so invitations work on their own; when the compose loader
(kind registry) is present, ``mailer issue check`` goes through it and this module only
maps a slug to its folder and validates.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from mailer.domain.invitation import Finding, Invitation, parse_invitation
from mailer.errors import MailerError, NotFound, Problem

ISSUE_FILE = "issue.yaml"


def invitation_path(workspace: Path, slug: str) -> Path:
    """``issues/<slug>/issue.yaml`` in the workspace (the slug is the folder name)."""
    folder = workspace / "issues" / slug
    if "/" in slug or slug.startswith(".") or not folder.is_dir():
        known = sorted(p.parent.name for p in (workspace / "issues").glob(f"*/{ISSUE_FILE}"))
        raise NotFound(f"no invitation folder issues/{slug}/ in {workspace}; "
                       f"known folders: {', '.join(known) or 'none'}")
    path = folder / ISSUE_FILE
    if not path.is_file():
        raise NotFound(f"{path} is missing")
    return path


def line_of(data: Any, path: tuple[str | int, ...]) -> int | None:
    """The 1-based YAML line of ``path`` (as deep as it exists) in ruamel round-trip data."""
    line = None
    node = data
    for key in path:
        if isinstance(node, CommentedMap) and key in node:
            line = node.lc.key(key)[0] + 1
            node = node[key]
        elif isinstance(node, CommentedSeq) and isinstance(key, int) and key < len(node):
            line = node.lc.item(key)[0] + 1
            node = node[key]
        else:
            break
    return line


def _field(path: tuple[str | int, ...]) -> str:
    out = ""
    for k in path:
        out += f"[{k}]" if isinstance(k, int) else (f".{k}" if out else str(k))
    return out


def read_invitation(path: Path, *, timezone: str, now: datetime | None = None
                    ) -> tuple[Invitation | None, list[Problem]]:
    """Parse and validate; every problem at once, warnings included (relative to ``now``)."""
    name = str(path)
    try:
        data = YAML(typ="rt").load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(f"cannot read: {exc}", file=name)]
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return None, [Problem(f"not valid YAML: {getattr(exc, 'problem', exc)}", file=name,
                              line=mark.line + 1 if mark else None)]
    if not isinstance(data, dict):
        return None, [Problem("expected a mapping with kind: invitation", file=name, line=1)]
    if data.get("kind") != "invitation":
        return None, [Problem(f"kind is {data.get('kind')!r}, expected 'invitation'", file=name,
                              line=line_of(data, ("kind",)) or 1, field="kind")]
    try:
        inv = parse_invitation(data, timezone=timezone)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(x for x in err["loc"] if isinstance(x, str | int))
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(Problem(msg, file=name, line=line_of(data, loc), field=_field(loc)))
        return None, problems
    return inv, [_problem(f, data, name) for f in inv.findings(now)]


def _problem(f: Finding, data: Any, name: str) -> Problem:
    return Problem(f.message, file=name, line=line_of(data, f.path), field=_field(f.path),
                   severity=f.severity)


def load_invitation(workspace: Path, slug: str, *, timezone: str,
                    now: datetime | None = None) -> Invitation:
    """The invitation in ``issues/<slug>``, or a MailerError listing every error."""
    path = invitation_path(workspace, slug)
    inv, problems = read_invitation(path, timezone=timezone, now=now)
    errors = [p for p in problems if p.severity == "error"]
    if inv is None or errors:
        raise MailerError(f"{path} is not a valid invitation; fix these and run "
                          "'mailer issue check' again:", errors or problems)
    return inv
