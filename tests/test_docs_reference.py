"""The README and docs/*.md name only what exists, and name all of it: every setting with
its default, every command and option, every API route with its request fields, every
file a sentence cites. (``tests/test_docs.py`` runs the guides' commands; this checks the
reference parts, by reading them against the code.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer

import mailer.cli
from mailer.config import Settings, load_settings
from tests.conftest import TEST_SECRET

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]
TICKS = re.compile(r"`([^`]+)`")


def _text(doc: Path) -> str:
    return doc.read_text(encoding="utf-8")


def _prose(doc: Path) -> str:
    """The document without its fenced blocks, whose backticks would pair up wrongly."""
    return re.sub(r"^```.*?^```", "", _text(doc), flags=re.S | re.M)


def _settings_rows() -> list[list[str]]:
    """The README's settings table: the cells of each row."""
    section = _text(README).split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", row.strip().strip("|"))] for row in rows]


# Settings that are not rows of the table, and where they are documented instead.
NOT_IN_THE_TABLE = {
    "workspace": "--workspace DIR (or MAILER_WORKSPACE), under Commands",
    "demo": "set by `mailer demo` itself, not by users",
}


def _name(field: str) -> str:
    return "MAILER_FROM" if field == "from_" else f"MAILER_{field.upper()}"


def test_every_setting_has_a_row_in_the_readme_settings_table() -> None:
    first = " ".join(cells[0] for cells in _settings_rows())
    missing = [_name(f) for f in Settings.model_fields
               if f not in NOT_IN_THE_TABLE and f not in ("brand", "brands")
               and not re.search(re.escape(_name(f)) + r"(?![A-Z0-9_])", first)]
    assert not missing, f"add a row to the README's settings table for {missing}"
    assert "`[brand]` in `mailer.toml`" in first and "`[brands.<name>]`" in first


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


def test_the_settings_table_gives_each_setting_its_real_default() -> None:
    """A default in backticks is the code's (a derived one, `<workspace>/…`, is not
    compared); a row without one says none, empty or off, and the code's is empty."""
    fields = {_name(f): f for f in Settings.model_fields}
    checked = 0
    for cells in _settings_rows():
        names = re.findall(r"MAILER_[A-Z0-9_]+(?![A-Z0-9_*])", cells[0])
        if not names or not cells[1]:
            continue  # a table row ([brand]), or a second row about the same setting
        values = TICKS.findall(cells[1])
        if any(re.search(r"<[a-z]+>", v) for v in values):
            continue  # derived from the workspace or the selector
        for i, name in enumerate(names):
            if name not in fields:
                continue  # test_every_mailer_variable_the_docs_name_is_a_setting says so
            default = Settings.model_fields[fields[name]].get_default(
                call_default_factory=False)
            if not values:
                assert default in ("", False), f"{name}: the README says {cells[1]!r}"
            elif i < len(values):
                assert values[i] == _shown(default), (
                    f"{name}: the README says the default is {values[i]!r}, the code "
                    f"{_shown(default)!r}")
            checked += 1
    assert checked > 40


def test_every_mailer_variable_the_docs_name_is_a_setting() -> None:
    known = {_name(f) for f in Settings.model_fields} | {"MAILER_TEST_SCREENSHOTS"}
    unknown = {f"{doc.name}: {name}" for doc in DOCS
               for name in re.findall(r"MAILER_[A-Z0-9_]*[A-Z0-9](?![\w*])", _text(doc))
               if name not in known and name != "MAILER_X"}  # MAILER_X: a placeholder
    assert not unknown


# --- files and names a sentence cites ------------------------------------------------
CITED = re.compile(r"^(?:(?:mailer|tests|benchmarks|docs)/|(?:store|services|delivery|web|"
                   r"domain|authoring|render|schedule|cli)/)[\w./-]*\.\w+(?:::\w+)?$")


def test_every_file_the_docs_cite_exists() -> None:
    wrong = []
    for doc in DOCS:
        for span in TICKS.findall(_prose(doc)):
            for word in span.split():
                word = word.strip("(),;:")
                if not CITED.match(word):
                    continue
                path, _, name = word.partition("::")
                found = [p for p in (ROOT / path, ROOT / "mailer" / path) if p.is_file()]
                if not found:
                    wrong.append(f"{doc.name}: {word}: no such file")
                elif name and not re.search(rf"^\s*(?:async def|def|class) {name}\b|^{name}\b",
                                            found[0].read_text(encoding="utf-8"), re.M):
                    wrong.append(f"{doc.name}: {word}: {path} defines no {name}")
    assert not wrong


