"""Read an authoring YAML file into plain data plus the file and line of every value."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, StreamMark
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.scalarstring import FoldedScalarString, LiteralScalarString

from mailer.domain.findings import DocPath, Msg, msg
from mailer.errors import Problem

INCLUDE_KEY = "file"  # {file: intro.md} stands for the text of intro.md beside the YAML
#: Values in one file at most, counting a YAML reference (*name) each time it is used: the
#: flagship has about 300; a few nested references to lists of references ("billion
#: laughs") would otherwise expand to millions and take the check (or the admin) down.
MAX_VALUES = 100_000


class _TooManyValues(Exception):
    pass


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
        src.problems.append(Problem(msg("not UTF-8 text (%(reason)s at byte %(start)s); "
                                        "save the file as UTF-8", reason=exc.reason,
                                        start=exc.start), file=display))
        return src
    except OSError as exc:
        src.problems.append(Problem(msg("cannot read the file: %(problem)s",
                                        problem=exc.strerror), file=display))
        return src
    try:
        raw = _yaml().load(text)
    except MarkedYAMLError as exc:
        src.problems.append(syntax_problem(exc, text, display))
        return src
    except Exception as exc:  # ruamel raises a few unmarked errors (e.g. bad tags)
        src.problems.append(Problem(msg("the file is not valid YAML: %(problem)s",
                                        problem=str(exc)), file=display))
        return src
    try:
        src.data = _plain(raw, (), src, path.parent, display)
    except _TooManyValues:
        src.positions.clear()
        src.problems.append(Problem(msg(
            "the file holds over %(n)s values (a reference *name counts each time it is "
            "used); write the issue out without & and * references", n=MAX_VALUES),
            file=display))
    return src


def explain_syntax(exc: MarkedYAMLError) -> tuple[Msg, StreamMark | None]:
    """A YAML syntax error in words an editor understands, and the mark to show."""
    problem = (exc.problem or "").strip()
    context = (exc.context or "").strip()
    mark = exc.problem_mark or exc.context_mark
    if "quoted scalar" in context:
        return msg("a quotation mark is opened but never closed; end the text with the "
                   "same mark (\" or ') it starts with"), exc.context_mark or mark
    if problem.startswith("mapping values are not allowed"):
        return msg("a colon followed by a space inside a value, or a line that is indented "
                   "too far; put a text that contains ': ' in quotes, e.g. "
                   "title: \"Demokrati: en resa\""), mark
    if "'\\t'" in problem or "\t" in problem:
        return msg("a tab character; indent with spaces only (two per level)"), mark
    if "duplicate key" in problem:
        key = problem.split('"')[1] if problem.count('"') >= 2 else "?"
        return msg("the field %(key)r appears twice in the same place; keep one of them",
                   key=key), mark
    if "undefined alias" in problem:
        return msg("a value starts with *, which YAML reads as a reference; put the value "
                   "in quotes"), mark
    if "cannot start any token" in problem:
        char = problem.split("'")[1] if problem.count("'") >= 2 else "?"
        return msg("a value starts with %(char)r, which YAML does not allow there; put the "
                   "value in quotes, e.g. \"%(char)s…\"", char=char), mark
    if "flow sequence" in context or "flow mapping" in context:
        return msg("a list in [ ] or a mapping in { } is not closed, or lacks a comma "
                   "between its entries"), exc.context_mark or mark
    if "could not find expected ':'" in problem:
        return msg("a line has no 'name: value' form; add the colon, or indent the text "
                   "of a | block by two more spaces"), mark
    if "expected <block end>" in problem or "block collection" in context:
        return msg("the indentation does not match the lines above; fields of the same "
                   "item start in the same column, list entries start with '- ', and a "
                   "text with a ' inside goes in double quotes"), mark
    return msg("the file is not valid YAML: %(problem)s", problem=problem or context), mark


def syntax_problem(exc: MarkedYAMLError, text: str, display: str) -> Problem:
    """The explanation, and the line itself with a caret under the place."""
    explanation, mark = explain_syntax(exc)
    if mark is None:
        return Problem(explanation, file=display)
    lines = text.splitlines()
    line_no = min(mark.line, max(len(lines) - 1, 0))
    shown = lines[line_no] if lines else ""
    column = mark.column if mark.line == line_no else len(shown)
    gutter = f"{line_no + 1} | "
    excerpt = f"{gutter}{shown}\n{' ' * (len(gutter) - 2)}| {' ' * column}^"
    return Problem(msg("YAML syntax: %(explanation)s\n%(excerpt)s", explanation=explanation,
                       excerpt=excerpt), file=display, line=line_no + 1)


def _text_start(value: object, value_line: int) -> int:
    # A | or > block starts its text on the line after the indicator.
    if isinstance(value, LiteralScalarString | FoldedScalarString):
        return value_line + 1
    return value_line


def _plain(node: object, path: DocPath, src: Source, folder: Path, file: str) -> object:
    if len(src.positions) > MAX_VALUES:
        raise _TooManyValues
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
        src.problems.append(Problem(msg("%(name)r is outside the issue folder; keep the "
                                        "Markdown file beside issue.yaml", name=name),
                                    file, here.line, None))
        return ""
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        src.problems.append(Problem(msg("the Markdown file %(name)r does not exist in "
                                        "%(folder)s; create it or fix the name", name=name,
                                        folder=folder), file, here.line, None))
        return ""
    except UnicodeDecodeError as exc:
        src.problems.append(Problem(msg("%(name)r is not UTF-8 text (%(reason)s at byte "
                                        "%(start)s); save it as UTF-8", name=name,
                                        reason=exc.reason, start=exc.start),
                                    file, here.line, None))
        return ""
    except OSError as exc:
        src.problems.append(Problem(msg("cannot read %(name)r: %(problem)s", name=name,
                                        problem=exc.strerror), file, here.line, None))
        return ""
    shown = str(Path(file).parent / name)
    src.positions[path] = Pos(shown, here.line, 1)
    src.includes.append(target)
    return text
