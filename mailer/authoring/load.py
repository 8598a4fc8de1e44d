"""Load an ``issue.yaml`` of any kind and report every problem at once with file:line."""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal, get_args, get_origin

from pydantic import BaseModel, ValidationError

from mailer.authoring.registry import DEFAULT_KIND, CheckContext, kinds
from mailer.authoring.source import Source, read_source
from mailer.domain.findings import DocPath, Finding, Msg, msg
from mailer.errors import MailerError, NotFound, Problem
from mailer.render.i18n import N_

DOCUMENT_NAME = "issue.yaml"

# Hints added to "required" messages for fields editors often forget.
FIELD_HINTS = {
    "title": N_("add title: with the heading readers see"),
    "alt": N_("describe the picture for readers who cannot see it, e.g. alt: Fem personer "
              "samtalar runt ett bord"),
    "link": N_("add link: https://… (or link: {url: https://…, text: Läs mer})"),
    "date": N_("add date: YYYY-MM-DD, e.g. 2023-06-16"),
    "type": N_("add type: (one of %(types)s)"),
    "subject": N_("add subject: with the e-mail's subject line"),
    "number": N_("add number: (the issue's number within the year)"),
    "year": N_("add year: e.g. 2023"),
    "name": N_("add name: with the newsletter's (or the person's) name"),
    "sections": N_("add sections: with at least one section holding items:"),
    "items": N_("add items: with at least one item"),
}


@dataclass
class Loaded:
    """The outcome of loading: the document (when valid) and every problem found."""

    path: Path
    kind: str
    document: BaseModel | None
    problems: list[Problem] = field(default_factory=list)
    includes: list[Path] = field(default_factory=list)
    #: The file's top-level fields as read (also when the document is not valid), for
    #: the checks against the workspace (``services.issues.check_issue``).
    fields: dict[str, object] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return self.document is not None and not self.errors


def document_path(path: Path | str) -> Path:
    """``issues/x`` or ``issues/x/issue.yaml`` → the YAML file (NotFound when missing)."""
    p = Path(path)
    if p.is_dir():
        p = p / DOCUMENT_NAME
    if not p.is_file():
        raise NotFound(f"{p} does not exist; give an issue folder containing {DOCUMENT_NAME} "
                       "(create one with: mailer issue new)")
    return p


def load_document(path: Path | str, *, today: date | None = None) -> Loaded:
    """Load and check ``path``; never raises for bad content (see ``Loaded.problems``)."""
    file = document_path(path)
    display = str(file)
    src = read_source(file, display)
    loaded = Loaded(file, DEFAULT_KIND, None, list(src.problems), list(src.includes))
    if src.data is None and src.problems:
        return loaded
    if not isinstance(src.data, dict):
        loaded.problems.append(Problem(msg("expected a mapping of fields (name: value) at the "
                                           "top of the file"), display, 1))
        return loaded
    loaded.fields = {str(k): v for k, v in src.data.items()}
    registry = kinds()
    kind_name = src.data.get("kind") or DEFAULT_KIND
    loaded.kind = str(kind_name)
    kind = registry.get(loaded.kind)
    if kind is None:
        loaded.problems.append(Problem(
            msg("unknown kind %(kind)r; known kinds: %(known)s", kind=kind_name,
                known=", ".join(sorted(registry))),
            display, src.pos(("kind",)).line, "kind"))
        return loaded
    ctx = CheckContext(folder=file.parent, today=today)
    document: BaseModel | None = None
    try:
        document = kind.model.model_validate(src.data)
    except ValidationError as exc:
        loaded.problems.extend(_translate(exc, kind.model, src))
        if kind.partial_checker is not None:
            loaded.problems.extend(finding_problem(f, src)
                                   for f in kind.partial_checker(src.data, ctx))
    else:
        if kind.checker is not None:
            loaded.problems.extend(finding_problem(f, src) for f in kind.checker(document, ctx))
    loaded.problems.sort(key=lambda p: (p.severity != "error", p.file or "", p.line or 0))
    if document is not None and not loaded.errors:
        loaded.document = document
    return loaded


