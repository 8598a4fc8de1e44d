"""Templates to HTML and text, once per mailing: Jinja2 → MJML → mjml-python → HTML.

Templates are looked up first in the workspace's ``templates/`` (a file there overrides
the default of the same name), then in the defaults shipped inside the package. A mailing
template is a pair ``<name>.mjml.j2`` + ``<name>.txt.j2``; both usually extend
``layout.mjml.j2`` / ``layout.txt.j2``.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import jinja2
import nh3
from markupsafe import Markup
from mjml import mjml2html

from mailer.domain.brand import Brand
from mailer.domain.markdown import (
    ALLOWED_ATTRIBUTES,
    ALLOWED_TAGS,
    markdown_to_text,
    render_markdown,
)
from mailer.errors import MailerError
from mailer.render import i18n
from mailer.render.personalise import PLACEHOLDER_RE, placeholder
from mailer.render.types import RenderedMailing

PACKAGE_DIR = Path(__file__).resolve().parent.parent
#: The default templates: ``mailer/_templates`` in an installed package (a copy or a
#: link to the repository's top-level ``templates/``), else the repository's folder.
DEFAULT_TEMPLATES = next(
    (p for p in (PACKAGE_DIR / "_templates", PACKAGE_DIR.parent / "templates") if p.is_dir()),
    PACKAGE_DIR / "_templates",
)

# Inline styles for HTML made from Markdown: many mail clients ignore <style> blocks.
THEME = {
    "text": "#1d2327",
    "muted": "#4a5560",
    "link": "#0b4f8a",
    "brand": "#1f3a5f",
    "band": "#e8eef4",
    "page": "#f1f3f5",
    "card": "#ffffff",
    "rule": "#d5dce3",
}
_MARKDOWN_STYLES = {
    "a": {"style": f"color:{THEME['link']};text-decoration:underline;"},
    "p": {"style": "margin:0 0 12px 0;"},
    "ul": {"style": "margin:0 0 12px 0;padding-left:22px;"},
    "ol": {"style": "margin:0 0 12px 0;padding-left:22px;"},
    "li": {"style": "margin:0 0 4px 0;"},
    "img": {"style": "max-width:100%;height:auto;"},
}


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """How to render: where templates may be overridden and where images are served."""

    workspace: Path | None = None
    asset_base_url: str | None = None  # absolute URL under which local images are served
    remote_fonts: bool = False
    brand: Brand = Brand()  # the workspace's [brand]
    brands: Mapping[str, Brand] = field(default_factory=dict)  # [brands.<name>]
    brand_base_url: str = ""  # where a logo file from the workspace's brand/ is served
    # The brand of a document that names none: its lists' (services.brands); "" = [brand].
    default_brand: str = ""

    def brand_for(self, name: str | None) -> Brand:
        """The brand a document names (over the workspace's), else ``default_brand``'s,
        else the workspace's."""
        name = name or self.default_brand or None
        if not name:
            return self.brand
        if name not in self.brands:
            known = ", ".join(sorted(self.brands)) or "none"
            raise MailerError(f"brand {name!r} is not in mailer.toml (defined: {known}); "
                              f"add a [brands.{name}] table or fix brand: in the issue")
        return self.brands[name].over(self.brand)

    def brand_context(self, name: str | None) -> dict[str, object]:
        """``brand``, its ``theme`` and ``logo_url`` for the templates."""
        brand = self.brand_for(name)
        logo = brand.logo
        if logo and "://" not in logo:
            logo = f"{self.brand_base_url.rstrip('/')}/{logo}" if self.brand_base_url else ""
        return {"brand": brand, "theme": brand.theme(THEME), "logo_url": logo}


def template_dirs(workspace: Path | None, template_set: str = "") -> tuple[Path, ...]:
    """Where templates are looked up: a brand's own set, the workspace's, the built-in."""
    dirs = []
    if workspace is not None and template_set:
        if not (workspace / template_set).is_dir():
            raise MailerError(f"the brand's templates = {template_set!r} is not a folder in "
                              f"{workspace}; create it or fix the key in mailer.toml")
        dirs.append((workspace / template_set).resolve())
    if workspace is not None and (workspace / "templates").is_dir():
        dirs.append((workspace / "templates").resolve())
    dirs.append(DEFAULT_TEMPLATES)
    return tuple(dirs)


#: How wide a placeholder's value is taken to be when the text part is wrapped: it is
#: filled per recipient afterwards, and ``%%email%%`` (9 characters) becoming a 30-character
#: address ran the footer's line to 97. Few values are wider; a wider one is never broken.
FILLED_WIDTH = {"name": 30, "first_name": 20, "greeting": 25, "email": 40,
                "organisation": 40}
_STAND_IN = re.compile("\x00(\\d+)\x00\x01*")


def _wrap(text: str, width: int = 76) -> str:
    """Wrap plain text paragraphs for the text part, never breaking a URL, and leaving
    room for the values the placeholders are filled with (``FILLED_WIDTH``)."""
    slots: list[str] = []

    def stand_in(found: re.Match[str]) -> str:
        # One word as wide as the value will be, of characters no text has.
        slots.append(found.group(0))
        mark = f"\x00{len(slots) - 1}\x00"
        return mark.ljust(FILLED_WIDTH.get(found.group(1), len(found.group(0))), "\x01")

    out = []
    for line in PLACEHOLDER_RE.sub(stand_in, str(text)).split("\n"):
        indent = re.match(r"\s*(?:[•\-*]|\d+\.)?\s*", line)
        lead = indent.group(0) if indent else ""
        out.append(textwrap.fill(line, width, subsequent_indent=" " * len(lead),
                                 break_long_words=False, break_on_hyphens=False) or "")
    return _STAND_IN.sub(lambda found: slots[int(found.group(1))], "\n".join(out))


def _styled(html: str, asset_base: str | None = None) -> str:
    """Add inline styles to Markdown HTML and point local images at ``asset_base``."""

    def attribute(element: str, name: str, value: str) -> str | None:
        if element == "img" and name == "src" and "://" not in value:
            if not asset_base:
                raise MailerError(f"image {value!r} is a local file; rendering needs an "
                                  "asset base URL to serve it from (MAILER_BASE_URL)")
            return f"{asset_base.rstrip('/')}/{value.lstrip('/')}"
        return value

    return nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
                     set_tag_attribute_values=_MARKDOWN_STYLES, link_rel=None,
                     attribute_filter=attribute)


