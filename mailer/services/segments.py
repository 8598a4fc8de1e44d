"""Segments: narrow a list by conditions (``--where``), save them by name, and show who
matches now. The CLI, the admin and the API call these; the SQL is ``store.segments``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from mailer.domain.findings import msg
from mailer.domain.segments import Condition, ConditionError, parse_all
from mailer.errors import MailerError, message_of
from mailer.store import segments as store
from mailer.store.lists import get_list
from mailer.store.segments import Match

__all__ = ["Audience", "Preview", "SegmentInfo", "Match", "audience", "conditions", "preview",
           "save", "segments", "remove", "get"]

_NAME = re.compile(r"^[\w][\w .\-]{0,99}$")


def conditions(texts: Sequence[str]) -> tuple[Condition, ...]:
    """``--where`` texts as conditions; a bad one is a MailerError naming it."""
    try:
        return parse_all(texts)
    except ConditionError as exc:
        raise MailerError(message_of(exc)) from None


@dataclass(frozen=True, slots=True)
class Audience:
    """Who a mailing targets: lists, the conditions ANDed on them, the segment's name."""

    list_slugs: tuple[str, ...]
    conditions: tuple[Condition, ...]
    segment: str = ""


def audience(session: Session, *, list_slugs: Sequence[str] = (), where: Sequence[str] = (),
             segment: str = "") -> Audience:
    """Lists and ``--where`` conditions, or a saved segment (its list and conditions, with
    any extra ``where`` ANDed); the lists must exist."""
    extra = conditions(where)
    list_slugs = tuple(dict.fromkeys(list_slugs))  # a list named twice is one list
    if segment:
        seg = store.get(session, segment)
        if list_slugs and list(list_slugs) != [seg.list.slug]:
            raise MailerError(msg("segment %(segment)r is a part of list %(list)r; leave out "
                                  "--list, or use --where instead of the segment",
                                  segment=seg.name, list=seg.list.slug).with_admin(msg(
                "segment %(segment)r is a part of list %(list)r; choose only that list, or "
                "conditions instead of the segment", segment=seg.name, list=seg.list.slug)
                ).with_api(msg("segment %(segment)r is a part of list %(list)r; give only "
                               "that list in lists, or conditions in where instead of the "
                               "segment", segment=seg.name, list=seg.list.slug)),
                field="lists")
        own = conditions(seg.conditions)
        return Audience((seg.list.slug,), own + tuple(c for c in extra if c not in own),
                        seg.name)
    for slug in list_slugs:
        get_list(session, slug)
    return Audience(list_slugs, extra)


@dataclass(frozen=True, slots=True)
class Preview:
    count: int
    sample: list[Match]


def preview(session: Session, target: Audience, *, sample: int = 10) -> Preview:
    """How many active subscribers match now, and the first few of them."""
    ids = [get_list(session, slug).id for slug in target.list_slugs]
    count, rows = store.matching(session, ids, target.conditions, sample=sample)
    return Preview(count, rows)


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    name: str
    list_slug: str
    conditions: tuple[str, ...]
    count: int


def _info(session: Session, seg_name: str) -> SegmentInfo:
    seg = store.get(session, seg_name)
    count, _ = store.matching(session, [seg.list_id], conditions(seg.conditions), sample=0)
    return SegmentInfo(seg.name, seg.list.slug, tuple(seg.conditions), count)


def save(session: Session, name: str, list_slug: str, where: Sequence[str]) -> SegmentInfo:
    """Add (or change) the segment ``name``: list ``list_slug`` narrowed by ``where``."""
    name = (name or "").strip()
    if not _NAME.match(name):
        raise MailerError(msg("segment name %(name)r: 1–100 letters, digits, spaces, '.', "
                              "'-' or '_', starting with a letter or digit", name=name))
    conds = conditions(where)
    if not conds:
        raise MailerError(msg("a segment needs at least one condition (--where "
                              "FIELD=VALUE); for the whole list, send to the list").with_web(
            msg("a segment needs at least one condition (FIELD=VALUE); for the whole list, "
                "send to the list")), field="where")
    store.save(session, name, get_list(session, list_slug), [c.text for c in conds])
    return _info(session, name)


def segments(session: Session) -> list[SegmentInfo]:
    """Every saved segment with how many match now."""
    return [_info(session, seg.name) for seg in store.every(session)]


def get(session: Session, name: str) -> SegmentInfo:
    return _info(session, name)


def remove(session: Session, name: str) -> None:
    """Forget a saved segment (mailings already planned keep their conditions)."""
    store.remove(session, name)