def test_every_table_row_is_in_a_table_with_as_many_columns() -> None:
    """A row pasted outside its table (after a list, say) shows as text, and a cell with
    an unescaped ``|`` shifts the rest: both are caught here."""
    wrong = []
    for doc in DOCS:
        columns = None
        lines = _prose(doc).splitlines()
        for i, line in enumerate(lines):
            if not line.startswith("|"):
                columns = None
                continue
            cells = len(re.split(r"(?<!\\)\|", line.strip().strip("|")))
            if columns is None:  # a header: the separator row must follow
                if i + 1 == len(lines) or not re.match(r"\|\s*:?-", lines[i + 1]):
                    wrong.append(f"{doc.name}: a row outside a table: {line[:60]}")
                columns = cells
            elif cells != columns:
                wrong.append(f"{doc.name}: {cells} cells where the header has {columns}: "
                             f"{line[:60]}")
    assert not wrong


def test_every_migration_the_docs_cite_exists() -> None:
    """``migration 0017``, ``migrations 0013–0014``: revisions in store/migrations/."""
    revisions = {f.name[:4] for f in (ROOT / "mailer/store/migrations/versions").glob("*.py")}
    cited = {n for doc in DOCS
             for m in re.finditer(r"\bmigrations? (\d{4})(?:[–-](\d{4}))?", _text(doc))
             for n in m.groups() if n}
    assert cited and not cited - revisions, f"no such migration: {cited - revisions}"


# --- commands and options ---------------------------------------------------------------
def _cli() -> Any:
    mailer.cli._register()
    return typer.main.get_command(mailer.cli.app)


def _options(command: Any) -> set[str]:
    return {o for p in command.params for o in [*getattr(p, "opts", []),
                                                *getattr(p, "secondary_opts", [])]}


def _invocations() -> list[tuple[str, str]]:
    """Every ``mailer …`` the docs write: backtick spans that start with it, and the
    commands of their ``sh`` blocks (comments left out)."""
    found = []
    for doc in DOCS:
        found += [(doc.name, span) for span in TICKS.findall(_prose(doc))
                  if span.startswith("mailer ")]
        for block in re.findall(r"^```sh\n(.*?)^```", _text(doc), re.S | re.M):
            for line in block.splitlines():
                line = re.split(r"\s+#", line)[0]
                found += [(doc.name, part.strip()) for part in re.split(r"[;|]|&&", line)
                          if part.strip().startswith("mailer ")]
    return found


def _resolve(root: Any, span: str) -> list[tuple[list[str], Any, str]]:
    """The command paths a span names (``pause\\|resume`` is two), each with the rest."""
    words = span.split()[1:]
    if words[:1] in (["-w"], ["--workspace"]):
        words = words[2:]
    paths: list[tuple[list[str], Any, int]] = [([], root, 0)]
    out = []
    while paths:
        path, command, i = paths.pop()
        subs = getattr(command, "commands", {})
        names = words[i].split("\\|") if i < len(words) else []
        if names and all(n in subs for n in names):
            paths += [([*path, n], subs[n], i + 1) for n in names]
        else:
            out.append((path, command, " ".join(words[i:])))
    return out


def test_every_command_and_option_the_docs_name_exists() -> None:
    root = _cli()
    wrong = []
    for doc, span in _invocations():
        for path, command, rest in _resolve(root, span):
            if not path:
                wrong.append(f"{doc}: {span!r}: no such command")
                continue
            known = _options(command) | _options(root) | {"--help"}
            wrong += [f"{doc}: mailer {' '.join(path)} has no option {option}"
                      for option in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", rest)
                      if option not in known]
    assert not wrong


def test_every_command_is_documented() -> None:
    """Each command is named in a line that names its group (the README's table writes
    ``mailer segments`` / ``segments add …`` / ``segments remove NAME``)."""
    root = _cli()
    named = {tuple(path) for _, span in _invocations() for path, _, _ in _resolve(root, span)}
    for doc in DOCS:
        for line in _prose(doc).splitlines():
            spans = TICKS.findall(line)
            words = set(re.findall(r"[a-z][a-z0-9-]*", " ".join(spans)))
            for span in spans:
                if span.startswith("mailer "):
                    for path, _, _ in _resolve(root, span):
                        named.update((*path[:k], w) for k in range(1, len(path) + 1)
                                     for w in words)

    def leaves(command: Any, path: tuple[str, ...]) -> list[tuple[str, ...]]:
        subs = getattr(command, "commands", {})
        if not subs:
            return [path]
        return [leaf for n, c in subs.items() for leaf in leaves(c, (*path, n))]

    missing = [" ".join(p) for p in leaves(root, ()) if p not in named]
    assert not missing, f"commands the README and docs/ never name: {missing}"
    table = _text(README).split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    top = {name for span in TICKS.findall(table) if span.startswith("mailer ")
           for name in span.split()[1].split("\\|")}
    lacking = set(root.commands) - top
    assert not lacking, f"the README's command table lacks {lacking}"


# --- the JSON API -------------------------------------------------------------------------
ROUTE = re.compile(r"\b((?:GET|POST|PUT|PATCH|DELETE)(?:/(?:GET|POST|PUT|PATCH|DELETE))*)"
                   r"\s+(/api/[^\s`?]*)")


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from mailer.web.api import create_api
    from mailer.web.app import create_app

    ws = tmp_path_factory.mktemp("ws")
    app = create_app(load_settings(ws, secret_key=TEST_SECRET,
                                   database_url=f"sqlite:///{ws / 'mailer.db'}"))
    spec: dict[str, Any] = create_api(app.state.web).openapi()
    return spec