def load_valid(path: Path | str, *, kind: str | None = None,
               today: date | None = None) -> BaseModel:
    """The valid document at ``path``, or MailerError listing every problem."""
    loaded = load_document(path, today=today)
    if not loaded.ok:
        raise MailerError(f"{loaded.path} has {len(loaded.errors)} problem(s); fix them and "
                          "run: mailer issue check", loaded.errors)
    if kind is not None and loaded.kind != kind:
        raise MailerError(f"{loaded.path} is a {loaded.kind}, not a {kind}")
    assert loaded.document is not None  # loaded.ok
    return loaded.document


# --- turning findings and pydantic errors into Problems --------------------------------------
def field_name(path: DocPath) -> str:
    """``("sections", 2, "items", 0, "title")`` → ``sections[3].items[1].title`` (from 1)."""
    out = ""
    for part in path:
        out += f"[{part + 1}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def titles(data: object, path: DocPath) -> tuple[str | None, str | None]:
    """The titles of the section and item ``path`` lies in (``None`` outside of one); an
    untitled one is named by its number ("no. 3")."""
    if len(path) < 2 or path[0] != "sections" or not isinstance(path[1], int):
        return None, None

    def title(container: object, index: int) -> str:
        node = container[index] if isinstance(container, list) and index < len(container) \
            else None
        text = node.get("title") if isinstance(node, dict) else None
        return " ".join(str(text).split()) if text else msg("no. %(n)s", n=index + 1)

    sections = data.get("sections") if isinstance(data, dict) else None
    section = title(sections, path[1])
    if len(path) < 4 or path[2] != "items" or not isinstance(path[3], int):
        return section, None
    node = sections[path[1]] if isinstance(sections, list) and path[1] < len(sections) else None
    return section, title(node.get("items") if isinstance(node, dict) else None, path[3])


def problem_at(message: str, src: Source, path: DocPath, line: int,
               severity: str = "error", file: str | None = None) -> Problem:
    """A Problem at ``path``: file and line, field name, and the section and item titles."""
    section, item = titles(src.data, path)
    return Problem(message, file or src.pos(path).file, line, field_name(path) or None,
                   severity, section, item)


def finding_problem(f: Finding, src: Source) -> Problem:
    pos = src.pos(f.path)
    line = pos.text_line + f.text_line - 1 if f.text_line is not None else pos.line
    return problem_at(f.message, src, f.path, line, f.severity, pos.file)


def _strip(tp: object) -> object:
    """Unwrap Annotated[...] and Optional[...] down to the type that matters."""
    while True:
        origin = get_origin(tp)
        if origin is typing.Annotated:
            tp = get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _tag_of(model: object) -> str | None:
    f = getattr(model, "model_fields", {}).get("type")
    if f is not None and get_origin(f.annotation) is Literal:
        return str(get_args(f.annotation)[0])
    return None


def _walk(root: type[BaseModel], loc: tuple[int | str, ...]) -> tuple[DocPath, object]:
    """Follow a pydantic error location: the data path (without union tags) and the type
    found there (a model class where the location ends on a mapping)."""
    tp: object = root
    path: list[str | int] = []
    for part in loc:
        tp = _strip(tp)
        if isinstance(part, int):
            path.append(part)
            args = get_args(tp)
            tp = args[0] if args else None
            continue
        if get_origin(tp) in (typing.Union, types.UnionType):
            members = {_tag_of(_strip(a)): _strip(a) for a in get_args(tp)}
            if part in members:  # a discriminator step: not in the data
                tp = members[part]
                continue
        path.append(part)
        fields = getattr(tp, "model_fields", None)
        tp = fields[part].annotation if fields and part in fields else None
    return tuple(path), _strip(tp)


def _union_tags(tp: object) -> list[str]:
    return sorted(t for a in get_args(tp) if (t := _tag_of(_strip(a))))


