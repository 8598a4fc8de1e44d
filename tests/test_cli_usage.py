"""Usage mistakes on the command line get click's short message and exit 2, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import mailer.cli


@pytest.mark.parametrize("args", [
    ["nosuchcmd"],
    ["send"],
    ["--bogus"],
    ["worker", "--drain", "--max-wait", "abc"],
    ["catcher", "--smtp-port", "99999"],
    ["subscribers", "export", "--list", "x", "--bogus"],
])
def test_usage_errors_are_short(args: list[str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = subprocess.run([sys.executable, "-m", "mailer", "-w", str(tmp_path), *args],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "Error:" in r.stderr


def test_the_command_map_names_every_command_and_the_module_that_registers_it() -> None:
    """``mailer.cli.COMMANDS`` (which area a command's start imports) is what the areas
    register: every top-level command and group, each from the one module it names."""
    from mailer.cli import COMMANDS, _register, app

    _register()
    found: dict[str, set[str]] = {}
    for c in app.registered_commands:
        assert c.callback is not None
        name = c.name or c.callback.__name__.replace("_", "-")
        found.setdefault(name, set()).add(c.callback.__module__)
    for g in app.registered_groups:
        t = g.typer_instance
        assert g.name and t is not None
        mods = {c.callback.__module__ for c in t.registered_commands if c.callback}
        if t.registered_callback is not None and t.registered_callback.callback:
            mods.add(t.registered_callback.callback.__module__)
        assert not t.registered_groups, f"{g.name}: nested groups need the map to say so"
        found.setdefault(g.name, set()).update(mods)
    assert {k: {f"mailer.cli.{v}"} for k, v in COMMANDS.items()} == found
    # Every module under mailer/cli/ that registers a command is an area of the map.
    package = Path(mailer.cli.__file__).parent
    registering = {m.stem for m in package.glob("*.py")
                   if "@app.command" in (text := m.read_text(encoding="utf-8"))
                   or "app.add_typer" in text}
    assert registering <= set(COMMANDS.values()) | {"__init__"}


@pytest.mark.parametrize(("argv", "name"), [
    (["worker", "--drain"], "worker"),
    (["-w", "/tmp/x", "subscribers", "import"], "subscribers"),
    (["--workspace", "ws", "serve"], "serve"),
    (["--workspace=ws", "db", "upgrade"], "db"),
    (["--help"], None),
    (["-w", "ws", "--help", "worker"], None),
    ([], None),
])
def test_command_name_skips_the_workspace_option(argv: list[str], name: str | None) -> None:
    from mailer.cli import command_name

    assert command_name(argv) == name


def test_a_command_loads_only_its_own_area(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``mailer worker`` starts without the web server, the importer or the issue editor;
    ``mailer --help`` still lists every command."""
    code = ("import sys; from mailer.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('mailer.cli.')))")
    one = subprocess.run([sys.executable, "-c", code, "-w", str(tmp_path), "worker", "--help"],
                         capture_output=True, text=True, timeout=60)
    assert one.returncode == 0, one.stderr
    assert "--drain" in one.stdout
    assert "'mailer.cli.web'" not in one.stdout and "'mailer.cli.issue'" not in one.stdout
    assert "'mailer.cli.deliver'" in one.stdout
    every = subprocess.run([sys.executable, "-m", "mailer", "--help"], capture_output=True,
                           text=True, timeout=60)
    assert every.returncode == 0
    for name in ("worker", "serve", "subscribers", "issue", "invite", "doctor", "users"):
        assert name in every.stdout
