"""Markdown bodies: CommonMark to sanitised HTML, with every link and image checked."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import unquote

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

from mailer.domain.findings import msg
from mailer.domain.urls import BadUrl, is_insecure, normalise_url

#: Tags a Markdown body may produce in the e-mail; anything else is removed by nh3.
ALLOWED_TAGS = {
    "p", "br", "a", "strong", "em", "b", "i", "ul", "ol", "li", "blockquote", "code",
    "h3", "h4", "img", "hr",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "width", "height"}}

# An inline link whose address contains spaces: CommonMark does not see a link there
# (the seed's registration link has "EDIT=of f"). We encode the spaces first. The address
# parts exclude quotes and parentheses so that [x](url "title") is left alone.
_SPACED_LINK = re.compile(r"\]\(\s*([^\s()\"'<>]+(?: +[^\s()\"'<>]+)+)\s*\)")
# Link syntax left over as text after parsing means the link is broken.
_LEFTOVER_LINK = re.compile(r"!?\[[^\]\n]*\]\([^)\n]*\)?|!?\[[^\]\n]+\]\[[^\]\n]*\]")


@dataclass(frozen=True, slots=True)
class TextFinding:
    """A problem inside a Markdown text; ``line`` counts from 1 within the text."""

    line: int
    message: str
    severity: str = "error"


@dataclass(frozen=True, slots=True)
class MarkdownResult:
    html: str
    findings: list[TextFinding] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    images: list[tuple[str, str]] = field(default_factory=list)  # (file name or URL, alt)


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    # CommonMark without raw HTML: editors write Markdown, not markup. A bare address
    # (https://skr.se/rapport, anna@skr.se) is a link, as readers expect in a mail; one
    # without its scheme (www.skr.se) stays text: its http:// would be a guess.
    parser = MarkdownIt("commonmark", {"html": False, "typographer": False,
                                       "linkify": True}).enable("linkify")
    assert parser.linkify is not None  # linkify-it-py, a dependency
    parser.linkify.set({"fuzzy_link": False})
    return parser


def _encode_spaced_links(text: str) -> str:
    return _SPACED_LINK.sub(lambda m: "](" + m.group(1).replace(" ", "%20") + ")", text)


def _line_of(text: str, needle: str, default: int) -> int:
    pos = text.find(needle)
    return text.count("\n", 0, pos) + 1 if pos >= 0 else default


def render_markdown(text: str, *, local_images: bool = True) -> MarkdownResult:
    """Render ``text`` to sanitised HTML and report broken links, relative links and
    images without alt text. ``local_images`` allows images given as a file name
    beside the issue (the renderer rewrites them to absolute URLs)."""
    if not text or not text.strip():
        return MarkdownResult(html="")
    source = _encode_spaced_links(text)
    tokens = _parser().parse(source)
    findings: list[TextFinding] = []
    links: list[str] = []
    images: list[tuple[str, str]] = []

    def block_line(tok: Token) -> int:
        return (tok.map[0] + 1) if tok.map else 1

    for tok in tokens:
        if tok.type in ("heading_open", "heading_close"):
            # A heading inside an item sits under the mail's own headings: # and ## become
            # h3 (they were dropped to bare text), ##### and ###### h4.
            tok.tag = "h3" if tok.tag in ("h1", "h2", "h3") else "h4"
            continue
        if tok.type != "inline" or not tok.children:
            continue
        base = block_line(tok)
        for child in tok.children:
            if child.type == "link_open":
                href = str(child.attrs.get("href", ""))
                line = _line_of(source, f"]({href}", base)
                try:
                    url = normalise_url(href)
                except BadUrl as exc:
                    findings.append(TextFinding(line, msg("link: %(problem)s",
                                                          problem=exc.message)))
                    continue
                if is_insecure(url):
                    findings.append(TextFinding(
                        line, msg("link %(url)r uses http://; use https:// if the site has it",
                                  url=url),
                        "warning"))
                child.attrs["href"] = url
                links.append(url)
            elif child.type == "image":
                src = str(child.attrs.get("src", ""))
                # The parser percent-encodes the address ("sjön.png" → "sj%C3%B6n.png"):
                # the HTML keeps that; the editor's file name is the decoded one.
                name = src if "://" in src else unquote(src)
                alt = "".join(c.content for c in (child.children or [])).strip()
                line = _line_of(source, f"]({name}", _line_of(source, f"]({src}", base))
                if not alt:
                    findings.append(TextFinding(
                        line, msg("image %(src)r has no alt text; describe it in the brackets: "
                                  "![what the picture shows](%(src)s)", src=name)))
                if "://" in src or not local_images:
                    try:
                        src = name = normalise_url(src)
                    except BadUrl as exc:
                        findings.append(TextFinding(line, msg("image: %(problem)s",
                                                                 problem=exc.message)))
                child.attrs["src"] = src
                images.append((name, alt))
            elif child.type == "text":
                findings.extend(
                    TextFinding(
                        _line_of(source, m.group(0), base),
                        msg("broken Markdown link %(text)r: write [text](https://…) "
                            "with the full address in the parentheses and no line break",
                            text=m.group(0)))
                    for m in _LEFTOVER_LINK.finditer(child.content))
    html = _parser().renderer.render(tokens, _parser().options, {})
    clean = nh3.clean(
        html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, link_rel=None,
        url_schemes={"http", "https", "mailto", "tel"},
    )
    return MarkdownResult(html=clean.strip(), findings=findings, links=links, images=images)


def markdown_to_text(text: str) -> str:
    """A readable plain-text version of a Markdown body: links become "text (url)"."""
    if not text or not text.strip():
        return ""
    source = _encode_spaced_links(text)
    out: list[str] = []
    prefix_stack: list[str] = []
    counters: list[int] = []
    for tok in _parser().parse(source):
        if tok.type == "bullet_list_open":
            prefix_stack.append("•")
        elif tok.type == "ordered_list_open":
            prefix_stack.append("#")
            counters.append(int(tok.attrs.get("start", 1) or 1))
        elif tok.type in ("bullet_list_close", "ordered_list_close"):
            if prefix_stack.pop() == "#":
                counters.pop()
            if not prefix_stack:
                out.append("")
        elif tok.type == "inline":
            line = _inline_text(tok)
            if prefix_stack:
                indent = "  " * (len(prefix_stack) - 1)
                if prefix_stack[-1] == "#":
                    mark = f"{counters[-1]}."
                    counters[-1] += 1
                else:
                    mark = "•"
                line = f"{indent}  {mark} {line}"
                out.append(line)
            else:
                out.append(line)
                out.append("")
        elif tok.type == "hr":
            out.extend(["―" * 20, ""])
    return "\n".join(out).strip()


def _inline_text(tok: Token) -> str:
    parts: list[str] = []
    href: str | None = None
    label: list[str] = []
    for c in tok.children or []:
        if c.type == "link_open":
            try:
                href = normalise_url(str(c.attrs.get("href", "")))
            except BadUrl:
                href = str(c.attrs.get("href", ""))
            label = []
        elif c.type == "link_close":
            text = "".join(label)
            bare = href.removeprefix("mailto:") if href else ""
            parts.append(text if text in (href, bare) else f"{text} ({bare or href})")
            href = None
        elif c.type in ("text", "code_inline"):
            (label if href is not None else parts).append(c.content)
        elif c.type == "softbreak":
            (label if href is not None else parts).append(" ")
        elif c.type == "hardbreak":
            parts.append("\n")
        elif c.type == "image":
            alt = "".join(x.content for x in (c.children or []))
            parts.append(f"[{alt}]")
        elif c.children:
            parts.append("".join(x.content for x in c.children))
    return "".join(parts)
