"""Several newsletters in one workspace: which brand a list or mailing carries, and the
From and Reply-To it signs with.

The rule: an issue's own ``brand:`` wins; else the brand its lists share. Lists of
different brands in one mailing are refused (a reader would get one newsletter signed as
another): send the issue to each newsletter's lists separately, or name the brand in
issue.yaml. The brand's From and Reply-To are resolved here, at planning, and recorded on
the mailing, so a later change of mailer.toml does not re-sign mail already on its way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from mailer.config import Settings, parse_sender
from mailer.domain.brand import Brand
from mailer.domain.findings import msg
from mailer.errors import MailerError
from mailer.store.lists import find_list, get_list

__all__ = ["Signature", "brand_of", "check_brand", "for_preview", "for_send",
           "list_signature", "signature"]


@dataclass(frozen=True, slots=True)
class Signature:
    """A mailing's brand ("" = the workspace's [brand]) and its From and Reply-To."""

    brand: str
    sender: str  # "Name <address>"
    reply_to: str  # "" = none
    signed: str = ""  # who signs a short mail: the brand's name, else the From's name


def check_brand(settings: Settings, name: str, where: str) -> str:
    """``name`` if it is a brand of mailer.toml (or ""), else an error naming ``where``."""
    return settings.check_brand(name, where)


def brand_of(settings: Settings, name: str) -> Brand:
    """The named brand over the workspace's [brand] (the workspace's for "", and for a
    name mailer.toml no longer has: a page must not fail over a later edit)."""
    if name not in settings.brands:
        return settings.brand
    return settings.brands[name].over(settings.brand)


def signature(settings: Settings, name: str) -> Signature:
    """The From and Reply-To of brand ``name``: its own, else [brand]'s, else MAILER_FROM
    and MAILER_REPLY_TO."""
    brand = brand_of(settings, check_brand(settings, name, "mailing"))
    # Recorded as written ("Nätverket <…>"): the worker encodes the name for the header.
    raw = brand.from_address or settings.from_
    sender = parse_sender(raw)
    return Signature(name, raw, brand.reply_to or settings.reply_to,
                     brand.name or sender.name or sender.address)


def list_signature(settings: Settings, brand: str) -> Signature:
    """How mail about a list (a sign-up's confirmation) signs: its newsletter's From and
    Reply-To; a brand mailer.toml no longer has falls back to the workspace's."""
    return signature(settings, brand if brand in settings.brands else "")


def for_send(session: Session, settings: Settings, *, issue_brand: str, issue: str,
             list_slugs: Sequence[str] = (), segment: str = "",
             test: bool = False) -> Signature:
    """The signature of issue ``issue`` sent to ``list_slugs`` (or a saved ``segment``'s
    list): its own ``brand:``, else its lists' one; refuses lists of different brands.
    A ``test`` send looks at the issue's own lists and passes over those not created yet."""
    if issue_brand:
        return signature(settings, check_brand(settings, issue_brand, issue))
    if segment:
        from mailer.services.segments import audience

        list_slugs = audience(session, segment=segment).list_slugs
    if test:
        lists = [x for x in (find_list(session, slug) for slug in list_slugs) if x]
    else:
        lists = [get_list(session, slug) for slug in list_slugs]
    brands = {lst.brand for lst in lists}
    if len(brands) > 1:
        named = ", ".join(f"{lst.slug} ({lst.brand or '[brand]'})" for lst in lists)
        raise MailerError(msg("these lists belong to different newsletters: %(lists)s; send "
                              "the issue to each newsletter's lists separately, or name "
                              "its brand with brand: in issue.yaml", lists=named))
    name = brands.pop() if brands else ""
    if name:
        lst = next(x for x in lists if x.brand == name)
        check_brand(settings, name, f"list {lst.slug}")
    return signature(settings, name)


def for_preview(session: Session | None, settings: Settings, *, issue_brand: str, issue: str,
                list_slugs: Sequence[str]) -> Signature:
    """How a preview or a rendered sample of an issue looks and signs: as its test send
    will (its own ``brand:``, else its own lists'; without a ``session``, no database yet:
    its own brand only); an unknown brand or lists of a mix of newsletters (refused when
    sent) preview in the workspace's [brand]."""
    try:
        if issue_brand or session is None or not list_slugs:
            return signature(settings, check_brand(settings, issue_brand, issue))
        return for_send(session, settings, issue_brand="", issue=issue,
                        list_slugs=list_slugs, test=True)
    except MailerError:
        return signature(settings, "")