@lru_cache(maxsize=16)
def environment(dirs: tuple[Path, ...], language: str) -> jinja2.Environment:
    """A Jinja2 environment for one language over the given template folders."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(d) for d in dirs]),
        autoescape=jinja2.select_autoescape(enabled_extensions=("mjml.j2", "html.j2"),
                                            default_for_string=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n", "jinja2.ext.do"],
    )
    tr = i18n.Translator(language)
    # jinja2.ext.i18n adds this method at runtime; the Environment type does not know it.
    env.install_gettext_callables(tr.gettext, tr.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(
        lang=language,
        theme=THEME,
        placeholder=lambda field: Markup(placeholder(field)),
    )
    env.filters.update(
        day=lambda d: i18n.format_day(d, language),
        day_month=lambda d: i18n.format_day_month(d, language),
        clock=lambda t: i18n.format_clock(t, language),
        timerange=lambda a, b=None: i18n.format_time_range(a, b, language),
        kronor=lambda n: i18n.format_kronor(n, language),
        markdown=lambda text, assets=None: Markup(_styled(render_markdown(text or "").html,
                                                          assets)),
        markdown_text=lambda text: markdown_to_text(text or ""),
        wrap=_wrap,
    )
    return env


def _tidy_text(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def render_mailing(template: str, context: Mapping[str, object], *, subject: str,
                   language: str, preheader: str = "",
                   options: RenderOptions | None = None,
                   brand: str | None = None) -> RenderedMailing:
    """Render ``<template>.mjml.j2`` and ``<template>.txt.j2`` once for a whole mailing.

    The result keeps ``%%field%%`` placeholders for the per-recipient fill. ``context``
    is passed to both templates, together with ``subject``, ``preheader`` and ``lang``.
    ``brand`` is the document's own (else the options' default, else the workspace's):
    its look, and its template set when it has one.
    """
    opts = options or RenderOptions()
    dirs = template_dirs(opts.workspace, opts.brand_for(brand).templates)
    env = environment(dirs, language)
    ctx = {**opts.brand_context(brand), **context, "subject": subject, "preheader": preheader,
           "remote_fonts": opts.remote_fonts}
    try:
        mjml_source = env.get_template(f"{template}.mjml.j2").render(ctx)
        text = env.get_template(f"{template}.txt.j2").render(ctx)
    except jinja2.TemplateNotFound as exc:
        raise MailerError(f"template {exc.name!r} not found in "
                          f"{', '.join(map(str, dirs))}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise MailerError(f"{exc.filename}:{exc.lineno}: template syntax: {exc.message}") from None
    html = compile_mjml(mjml_source, remote_fonts=opts.remote_fonts, name=template)
    return RenderedMailing(subject=subject, html=html, text=_tidy_text(text),
                           language=language, preheader=preheader)


def compile_mjml(source: str, *, remote_fonts: bool = False, name: str = "template") -> str:
    """MJML to HTML; without ``remote_fonts`` no font is fetched from a remote server."""
    try:
        # fonts={} stops MJML adding <link>s to Google Fonts (privacy, and no remote
        # requests when a reader opens the mail); the font stack falls back to Arial.
        html = mjml2html(source, fonts=None if remote_fonts else {})
    except Exception as exc:  # mjml-python raises plain exceptions for invalid MJML
        raise MailerError(f"MJML in {name!r} does not compile: {exc}") from None
    # MJML leaves indentation runs inside text; they cost bytes (Gmail clips at 102 KB).
    return re.sub(r"\n\s+", "\n", html)
