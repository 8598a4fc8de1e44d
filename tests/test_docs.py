"""The guides in docs/ are run: every ``sh`` block of docs/editor.md, docs/coordinator.md
and docs/deploy.md, in order, in a fresh workspace sending to a local SMTP server. A line
ending in ``# exit N`` must exit with N; every other command must succeed."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mailer.authoring.examples import bundled_issues
from tests.conftest import TEST_SECRET
from tests.smtp_server import SmtpServer

ROOT = Path(__file__).resolve().parent.parent
DOCS = ["editor.md", "coordinator.md", "deploy.md"]
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)
EXIT = re.compile(r"\s+#\s*exit (\d+)\s*$")


def script_of(markdown: str) -> str:
    """One bash script: each command checked for its exit status, heredocs kept whole."""
    out = ["set -u"]
    for block in BLOCK.findall(markdown):
        lines = block.splitlines()
        i = 0
        while i < len(lines):
            command = lines[i]
            i += 1
            if not command.strip() or command.lstrip().startswith("#"):
                continue
            heredoc = re.search(r"<<'?(\w+)'?", command)
            if heredoc:  # the document the command reads, up to its end marker
                end = heredoc.group(1)
                while i < len(lines) and lines[i] != end:
                    command += "\n" + lines[i]
                    i += 1
                command += "\n" + end
                i += 1
            expected = 0
            if m := EXIT.search(command.splitlines()[0]):
                expected = int(m.group(1))
            label = shlex.quote(command.splitlines()[0])
            out.append(f"echo '$' {label}")
            out.append(command)
            out.append(f"rc=$?; if [ $rc -ne {expected} ]; then echo \"FAILED (exit $rc, "
                       f"expected {expected}): \"{label} >&2; exit 1; fi")
    return "\n".join(out) + "\n"


def test_the_script_checks_exit_codes() -> None:
    script = script_of("```sh\ntrue\nfalse  # exit 1\ncat > x <<'EOF'\na\nEOF\n```\n")
    assert script.count("rc=$?") == 3 and "expected 1" in script and "\na\nEOF\n" in script


@pytest.mark.parametrize("doc", DOCS)
def test_every_command_in_the_guide_runs(doc: str, workspace: Path,
                                         smtp_server: SmtpServer) -> None:
    markdown = (ROOT / "docs" / doc).read_text(encoding="utf-8")
    assert BLOCK.search(markdown), f"docs/{doc} has no sh block"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"(docs/{doc})" in readme, f"the README does not link docs/{doc}"
    if doc == "coordinator.md":  # the guide starts from the invitation example
        shutil.copytree(bundled_issues() / "2023-natverk-tjanstepersoner",
                        workspace / "issues" / "2023-natverk-tjanstepersoner")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env.update(MAILER_WORKSPACE=str(workspace), MAILER_SECRET_KEY=TEST_SECRET,
               MAILER_SMTP_URL=smtp_server.url, MAILER_BASE_URL="https://nyhetsbrev.example.org",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    result = subprocess.run(["bash", "-c", script_of(markdown)], cwd=workspace, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_the_deploy_guides_unit_files_verify(tmp_path: Path) -> None:
    """The systemd units of docs/deploy.md pass ``systemd-analyze verify`` (with the
    program path pointed at this installation's ``mailer``)."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    markdown = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    units = re.findall(r"`/etc/systemd/system/([\w-]+\.service)`:\n\n```ini\n(.*?)^```",
                       markdown, re.S | re.M)
    assert [name for name, _ in units] == ["mailer-web.service", "mailer-worker.service"]
    mailer = Path(sys.executable).parent / "mailer"
    for name, text in units:
        assert "EnvironmentFile=/etc/mailer/env" in text
        local = (text.replace("/srv/mailer/.venv/bin/mailer", str(mailer))
                 .replace("User=mailer", "User=root").replace("/srv/mailer", str(tmp_path))
                 .replace("EnvironmentFile=/etc/mailer/env", "EnvironmentFile=-/etc/mailer/env"))
        (tmp_path / name).write_text(local, encoding="utf-8")
        r = subprocess.run(["systemd-analyze", "verify", str(tmp_path / name)],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and name not in r.stderr, r.stderr