def _routes(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method.upper(), "/api" + re.sub(r"\{\w+\}", "{}", path)): op
            for path, ops in spec["paths"].items() for method, op in ops.items()}


def _matches(doc_path: str, code_path: str) -> bool:
    """``/api/mailings/{id}/pause`` is ``/api/mailings/{}/{}``; a trailing ``…`` any rest."""
    if doc_path.endswith("…"):
        return code_path.startswith(doc_path[:-1])
    a, b = doc_path.split("/"), code_path.split("/")
    return len(a) == len(b) and all(x == y or y == "{}" or x == "…"
                                    for x, y in zip(a, b, strict=True))


def _doc_routes() -> list[tuple[str, str, str, str]]:
    """(document, method, path, the text after the route) for every route the docs name;
    ``pause\\|resume`` in a path gives one route each."""
    out = []
    for doc in DOCS:
        for span, after in re.findall(r"`([^`]+)`([^|`]*(?:`\{[^`]*\}`)?)", _prose(doc)):
            for methods, path in ROUTE.findall(span):
                path = re.sub(r"\{\w+\}", "{}", path.rstrip(".,;:)"))
                alternatives = re.match(r"(.*/)([\w-]+(?:\\\|[\w-]+)+)$", path)
                paths = ([alternatives.group(1) + a for a in alternatives.group(2).split("\\|")]
                         if alternatives else [path])
                out += [(doc.name, m, p, after) for m in methods.split("/") for p in paths]
    return out


def test_every_api_route_the_docs_name_exists(openapi: dict[str, Any]) -> None:
    routes = _routes(openapi)
    wrong = [f"{doc}: {m} {p}" for doc, m, p, _ in _doc_routes()
             if not any(m == cm and _matches(p, cp) for cm, cp in routes)]
    assert not wrong


def test_the_admin_guide_lists_every_api_route(openapi: dict[str, Any]) -> None:
    named = [(m, p) for doc, m, p, _ in _doc_routes() if doc == "admin.md"]
    missing = [f"{m} {p}" for m, p in _routes(openapi)
               if p != "/api/openapi.json" and not any(m == dm and _matches(dp, p)
                                                      for dm, dp in named)]
    assert not missing, f"docs/admin.md's JSON API table lacks {missing}"


def test_the_request_fields_the_admin_guide_names_are_the_apis(
        openapi: dict[str, Any]) -> None:
    """``{"email", "list", "name"?}`` after a route: exactly its body's fields, ``?`` on
    the optional ones."""
    routes = _routes(openapi)
    compared = 0
    for doc, method, path, after in _doc_routes():
        body = re.search(r"`(\{\"[^`]*\})`", after)
        if doc != "admin.md" or method not in ("POST", "PUT", "PATCH") or not body:
            continue
        written = dict(re.findall(r"\"(\w+)\"(\??)", body.group(1)))
        op = next((op for (m, p), op in routes.items() if m == method and _matches(path, p)),
                  None)
        assert op is not None, f"{method} {path}: no such route"
        ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        schema = openapi["components"]["schemas"][ref.rsplit("/", 1)[1]]
        real = {k: "" if k in schema.get("required", []) else "?" for k in schema["properties"]}
        assert written == real, f"{method} {path}: the guide writes {body.group(1)}"
        compared += 1
    assert compared >= 8


# --- the subscriber pages ---------------------------------------------------------------
def _page_routes() -> set[str]:
    """The paths of the public pages: every router of ``mailer/web/routes/``."""
    import importlib
    import pkgutil

    import mailer.web.routes as package

    paths = set()
    for info in pkgutil.iter_modules(package.__path__):
        router = getattr(importlib.import_module(f"{package.__name__}.{info.name}"),
                         "router", None)
        paths |= {route.path for route in getattr(router, "routes", [])}
    return {re.sub(r"\{\w+\}", "{}", p) for p in paths}


def test_the_web_guide_names_every_page_and_only_pages_that_exist() -> None:
    """docs/web.md's paths (``/p/{token}``, ``/media/<issue folder>/<file>``) are the
    routes of ``mailer/web/routes/``, all of them."""
    spans = TICKS.findall(_prose(ROOT / "docs" / "web.md"))
    written = {re.sub(r"\{\w+\}|<[^>]+>", "{}", s).split()[0].split("?")[0] for s in spans
               if s.startswith("/") and not s.startswith("/usr/")}
    routes = _page_routes()
    unknown = {w for w in written if not any(_matches(w, r) for r in routes)}
    assert not unknown, f"docs/web.md names pages that do not exist: {unknown}"
    unnamed = {r for r in routes if not any(_matches(w, r) for w in written)}
    assert not unnamed, f"docs/web.md's table lacks {unnamed}"