def _translate(exc: ValidationError, model: type[BaseModel], src: Source) -> list[Problem]:
    problems: list[Problem] = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        kind = err["type"]
        text: str
        ctx = err.get("ctx") or {}
        path, _ = _walk(model, loc)
        if kind == "extra_forbidden":
            _, parent = _walk(model, loc[:-1])
            known = sorted(getattr(parent, "model_fields", {}))
            close = difflib.get_close_matches(str(loc[-1]), known, n=1)
            text = (msg("unknown field; did you mean %(name)r? known fields here: %(known)s",
                        name=close[0], known=", ".join(known)) if close else
                    msg("unknown field; known fields here: %(known)s", known=", ".join(known)))
        elif kind == "missing":
            name = str(path[-1]) if path else "?"
            _, parent = _walk(model, loc[:-1])
            hint = (msg(FIELD_HINTS[name], types=", ".join(_types_at(parent, name)))
                    if name == "type" else msg(FIELD_HINTS[name]) if name in FIELD_HINTS
                    else msg("add %(name)s:", name=name))
            text = msg("is required; %(hint)s", hint=hint)
        elif kind == "union_tag_invalid":
            tags = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",")]
            close = difflib.get_close_matches(str(ctx.get("tag")), tags, n=1)
            text = (msg("unknown item type %(tag)r; did you mean %(name)r? known types: "
                        "%(known)s", tag=ctx.get("tag"), name=close[0],
                        known=", ".join(sorted(tags))) if close else
                    msg("unknown item type %(tag)r; known types: %(known)s",
                        tag=ctx.get("tag"), known=", ".join(sorted(tags))))
            path = (*path, "type")
        elif kind == "union_tag_not_found":
            _, union = _walk(model, loc)
            text = msg("type: is missing; add type: (one of %(types)s)",
                       types=", ".join(_union_tags(union)))
        elif kind in ("date_parsing", "date_from_datetime_parsing", "date_type"):
            text = msg("%(value)r is not a date; write YYYY-MM-DD, e.g. 2023-06-16",
                       value=err.get("input"))
        elif kind in ("time_parsing", "time_type"):
            text = msg("%(value)r is not a time of day; write HH:MM, e.g. 10:00",
                       value=err.get("input"))
        elif kind in ("int_parsing", "int_type", "int_from_float"):
            text = msg("%(value)r is not a whole number", value=err.get("input"))
        elif kind in ("bool_parsing", "bool_type"):
            text = msg("%(value)r is not true or false", value=err.get("input"))
        elif kind == "string_too_short":
            text = msg("must not be empty")
        elif kind == "too_short":
            least = int(ctx.get("min_length", 1))
            text = (msg("needs at least one entry") if least == 1 else
                    msg("needs at least %(n)s entries", n=least))
        elif kind in ("model_type", "model_attributes_type", "dict_type"):
            text = msg("expected a mapping of fields (name: value) here")
        elif kind == "list_type":
            text = msg("expected a list here (lines starting with '- ')")
        elif kind == "string_type":
            text = msg("expected text here")
        elif kind == "literal_error":
            text = msg("%(value)r is not allowed; use one of %(expected)s",
                       value=err.get("input"), expected=ctx.get("expected"))
        elif kind == "string_pattern_mismatch":
            text = msg("%(value)r is not a valid short name; use a-z, 0-9 and '-', e.g. "
                       "medborgardialog", value=err.get("input"))
        else:
            error = ctx.get("error")
            text = (error.args[0] if isinstance(error, ValueError) and error.args
                    and isinstance(error.args[0], Msg)
                    else str(err["msg"]).removeprefix("Value error, "))
        if path and path[-1] == "url" and path not in src.positions:
            path = path[:-1]  # link: https://… written as a plain string
        pos = src.pos(path)
        problems.append(problem_at(text, src, path, pos.line, file=pos.file))
    return problems


def _types_at(parent: object, name: str) -> list[str]:
    fields = getattr(parent, "model_fields", {})
    return _union_tags(_strip(fields[name].annotation)) if name in fields else []
