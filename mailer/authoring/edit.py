"""Edit a newsletter's ``issue.yaml`` from a form: typed item fields, add, move, remove.

The file stays the source of truth and keeps its look: it is read and written with
ruamel's round-trip mode, a value is replaced only when it changed (so comments, folded
``>-`` blocks and key order survive), and a text included from a Markdown file
(``intro: {file: intro.md}``) is written back to that file. Validation is the loader's
job (``load_document``): this module stores what the editor typed, even when it is not
valid yet, exactly as a text editor would.
"""

from __future__ import annotations

import datetime as dt
import io
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict, get_args, get_origin

from pydantic import BaseModel
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import LiteralScalarString

from mailer.authoring.load import DOCUMENT_NAME
from mailer.authoring.source import INCLUDE_KEY
from mailer.domain.content import ITEM_TYPES, Contact, Image, Link, Person
from mailer.domain.findings import msg
from mailer.errors import MailerError

MARKDOWN_FIELDS = frozenset({"summary", "intro"})
SKIPPED_FIELDS = frozenset({"type"})


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of the form: its name in the YAML, how it is edited, whether required."""

    name: str
    kind: str  # text markdown link image date time bool int people person contact slugs
    required: bool = False


ISSUE_FIELDS = (
    FieldSpec("subject", "text", True),
    FieldSpec("preheader", "text"),
    FieldSpec("date", "date"),
    FieldSpec("lists", "slugs"),
    FieldSpec("greeting", "text"),
    FieldSpec("intro_title", "text"),
    FieldSpec("intro", "markdown"),
)
SECTION_FIELDS = (FieldSpec("title", "text"), FieldSpec("intro", "markdown"))

FormField = tuple[FieldSpec, dict[str, str]]


class ItemView(TypedDict):
    index: int
    type: str
    fields: list[FormField]


class SectionView(TypedDict):
    index: int
    fields: list[FormField]
    items: list[ItemView]


class IssueView(TypedDict):
    """What the form shows (``IssueFile.view``), every value as strings."""

    fields: list[FormField]
    sections: list[SectionView]


def _strip(tp: object) -> tuple[object, bool]:
    """The type that matters under Annotated/Optional, and whether it is a list of it."""
    is_list = False
    while True:
        origin = get_origin(tp)
        if origin is typing.Annotated:
            tp = get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            tp = args[0] if len(args) == 1 else str
        elif origin is list:
            is_list = True
            tp = get_args(tp)[0]
        else:
            return tp, is_list


def _kind(name: str, annotation: object) -> str:
    tp, is_list = _strip(annotation)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        if tp is Person:
            return "people" if is_list else "person"
        return {Link: "link", Image: "image", Contact: "contact"}.get(tp, "text")
    if tp is bool:
        return "bool"
    if tp is int:
        return "int"
    if tp is dt.date:
        return "date"
    if tp is dt.time:
        return "time"
    return "markdown" if name in MARKDOWN_FIELDS else "text"


def item_fields(item_type: str) -> list[FieldSpec]:
    """The form fields of an item type, in the model's order (``title`` first)."""
    model = ITEM_TYPES.get(item_type)
    if model is None:
        return [FieldSpec("title", "text", True), FieldSpec("summary", "markdown")]
    specs = [FieldSpec(name, _kind(name, f.annotation), f.is_required())
             for name, f in model.model_fields.items() if name not in SKIPPED_FIELDS]
    specs.sort(key=lambda s: s.name != "title")
    return specs


# --- values between YAML and the form ---------------------------------------------------------
def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):  # an unquoted time such as 10.30 reads as a number
        return f"{int(value):02d}:{round((value % 1) * 100):02d}"
    return str(value)


def _person_line(value: object) -> str:
    if not isinstance(value, Mapping):
        return _text(value)
    return "; ".join(_text(value.get(k)) for k in ("name", "role", "organisation")).rstrip("; ")


def _parse_person(line: str) -> CommentedMap | None:
    parts = [p.strip() for p in line.split(";")]
    if not any(parts):
        return None
    out = CommentedMap()
    for key, part in zip(("name", "role", "organisation"), parts, strict=False):
        if part or key == "name":
            out[key] = part
    return out


