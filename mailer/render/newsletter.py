"""Render a newsletter Issue once per mailing into a RenderedMailing (HTML + text)."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from mailer.domain.content import FactSheet, Issue, ItemBase, Link, Section
from mailer.errors import MailerError
from mailer.render import i18n
from mailer.render.engine import RenderOptions, render_mailing
from mailer.render.types import RenderedMailing

#: Item types shown compactly; consecutive ones share one card (five fact sheets in a row).
COMPACT_TYPES = frozenset({"factsheet"})


@dataclass(frozen=True, slots=True)
class Block:
    """Items that share one card: one item, or a run of compact ones."""

    items: list[ItemBase] = field(default_factory=list)
    compact: bool = False


@dataclass(frozen=True, slots=True)
class SectionView:
    title: str
    intro: str
    blocks: list[Block]


def blocks(section: Section) -> list[Block]:
    out: list[Block] = []
    for item in section.items:
        kind = getattr(item, "type", "")
        if kind in COMPACT_TYPES and out and out[-1].compact and not item.summary:
            out[-1].items.append(item)
        else:
            out.append(Block([item], compact=kind in COMPACT_TYPES and not item.summary))
    return out


def _with_file_links(section: Section, assets: str) -> Section:
    """Items that offer a file of the issue folder link to it where it is served."""
    items = [item.model_copy(update={"link": Link.model_construct(
                 url=f"{assets}/{quote(item.file)}", text="")})
             if isinstance(item, FactSheet) and item.file else item for item in section.items]
    return section.model_copy(update={"items": items})


def issue_heading(issue: Issue) -> str:
    """``Nyhetsbrev nr 6 år 2023`` / ``Newsletter no. 6, 2023``."""
    return i18n.newsletter_heading(issue.number, issue.year, issue.language)


def issue_context(issue: Issue, options: RenderOptions) -> dict[str, object]:
    needs_assets = any(item.image and item.image.is_local for _, item in issue.all_items())
    needs_assets = needs_assets or any(getattr(item, "file", None)
                                       for _, item in issue.all_items())
    if needs_assets and not options.asset_base_url:
        raise MailerError("this issue has local images or files; rendering needs the URL "
                          "they are served from (set MAILER_BASE_URL)")
    assets = (options.asset_base_url or "").rstrip("/")
    return {
        "issue": issue,
        "heading": issue_heading(issue),
        "sections": [SectionView(s.title, s.intro, blocks(_with_file_links(s, assets)))
                     for s in issue.sections],
        "assets": (options.asset_base_url or "").rstrip("/"),
        "newsletter_name": issue.name,
        "sender_organisation": issue.organisation,
        **options.brand_context(issue.brand),
    }


def render_issue(issue: Issue, options: RenderOptions | None = None) -> RenderedMailing:
    """The whole issue, rendered once; per-recipient values stay ``%%field%%``."""
    opts = options or RenderOptions()
    return render_mailing("newsletter", issue_context(issue, opts), subject=issue.subject,
                          language=issue.language, preheader=issue.preheader, options=opts,
                          brand=issue.brand or None)


def _register() -> None:
    from mailer.render.documents import register_renderer

    register_renderer("newsletter", render_issue)


_register()
