"""Run the CLI in-process on a workspace, as a user types it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from mailer.cli import _register, app


def cli_in(workspace: Path) -> Callable[..., str]:
    """``run("send", PATH, ok=True)``: the output (and error), asserting the exit status."""
    _register()

    def run(*args: str, ok: bool = True) -> str:
        r = CliRunner().invoke(app, ["--workspace", str(workspace), *args])
        out = r.output + (str(r.exception) if r.exception else "")
        assert (r.exit_code == 0) == ok, out
        return out

    return run