def _clean(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def _scalar(kind: str, raw: str) -> str | int | dt.date:
    text = _clean(raw)
    if kind == "markdown" and "\n" in text:
        block: str = LiteralScalarString(text + "\n")  # a str written as a | block
        return block
    if kind == "date" and text:
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            return text  # stored as typed; the loader names the problem
    if kind == "int" and text.isdigit():
        return int(text)
    return text


class _Constructor(RoundTripConstructor):
    """Round-trip constructor with YAML's own scalar types.

    The loader (``authoring.source``) registers "keep every scalar as text" constructors,
    and ruamel keeps those on the shared ``RoundTripConstructor`` class; here numbers,
    dates and booleans must stay what they are, so they are written back unquoted.
    """


def _timestamp(constructor: RoundTripConstructor, node: Any) -> object:
    """A date as a date; one that only looks like one (``date: 2026-13-01``, typed in a
    text editor) as its text, so the form opens with the check's error beside the field
    instead of ruamel's ValueError (a 500)."""
    try:
        return constructor.construct_yaml_timestamp(node)
    except ValueError:
        return constructor.construct_yaml_str(node)


for _tag, _method in (("int", RoundTripConstructor.construct_yaml_int),
                      ("float", RoundTripConstructor.construct_yaml_float),
                      ("bool", RoundTripConstructor.construct_yaml_bool),
                      ("timestamp", _timestamp)):
    _Constructor.add_constructor(f"tag:yaml.org,2002:{_tag}", _method)


class IssueFile:
    """An ``issue.yaml`` opened for editing."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / DOCUMENT_NAME
        self._yaml = YAML(typ="rt")
        self._yaml.Constructor = _Constructor
        self._yaml.width = 4096  # never re-wrap text the editor did not change
        self._yaml.preserve_quotes = True
        self._yaml.indent(mapping=2, sequence=4, offset=2)
        try:
            data = self._yaml.load(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, YAMLError) as exc:
            raise MailerError(msg("%(path)s cannot be opened in the form (%(why)s); fix it "
                                  "in a text editor (mailer issue check shows where)",
                                  path=str(self.path), why=str(exc)).with_admin(msg(
                "%(path)s cannot be opened in the form (%(why)s); fix it in a text editor "
                "(the issue's check on the Issues page shows where)", path=str(self.path),
                why=str(exc)))) from None
        if not isinstance(data, CommentedMap):
            raise MailerError(msg("%(path)s is not a mapping of fields; fix it in a text "
                                  "editor", path=str(self.path)))
        if not isinstance(data.get("sections"), CommentedSeq):
            data["sections"] = CommentedSeq()
        self.data = data
        self._files: dict[Path, str] = {}

    # --- reading ------------------------------------------------------------------------
    @property
    def sections(self) -> CommentedSeq:
        sections: CommentedSeq = self.data["sections"]  # made a CommentedSeq on opening
        return sections

    def _items(self, s: int) -> CommentedSeq:
        section = self.sections[s]
        if not isinstance(section.get("items"), CommentedSeq):
            section["items"] = CommentedSeq()
        items: CommentedSeq = section["items"]
        return items

    def _include(self, value: object) -> Path | None:
        if isinstance(value, Mapping) and set(value) == {INCLUDE_KEY} and \
                str(value[INCLUDE_KEY]).endswith(".md"):
            target = (self.folder / str(value[INCLUDE_KEY])).resolve()
            if self.folder.resolve() in target.parents:
                return target
        return None

    # Any: YAML values of any shape, read loosely (a wrong shape is the loader's to report).
    def _value(self, container: Mapping[str, Any], spec: FieldSpec) -> dict[str, str]:
        """The form values of one field: ``{"": text}`` or ``{"url": …, "text": …}``."""
        value = container.get(spec.name)
        included = self._include(value)
        if included is not None:
            return {"": included.read_text(encoding="utf-8") if included.is_file() else "",
                    "file": included.name}
        if spec.kind == "link":
            if isinstance(value, Mapping):
                return {"url": _text(value.get("url")), "text": _text(value.get("text"))}
            return {"url": _text(value), "text": ""}
        if spec.kind == "image":
            value = value if isinstance(value, Mapping) else {}
            return {"src": _text(value.get("src")), "alt": _text(value.get("alt"))}
        if spec.kind == "contact":
            value = value if isinstance(value, Mapping) else {}
            return {k: _text(value.get(k)) for k in ("name", "email", "phone")}
        if spec.kind == "people":
            return {"": "\n".join(_person_line(p) for p in value or [])}
        if spec.kind == "person":
            return {"": _person_line(value) if value else ""}
        if spec.kind == "slugs":
            return {"": ", ".join(_text(x) for x in value or [])}
        return {"": _text(value)}

    def view(self) -> IssueView:
        """Everything the form shows, as strings."""
        sections: list[SectionView] = []
        for s, section in enumerate(self.sections):
            items: list[ItemView] = []
            for i, item in enumerate(self._items(s)):
                kind = str(item.get("type", "")) if isinstance(item, Mapping) else ""
                fields = item_fields(kind)
                source = item if isinstance(item, Mapping) else {}
                items.append({"index": i, "type": kind, "fields": [
                    (spec, self._value(source, spec)) for spec in fields]})
            sections.append({"index": s, "fields": [(spec, self._value(section, spec))
                                                    for spec in SECTION_FIELDS],
                             "items": items})
        return {"fields": [(spec, self._value(self.data, spec)) for spec in ISSUE_FIELDS],
                "sections": sections}

    # --- writing ------------------------------------------------------------------------
    def _set(self, container: CommentedMap, spec: FieldSpec, form: Mapping[str, str],
             prefix: str) -> None:
        key = f"{prefix}{spec.name}"
        old = container.get(spec.name)
        included = self._include(old)
        if included is not None:
            if key in form:
                self._files[included] = _clean(form[key]) + "\n"
            return
        if spec.kind == "bool":
            # An unticked checkbox sends nothing; the form marks that the box was there.
            if key not in form and f"{key}.shown" not in form:
                return
            on = form.get(key) == "1"
            if on != bool(old) and (on or spec.name in container):
                container[spec.name] = on
            return
        if spec.kind in ("link", "image", "contact"):
            parts = {"link": ("url", "text"), "image": ("src", "alt"),
                     "contact": ("name", "email", "phone")}[spec.kind]
            if not any(f"{key}.{p}" in form for p in parts):
                return
            values = {p: _clean(form.get(f"{key}.{p}", "")) for p in parts}
            if not any(values.values()):
                if spec.name in container and not spec.required:
                    del container[spec.name]
                return
            if self._value(container, spec) == values:
                return
            if spec.kind == "link" and not values["text"]:
                container[spec.name] = values["url"]
                return
            new = old if isinstance(old, CommentedMap) else CommentedMap()
            for p, v in values.items():
                if v:
                    new[p] = v
                elif p in new:
                    del new[p]
            container[spec.name] = new
            return
        if key not in form:
            return
        text = _clean(form[key])
        if text == _clean(self._value(container, spec)[""]):
            return  # unchanged: keep the value exactly as written
        if not text and not spec.required:
            if spec.name in container:
                del container[spec.name]
            return
        if spec.kind == "people":
            seq = CommentedSeq()
            for line in text.split("\n"):
                person = _parse_person(line)
                if person is not None:
                    seq.append(person)
            container[spec.name] = seq
        elif spec.kind == "person":
            container[spec.name] = _parse_person(text)
        elif spec.kind == "slugs":
            seq = CommentedSeq([x.strip() for x in text.replace(";", ",").split(",")
                                if x.strip()])
            seq.fa.set_flow_style()
            container[spec.name] = seq
        else:
            container[spec.name] = _scalar(spec.kind, text)

    def apply(self, form: Mapping[str, str]) -> None:
        """Take every field from the form (names as in ``view``: ``subject``,
        ``s0-title``, ``s0-i2-link.url``, …); fields missing from the form are kept."""
        for spec in ISSUE_FIELDS:
            self._set(self.data, spec, form, "")
        for s, section in enumerate(self.sections):
            if not isinstance(section, CommentedMap):
                continue
            for spec in SECTION_FIELDS:
                self._set(section, spec, form, f"s{s}-")
            for i, item in enumerate(self._items(s)):
                if isinstance(item, CommentedMap):
                    for spec in item_fields(str(item.get("type", ""))):
                        self._set(item, spec, form, f"s{s}-i{i}-")

    def _check(self, s: int, i: int | None = None) -> None:
        if not 0 <= s < len(self.sections) or (i is not None and not 0 <= i < len(self._items(s))):
            raise MailerError(msg("that item is not in the issue any more; reload the page"))

    def move(self, s: int, i: int, delta: int) -> tuple[int, int]:
        """Move an item up (-1) or down (+1); past the end of a section it moves on to the
        next (or previous) section. Returns where it is now."""
        self._check(s, i)
        items = self._items(s)
        j = i + delta
        if 0 <= j < len(items):
            items.insert(j, items.pop(i))
            return s, j
        t = s + delta
        if not 0 <= t < len(self.sections):
            return s, i
        item = items.pop(i)
        target = self._items(t)
        if delta > 0:
            target.insert(0, item)
            return t, 0
        target.append(item)
        return t, len(target) - 1

    def remove(self, s: int, i: int) -> None:
        self._check(s, i)
        del self._items(s)[i]

    def add(self, s: int, item_type: str) -> int:
        """Append a new item of ``item_type`` to section ``s``; its required fields are
        empty, so the checks say what to fill in."""
        if item_type not in ITEM_TYPES:
            raise MailerError(msg("unknown item type %(type)r; use one of %(types)s",
                                  type=item_type, types=", ".join(sorted(ITEM_TYPES))))
        self._check(s)
        item = CommentedMap()
        item["type"] = item_type
        item["title"] = ""
        items = self._items(s)
        items.append(item)
        return len(items) - 1

    def item_links(self) -> set[str]:
        """The main link of every item (to tell an episode that is in the issue already)."""
        out = set()
        for s in range(len(self.sections)):
            for item in self._items(s):
                link = item.get("link") if isinstance(item, Mapping) else None
                url = link.get("url") if isinstance(link, Mapping) else link
                if url:
                    out.add(str(url).strip())
        return out

    def section_index(self, ref: str) -> int:
        """A section by its number (1 = first) or its title (case ignored)."""
        if ref.strip().isdigit():
            n = int(ref)
            if 1 <= n <= len(self.sections):
                return n - 1
        for s, section in enumerate(self.sections):
            if isinstance(section, Mapping) and \
                    str(section.get("title", "")).strip().casefold() == ref.strip().casefold():
                return s
        titles = ", ".join(repr(str(x.get("title", ""))) for x in self.sections
                           if isinstance(x, Mapping))
        raise MailerError(f"no section {ref!r} in {self.path}; give its number (1–"
                          f"{len(self.sections)}) or title ({titles or 'none yet'})")

    def last_section_with(self, item_type: str) -> int | None:
        for s in reversed(range(len(self.sections))):
            if any(isinstance(i, Mapping) and i.get("type") == item_type
                   for i in self._items(s)):
                return s
        return None

    def append_items(self, s: int, items: list[CommentedMap]) -> list[int]:
        """Append ready-made items to section ``s``; returns their indexes."""
        self._check(s)
        target = self._items(s)
        start = len(target)
        target.extend(items)
        return list(range(start, len(target)))

    def add_section(self, title: str = "") -> int:
        section = CommentedMap()
        section["title"] = title
        section["items"] = CommentedSeq()
        self.sections.append(section)
        return len(self.sections) - 1

    def remove_section(self, s: int) -> None:
        self._check(s)
        del self.sections[s]

    def move_section(self, s: int, delta: int) -> None:
        self._check(s)
        t = s + delta
        if 0 <= t < len(self.sections):
            self.sections.insert(t, self.sections.pop(s))

    def dumps(self) -> str:
        buf = io.StringIO()
        self._yaml.dump(self.data, buf)
        return buf.getvalue()

    def save(self) -> None:
        """Write the YAML (and changed Markdown files) atomically."""
        for path, text in self._files.items():
            _write(path, text)
        _write(self.path, self.dumps())


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
