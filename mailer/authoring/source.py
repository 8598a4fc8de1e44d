"""Read an authoring YAML file into plain data plus the file and line of every value."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.scalarstring import FoldedScalarString, LiteralScalarString

from mailer.domain.findings import DocPath
from mailer.errors import Problem

INCLUDE_KEY = "file"  # {file: intro.md} stands for the text of intro.md beside the YAML


@dataclass(frozen=True, slots=True)
class Pos:
    """Where a value came from: ``line`` of its key (or list item), and the line where
    line 1 of its text is (differs for ``|`` blocks and included Markdown files)."""

    file: str
    line: int
    text_line: int


@dataclass
class Source:
    """Plain data (dicts, lists, strings, None) and the position of every path in it."""

    file: str
    data: object  # mostly JSON-like; a YAML tag (!x) can leave a ruamel object
    positions: dict[DocPath, Pos] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    includes: list[Path] = field(default_factory=list)

    def pos(self, path: DocPath) -> Pos:
        """The position of ``path`` or of its nearest ancestor that exists."""
        for n in range(len(path), -1, -1):
            found = self.positions.get(path[:n])
            if found is not None:
                return found
        return Pos(self.file, 1, 1)


def _as_string(constructor: object, node: ScalarNode) -> str:
    return str(node.value)


def _yaml() -> YAML:
    y = YAML(typ="rt")
    # Every scalar stays the text the editor wrote; pydantic converts it to the field's
    # type with a clear message. This avoids YAML surprises: 10.30 becoming the float
    # 10.3, 2023-13-01 crashing the parser, "no" becoming False.
    for tag in ("int", "float", "bool", "timestamp"):
        y.constructor.add_constructor(f"tag:yaml.org,2002:{tag}", _as_string)
    return y


def read_source(path: Path, display: str) -> Source:
    """Parse ``path``; syntax errors become Problems with the line, never exceptions."""
    src = Source(file=display, data=None)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        src.problems.append(Problem(f"not UTF-8 text ({exc.reason} at byte {exc.start}); "
                                    "save the file as UTF-8", file=display))
        return src
    except OSError as exc:
        src.problems.append(Problem(f"cannot read the file: {exc.strerror}", file=display))
        return src
    try:
        raw = _yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = (exc.problem or exc.context or "not valid YAML").strip()
        if "duplicate key" in what:
            what += "; each field may appear once in a mapping"
        src.problems.append(Problem(f"YAML syntax: {what}", file=display,
                                    line=mark.line + 1 if mark else None))
        return src
    except Exception as exc:  # ruamel raises a few unmarked errors (e.g. bad tags)
        src.problems.append(Problem(f"YAML syntax: {exc}", file=display))
        return src
    src.data = _plain(raw, (), src, path.parent, display)
    return src


def _text_start(value: object, value_line: int) -> int:
    # A | or > block starts its text on the line after the indicator.
    if isinstance(value, LiteralScalarString | FoldedScalarString):
        return value_line + 1
    return value_line


def _plain(node: object, path: DocPath, src: Source, folder: Path, file: str) -> object:
    if isinstance(node, CommentedMap):
        if set(node) == {INCLUDE_KEY} and str(node[INCLUDE_KEY]).endswith(".md"):
            return _include(str(node[INCLUDE_KEY]), path, src, folder, file)
        out: dict[str, object] = {}
        for key, value in node.items():
            key_line, _ = node.lc.key(key)
            value_line, _ = node.lc.value(key)
            child = (*path, str(key))
            src.positions[child] = Pos(file, key_line + 1, _text_start(value, value_line + 1))
            out[str(key)] = _plain(value, child, src, folder, file)
        return out
    if isinstance(node, CommentedSeq):
        items: list[object] = []
        for i, value in enumerate(node):
            line, _ = node.lc.item(i)
            child = (*path, i)
            src.positions[child] = Pos(file, line + 1, _text_start(value, line + 1))
            items.append(_plain(value, child, src, folder, file))
        return items
    if isinstance(node, str):
        return str(node)
    return node


def _include(name: str, path: DocPath, src: Source, folder: Path, file: str) -> str:
    target = (folder / name).resolve()
    here = src.positions.get(path, Pos(file, 1, 1))
    if folder.resolve() not in target.parents:
        src.problems.append(Problem(f"{name!r} is outside the issue folder; keep the "
                                    "Markdown file beside issue.yaml", file, here.line, None))
        return ""
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        src.problems.append(Problem(f"the Markdown file {name!r} does not exist in {folder}; "
                                    "create it or fix the name", file, here.line, None))
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        src.problems.append(Problem(f"cannot read {name!r} as UTF-8 text: {exc}",
                                    file, here.line, None))
        return ""
    shown = str(Path(file).parent / name)
    src.positions[path] = Pos(shown, here.line, 1)
    src.includes.append(target)
    return text
