"""The ``newsletter`` kind: an Issue, its domain checks and its files (images)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from urllib.parse import unquote, urlsplit

from pydantic import TypeAdapter, ValidationError

from mailer.authoring.registry import CheckContext, register_kind
from mailer.domain.content import (
    SCAFFOLD_TEXTS,
    Image,
    Issue,
    Item,
    ItemBase,
    check_head,
    check_issue,
    check_item,
    check_markdown,
    markdown_fields,
)
from mailer.domain.findings import DocPath, Finding, msg
from mailer.domain.markdown import render_markdown
from mailer.domain.media import (
    FORMATS,
    IMAGE_HEAD_BYTES,
    IMAGE_TYPES,
    IMAGE_WARN_BYTES,
    MEDIA_TYPES,
    WARN_BYTES,
    image_size,
    media_type,
    sniff,
)
from mailer.render.i18n import LANGUAGES, Translator

_ITEM: TypeAdapter[Item] = TypeAdapter(Item)


@lru_cache(maxsize=1)
def scaffold_examples() -> frozenset[str]:
    """The example texts of ``mailer issue new`` in every language: an issue still
    holding one is not ready to send."""
    return frozenset().union(*(SCAFFOLD_TEXTS.translated(Translator(lang).gettext).examples
                               for lang in LANGUAGES))


def check_newsletter(issue: Issue, ctx: CheckContext) -> Iterator[Finding]:
    """Every rule for a valid issue, plus the files it refers to."""
    yield from check_issue(issue, examples=scaffold_examples(), today=ctx.today)
    for path, item in issue.all_items():
        yield from _item_files(path, item, ctx)
    for path, text in markdown_fields(issue):
        yield from _markdown_files(path, text, ctx)


def check_partial(data: Mapping[str, object], ctx: CheckContext) -> Iterator[Finding]:
    """When the issue's shape is wrong, still check every part that is right, so the
    editor sees every problem in one run (a bad date does not hide a broken link)."""
    intro = data.get("intro")
    intro = intro if isinstance(intro, str) else ""
    preheader = data.get("preheader")
    yield from check_head(intro, None if preheader is None else str(preheader),
                          examples=scaffold_examples())
    yield from _markdown_files(("intro",), intro, ctx)
    sections = data.get("sections")
    for s, section in enumerate(sections if isinstance(sections, list) else []):
        if not isinstance(section, dict):
            continue
        if isinstance(section.get("intro"), str):
            yield from check_markdown(("sections", s, "intro"), section["intro"])
        items = section.get("items")
        for i, raw in enumerate(items if isinstance(items, list) else []):
            path = ("sections", s, "items", i)
            try:
                item = _ITEM.validate_python(raw)
            except ValidationError:
                # Its shape errors are reported already; its files and Markdown are
                # checked too, so that fixing a typo does not reveal a missing image.
                yield from _raw_item_files(path, raw, ctx)
                continue
            yield from check_item(path, item, examples=scaffold_examples(),
                                  today=ctx.today)
            yield from _item_files(path, item, ctx)
            yield from _markdown_files((*path, "summary"), item.summary, ctx)


def _raw_item_files(path: DocPath, raw: object, ctx: CheckContext) -> Iterator[Finding]:
    """The image, file and summary of an item whose shape is wrong elsewhere."""
    if not isinstance(raw, Mapping):
        return
    summary = raw.get("summary")
    if isinstance(summary, str):
        yield from check_markdown((*path, "summary"), summary)
        yield from _markdown_files((*path, "summary"), summary, ctx)
    try:
        image = Image.model_validate(raw["image"]) if "image" in raw else None
    except ValidationError:
        image = None
    file = raw.get("file")
    yield from _files(path, image, file if isinstance(file, str) else None, ctx)


def _item_files(path: DocPath, item: ItemBase, ctx: CheckContext) -> Iterator[Finding]:
    yield from _files(path, item.image, getattr(item, "file", None), ctx)
    for name in ("link", "registration"):
        link = getattr(item, name, None)
        if link is not None:
            yield from _media_links((*path, name), [link.url], ctx)


def _media_links(where: DocPath, urls: Iterable[str], ctx: CheckContext, *,
                 line: int | None = None) -> Iterator[Finding]:
    """Links to this issue's own files as served (``…/media/<folder>/<file>``, the stable
    address the admin shows after an upload) whose file is not in the folder: the reader
    would get a 404. Any host counts, since the check does not know MAILER_BASE_URL."""
    prefix = f"/media/{ctx.folder.name}/"
    for url in urls:
        route = urlsplit(url).path
        if not route.startswith(prefix):
            continue
        name = unquote(route[len(prefix):])
        if name and not ctx.exists(name):
            yield Finding(where, msg("link %(url)r: there is no file %(file)r in %(folder)s, so "
                                     "readers would get 'not found'; upload it on the issue's "
                                     "page in the admin, put it beside issue.yaml or fix the "
                                     "link", url=url, file=name, folder=ctx.folder),
                          severity="warning", text_line=line)


def _files(path: DocPath, image: Image | None, file: str | None,
           ctx: CheckContext) -> Iterator[Finding]:
    """An item's image and file (a fact sheet's PDF): there, servable, not too large."""
    if image is not None and image.is_local:
        if not ctx.exists(image.src):
            yield Finding((*path, "image", "src"),
                          msg("image file %(file)r not found in %(folder)s; put the file "
                              "beside issue.yaml or fix the name", file=image.src,
                              folder=ctx.folder))
        else:
            yield from _image((*path, "image", "src"), image.src, ctx)
    if file:
        where = (*path, "file")
        if media_type(file) is None:
            allowed = ", ".join(sorted({s.lstrip(".") for s in MEDIA_TYPES}))
            yield Finding(where, msg("%(file)r cannot be offered to readers; use one of: "
                                     "%(allowed)s", file=file, allowed=allowed))
        elif not ctx.exists(file):
            yield Finding(where, msg("file %(file)r not found in %(folder)s; upload it on "
                                     "the issue's page in the admin or put it beside "
                                     "issue.yaml", file=file, folder=ctx.folder))
        else:
            yield from _size(where, file, ctx)


def _size(where: DocPath, name: str, ctx: CheckContext) -> Iterator[Finding]:
    size = (ctx.folder / name).stat().st_size
    if size > WARN_BYTES:
        yield Finding(where, msg("%(file)r is %(mb).1f MB; files over %(limit)d MB are slow "
                                 "to open on a phone: make it smaller", file=name,
                                 mb=size / 1048576, limit=WARN_BYTES // 1048576),
                      severity="warning")


def _image(where: DocPath, name: str, ctx: CheckContext, *,
           line: int | None = None) -> Iterator[Finding]:
    """An image beside issue.yaml: of a type a mail shows, an image of that type indeed
    (its first bytes, not only its name), with a size in pixels that reads, and not so
    large that the mail is slow to open."""
    content_type = media_type(name)
    if content_type not in IMAGE_TYPES:
        yield Finding(where, msg("%(file)r is not an image a mail can show; use a PNG, JPEG, "
                                 "GIF or WebP file", file=name), text_line=line)
        return
    path = ctx.folder / name
    with path.open("rb") as fh:
        head = fh.read(IMAGE_HEAD_BYTES)
    actual = sniff(head)
    if actual != content_type:
        if actual in IMAGE_TYPES:
            yield Finding(where, msg("%(file)r is a %(actual)s image, but its name says "
                                     "%(type)s; rename it to end in .%(ending)s", file=name,
                                     actual=FORMATS[actual], type=FORMATS[content_type],
                                     ending=FORMATS[actual].lower().replace("jpeg", "jpg")),
                          text_line=line)
        else:
            yield Finding(where, msg("%(file)r is not an image: its content is not a %(type)s "
                                     "file, nor any other picture; save the picture again "
                                     "as %(type)s", file=name, type=FORMATS[content_type]),
                          text_line=line)
        return
    pixels = image_size(head, content_type)
    if pixels is None:
        yield Finding(where, msg("%(file)r is damaged: its size in pixels cannot be read; "
                                 "save the picture again", file=name), text_line=line)
        return
    size = path.stat().st_size
    if size > IMAGE_WARN_BYTES:
        yield Finding(where, msg("%(file)r is %(mb).1f MB (%(width)s × %(height)s px); an "
                                 "image over %(limit)d MB makes the mail slow to open: save "
                                 "it smaller, e.g. 1200 px wide", file=name,
                                 mb=size / 1048576, width=pixels[0], height=pixels[1],
                                 limit=IMAGE_WARN_BYTES // 1048576),
                      severity="warning", text_line=line)


def _markdown_files(path: DocPath, text: str, ctx: CheckContext) -> Iterator[Finding]:
    rendered = render_markdown(text)
    for url in rendered.links:
        yield from _media_links(path, [url], ctx, line=_line_in(text, url))
    for src, _alt in rendered.images:
        if "://" in src:
            continue
        line = text[: text.find(src)].count("\n") + 1 if src in text else None
        if not ctx.exists(src):
            yield Finding(path, msg("image file %(file)r not found in %(folder)s; put the file "
                              "beside issue.yaml or fix the name", file=src, folder=ctx.folder),
                          text_line=line)
        else:
            yield from _image(path, src, ctx, line=line)


def _line_in(text: str, needle: str) -> int | None:
    at = text.find(needle)
    return text[:at].count("\n") + 1 if at >= 0 else None


register_kind("newsletter", Issue, check_newsletter, partial_checker=check_partial,
              description="a numbered newsletter issue of typed items")
