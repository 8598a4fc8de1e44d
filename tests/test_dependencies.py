"""The lock file CI installs from covers every dependency and respects every floor."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
#: Releases with known vulnerabilities must stay out (issue 13, item 10).
SECURITY_FLOORS = {"python-multipart": "0.0.18", "starlette": "0.40", "jinja2": "3.1.6"}


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in ("test", "postgres"):
        reqs += [Requirement(r) for r in project["optional-dependencies"][extra]]
    return reqs


def _locked() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in (ROOT / "requirements.lock").read_text("utf-8").splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        if m:
            pins[canonicalize_name(m.group(1))] = Version(m.group(2))
    return pins


def test_every_dependency_is_pinned_within_its_declared_range() -> None:
    pins = _locked()
    for req in _declared():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is in pyproject.toml but not in requirements.lock"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {req.name}=={pins[name]}, outside {req.specifier}")


def test_floors_exclude_known_vulnerable_releases() -> None:
    declared = {canonicalize_name(r.name): r for r in _declared()}
    pins = _locked()
    for name, floor in SECURITY_FLOORS.items():
        req = declared[canonicalize_name(name)]
        below = Version(floor).release[:-1] + (Version(floor).release[-1] - 1,)
        assert not req.specifier.contains(".".join(map(str, below))), (
            f"pyproject.toml lets {name} below {floor}")
        assert pins[canonicalize_name(name)] >= Version(floor)


def test_ci_installs_from_the_lock() -> None:
    ci = (ROOT / ".ci" / "run").read_text("utf-8")
    readme = (ROOT / "README.md").read_text("utf-8")
    command = ".venv/bin/pip install -q -c requirements.lock -e '.[test]'"
    assert command in ci and command in readme
