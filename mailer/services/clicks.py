"""Click statistics, privacy first: opt-in per mailing, counted in aggregate.

A tracked mailing's links point at ``MAILER_BASE_URL/l/<token>/<tag>``: the token (signed
with the workspace secret) names the mailing and the link's position, the target comes
from the stored mailing (never from the request, so the redirect is never open), and the
tag is a keyed hash of the copy, so distinct clicking copies are counted without storing
who they are. Only with ``click_tracking_per_person = true`` (and the sentence that the
preferences page then shows) does the tag carry the outbox row, and each click is
recorded per person. There is no open-tracking pixel.
"""

from __future__ import annotations

import csv
import hmac
import io
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from mailer.errors import NotFound
from mailer.links import trackable_links
from mailer.services.mailings import get_mailing
from mailer.store import clicks as store
from mailer.store import outbox
from mailer.store.models import Mailing
from mailer.tokens import BadToken, Tokens

_TAG = re.compile(r"(?:(\d{1,18})\.)?([A-Za-z0-9_-]{12})")


def prepare(session: Session, mailing: Mailing, base_url: str, *, per_person: bool) -> int:
    """Turn on click statistics for a mailing being planned: store its trackable links
    (everything but our own pages and placeholders). Returns how many are tracked."""
    targets = trackable_links(mailing.html, base_url)
    mailing.headers = {**(mailing.headers or {}), "click_links": targets,
                       "click_per_person": per_person}
    store.add_links(session, mailing.id, targets)
    return len(targets)


def follow(session: Session, tokens: Tokens, token: str, tag: str, now: datetime) -> str:
    """Count a click and return where it goes; ``NotFound`` for a link that is not ours."""
    try:
        mailing_id, position = tokens.read_click(token)
    except BadToken:
        raise NotFound("this link is not valid (it may have been altered)") from None
    url = store.target(session, mailing_id, position)
    if url is None:
        raise NotFound("this link is not valid (its mailing no longer exists)")
    key, outbox_id = "", None
    m = _TAG.fullmatch(tag or "")
    if m is not None:
        row, mac = m.groups()
        if row is None:
            key = mac
        elif hmac.compare_digest(mac, tokens.click_tag(mailing_id, int(row))):
            key = mac
            mailing = get_mailing(session, mailing_id)
            if (mailing.headers or {}).get("click_per_person"):
                outbox_id = int(row)
    store.record(session, mailing_id, position, key, outbox_id, now)
    return url


@dataclass(frozen=True, slots=True)
class LinkStats:
    position: int
    url: str
    clicks: int
    clickers: int  # distinct copies that clicked this link


@dataclass(frozen=True, slots=True)
class ClickReport:
    mailing_id: int
    name: str
    tracked: bool
    per_person: bool
    sent: int
    unique_clickers: int
    links: list[LinkStats]
    people: list[tuple[str, int, datetime]]  # per-person clicks, only when that was on

    @property
    def clicks(self) -> int:
        return sum(link.clicks for link in self.links)

    @property
    def click_rate(self) -> float:
        """Unique clickers per copy sent."""
        return self.unique_clickers / self.sent if self.sent else 0.0


def report(session: Session, ref: str | int) -> ClickReport:
    """Clicks per link and distinct clicking copies of one mailing."""
    mailing = get_mailing(session, ref)
    h = mailing.headers or {}
    per_person = bool(h.get("click_per_person"))
    counts = outbox.counts(session, [mailing.id]).get(mailing.id, {})
    return ClickReport(
        mailing.id, mailing.name, "click_links" in h, per_person, counts.get("sent", 0),
        store.unique_clickers(session, mailing.id),
        [LinkStats(link.position, link.url, link.clicks, link.clickers)
         for link in store.links(session, mailing.id)],
        store.person_clicks(session, mailing.id) if per_person else [])


def to_csv(r: ClickReport) -> str:
    """The report as CSV (UTF-8, comma, header row): one row per link, then per person."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["mailing", "position", "url", "clicks", "unique_clickers"])
    for link in r.links:
        w.writerow([r.mailing_id, link.position + 1, link.url, link.clicks, link.clickers])
    if r.people:
        w.writerow([])
        w.writerow(["mailing", "email", "position", "clicked_at"])
        for email, pos, at in r.people:
            w.writerow([r.mailing_id, email, pos + 1, at.isoformat()])
    return buf.getvalue()
