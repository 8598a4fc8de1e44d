"""The ``newsletter`` kind: an Issue, its domain checks and its files (images)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import TypeAdapter, ValidationError

from mailer.authoring.registry import CheckContext, register_kind
from mailer.domain.content import (
    Issue,
    Item,
    ItemBase,
    check_issue,
    check_item,
    check_markdown,
    markdown_fields,
)
from mailer.domain.findings import DocPath, Finding, msg
from mailer.domain.markdown import render_markdown

_ITEM: TypeAdapter[Any] = TypeAdapter(Item)


def check_newsletter(issue: Issue, ctx: CheckContext) -> Iterator[Finding]:
    """Every rule for a valid issue, plus the files it refers to."""
    yield from check_issue(issue, today=ctx.today)
    for path, item in issue.all_items():
        yield from _item_files(path, item, ctx)
    for path, text in markdown_fields(issue):
        yield from _markdown_files(path, text, ctx)


def check_partial(data: dict[str, Any], ctx: CheckContext) -> Iterator[Finding]:
    """When the issue's shape is wrong, still check every part that is right, so the
    editor sees every problem in one run (a bad date does not hide a broken link)."""
    if isinstance(data.get("intro"), str):
        yield from check_markdown(("intro",), data["intro"])
        yield from _markdown_files(("intro",), data["intro"], ctx)
    sections = data.get("sections")
    for s, section in enumerate(sections if isinstance(sections, list) else []):
        if not isinstance(section, dict):
            continue
        if isinstance(section.get("intro"), str):
            yield from check_markdown(("sections", s, "intro"), section["intro"])
        items = section.get("items")
        for i, raw in enumerate(items if isinstance(items, list) else []):
            try:
                item = _ITEM.validate_python(raw)
            except ValidationError:
                continue  # its shape errors are reported already
            path = ("sections", s, "items", i)
            yield from check_item(path, item, today=ctx.today)
            yield from _item_files(path, item, ctx)
            yield from _markdown_files((*path, "summary"), item.summary, ctx)


def _item_files(path: DocPath, item: ItemBase, ctx: CheckContext) -> Iterator[Finding]:
    if item.image is not None and item.image.is_local and not ctx.exists(item.image.src):
        yield Finding((*path, "image", "src"),
                      msg("image file %(file)r not found in %(folder)s; put the file beside "
                          "issue.yaml or fix the name", file=item.image.src, folder=ctx.folder))


def _markdown_files(path: DocPath, text: str, ctx: CheckContext) -> Iterator[Finding]:
    for src, _alt in render_markdown(text).images:
        if "://" not in src and not ctx.exists(src):
            line = text[: text.find(src)].count("\n") + 1 if src in text else None
            yield Finding(path, msg("image file %(file)r not found in %(folder)s; put the file "
                              "beside issue.yaml or fix the name", file=src, folder=ctx.folder),
                          text_line=line)


register_kind("newsletter", Issue, check_newsletter, partial_checker=check_partial,
              description="a numbered newsletter issue of typed items")
