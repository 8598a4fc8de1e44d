"""The example issues shipped with mailer (the flagship: newsletter nr 6 2023)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

FLAGSHIP = "2023-06-nyhetsbrev-6"
INVITATION = "2023-natverk-tjanstepersoner"  # the coordinator's example
_PACKAGE = Path(__file__).resolve().parent.parent


def bundled_issues() -> Path:
    """``mailer/_issues`` in an installed package (a copy of the repository's
    ``issues/``), else the repository's ``issues/`` folder."""
    for candidate in (_PACKAGE / "_issues", _PACKAGE.parent / "issues"):
        if candidate.is_dir():
            return candidate
    return _PACKAGE / "_issues"


def flagship_path() -> Path:
    """The folder of the flagship issue as shipped."""
    return bundled_issues() / FLAGSHIP


def copy_example(workspace: Path, name: str = FLAGSHIP, *,
                 lists: list[str] | None = None) -> Path:
    """Copy a shipped example issue into ``workspace/issues/`` (kept if already there);
    with ``lists``, its top-level ``lists:`` line names those lists instead (so the copy
    targets lists that exist in the workspace; the rest of the file stays as it is)."""
    target = workspace / "issues" / name
    if not target.exists():
        shutil.copytree(bundled_issues() / name, target)
        if lists:
            doc = target / "issue.yaml"
            text = doc.read_text(encoding="utf-8")
            text = re.sub(r"(?m)^lists:.*$", f"lists: [{', '.join(lists)}]", text, count=1)
            doc.write_text(text, encoding="utf-8")
    return target
