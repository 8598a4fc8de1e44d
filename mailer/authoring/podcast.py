"""Podcast episodes from an RSS 2.0 / iTunes feed, as ``podcast`` items of an issue.

Pure: bytes in, items out (fetching is ``services.podcast``'s job). feedparser reads the
feed; the show notes' HTML is cleaned with nh3 and turned into the issue's Markdown with
markdownify; participants come from Podcasting 2.0 ``<podcast:person>`` elements, which
feedparser does not keep, so those are read from the XML directly.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from html import escape, unescape
from typing import Any
from xml.sax import SAXParseException

import feedparser
import nh3
from markdownify import markdownify
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import FoldedScalarString, LiteralScalarString

from mailer.domain.findings import msg
from mailer.errors import MailerError

PODCAST_NS = "https://podcastindex.org/namespace/1.0"
#: How much of the show notes becomes the summary (the editor can change it).
SUMMARY_PARAGRAPHS = 3
SUMMARY_CHARS = 1200
_TAGS = {"p", "br", "a", "strong", "b", "em", "i", "ul", "ol", "li"}


class FeedError(MailerError):
    """The feed cannot be read or does not have what was asked for."""


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    role: str = ""  # as the feed says: "guest", "host", …


@dataclass(frozen=True, slots=True)
class Episode:
    guid: str
    title: str
    link: str
    number: int | None = None
    date: dt.date | None = None
    minutes: int | None = None
    summary: str = ""  # Markdown
    shortened: bool = False  # the show notes were longer than the summary
    people: tuple[Person, ...] = ()

    @property
    def label(self) -> str:
        return f"#{self.number} {self.title}" if self.number else self.title


@dataclass(frozen=True, slots=True)
class Feed:
    url: str
    title: str
    episodes: list[Episode] = field(default_factory=list)  # newest first


def _minutes(value: Any) -> int | None:
    """itunes:duration: seconds, MM:SS or HH:MM:SS -> whole minutes (at least 1)."""
    text = str(value or "").strip()
    if not text:
        return None
    try:
        parts = [float(p) for p in text.split(":")]
    except ValueError:
        return None
    if len(parts) > 3 or any(p < 0 for p in parts):
        return None
    seconds = 0.0
    for p in parts:
        seconds = seconds * 60 + p
    return max(1, round(seconds / 60)) if seconds else None


def _date(entry: Any) -> dt.date | None:
    """The publication date as the feed states it (its own zone, not UTC)."""
    raw = entry.get("published") or entry.get("updated")
    if raw:
        try:
            return parsedate_to_datetime(raw).date()
        except (TypeError, ValueError):
            pass
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    return dt.date(parsed.tm_year, parsed.tm_mon, parsed.tm_mday) if parsed else None


def _number(entry: Any) -> int | None:
    raw = str(entry.get("itunes_episode") or "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    m = re.match(r"^\s*(?:#|avsnitt\s+|episode\s+|ep\.?\s*)?(\d{1,5})\s*[.:–-]\s", entry.get(
        "title", ""), re.IGNORECASE)
    return int(m.group(1)) if m else None


def _title(entry: Any, number: int | None) -> str:
    title = " ".join(str(entry.get("title") or "").split())
    if number is not None:  # "103. Otillåten påverkan" -> "Otillåten påverkan"
        title = re.sub(rf"^(?:#|avsnitt\s+|episode\s+|ep\.?\s*)?{number}\s*[.:–-]\s*", "",
                       title, flags=re.IGNORECASE)
    return title


def show_notes_markdown(html: str) -> tuple[str, bool]:
    """Cleaned Markdown of the show notes, shortened to a summary; and whether it was."""
    if not re.search(r"</?[a-zA-Z][^>]*>", html):  # plain text: keep its paragraphs
        html = "".join(f"<p>{escape(p.strip()).replace(chr(10), '<br>')}</p>"
                       for p in re.split(r"\n\s*\n", unescape(html)) if p.strip())
    clean = nh3.clean(html, tags=_TAGS, attributes={"a": {"href"}},
                      url_schemes={"https", "http", "mailto"}, link_rel=None)
    md = markdownify(clean, heading_style="ATX", bullets="-",
                     newline_style="BACKSLASH")
    md = re.sub(r"[ \t]+\n", "\n", md)
    paragraphs = [p.strip() for p in re.split(r"\n{2,}", md) if p.strip()]
    kept: list[str] = []
    for p in paragraphs:
        if len(kept) >= SUMMARY_PARAGRAPHS or (kept and sum(map(len, kept)) + len(p)
                                               > SUMMARY_CHARS):
            break
        kept.append(p)
    return "\n\n".join(kept), len(kept) < len(paragraphs)


def _people(data: bytes) -> dict[str, tuple[Person, ...]]:
    """``<podcast:person role="…">Name</podcast:person>`` per item guid (or link)."""
    out: dict[str, tuple[Person, ...]] = {}
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return out
    for item in root.iter("item"):
        people = tuple(Person(" ".join((p.text or "").split()), (p.get("role") or "").lower())
                       for p in item.iter(f"{{{PODCAST_NS}}}person") if (p.text or "").strip())
        key = (item.findtext("guid") or item.findtext("link") or "").strip()
        if people and key:
            out[key] = people
    return out


def parse_feed(data: bytes, url: str) -> Feed:
    """Read a podcast feed; FeedError says what is wrong with it."""
    parsed = feedparser.parse(data)
    if not parsed.get("version"):
        raise FeedError(msg("%(url)s: not an RSS or Atom feed; give the podcast's RSS feed "
                            "address (not its web page)", url=url))
    exc = parsed.get("bozo_exception")
    if isinstance(exc, SAXParseException):  # broken XML: what was recovered may be wrong
        raise FeedError(msg("%(url)s: the feed is not well-formed XML at line %(line)s, "
                            "column %(column)s (%(why)s); check that the address is the "
                            "podcast's RSS feed, or ask its publisher to fix it", url=url,
                            line=exc.getLineNumber(), column=exc.getColumnNumber(),
                            why=exc.getMessage()))
    people = _people(data)
    episodes = []
    for entry in parsed.entries:
        number = _number(entry)
        link = entry.get("link") or next(
            (x.get("href") for x in entry.get("enclosures", []) if x.get("href")), "")
        guid = str(entry.get("id") or link)
        html = entry.get("content", [{}])[0].get("value") if entry.get("content") else None
        summary, shortened = show_notes_markdown(html or entry.get("summary") or "")
        episodes.append(Episode(
            guid=guid, title=_title(entry, number), link=str(link), number=number,
            date=_date(entry), minutes=_minutes(entry.get("itunes_duration")),
            summary=summary, shortened=shortened,
            people=people.get(guid, people.get(str(link), ()))))
    episodes.sort(key=lambda e: (e.date or dt.date.min, e.number or 0), reverse=True)
    return Feed(url, " ".join(str(parsed.feed.get("title") or "").split()), episodes)


def choose(feed: Feed, *, episode: int | None = None, guid: str | None = None,
           latest: int | None = None) -> list[Episode]:
    """The episodes asked for (default: the newest one), oldest first."""
    if not feed.episodes:
        raise FeedError(msg("%(url)s: the feed has no episodes", url=feed.url))
    if episode is not None:
        found = [e for e in feed.episodes if e.number == episode]
        if not found:
            numbers = sorted(e.number for e in feed.episodes if e.number)
            if not numbers:
                raise FeedError(msg("%(url)s: episode %(episode)s is not in the feed (its "
                                    "episodes have no numbers; use --guid or --latest)",
                                    url=feed.url, episode=episode))
            raise FeedError(msg("%(url)s: episode %(episode)s is not in the feed (it has "
                                "%(first)s–%(last)s)", url=feed.url, episode=episode,
                                first=numbers[0], last=numbers[-1]))
        return found[:1]
    if guid is not None:
        found = [e for e in feed.episodes if e.guid == guid]
        if not found:
            raise FeedError(msg("%(url)s: no episode with guid %(guid)r", url=feed.url,
                                guid=guid))
        return found
    return list(reversed(feed.episodes[: latest or 1]))


def complete(feed: Feed, episodes: list[Episode]) -> list[Episode]:
    """The episodes, or FeedError naming one that lacks a title or link."""
    for e in episodes:
        if not e.title or not e.link:
            missing = "title" if not e.title else "link"
            raise FeedError(f"{feed.url}: episode {e.label or e.guid!r} has no {missing} in "
                            "the feed; add it by hand in the issue instead")
    return episodes


def episode_item(ep: Episode, series: str) -> CommentedMap:
    """The issue.yaml mapping of a ``podcast`` item, keys in the house order."""
    item = CommentedMap()
    item["type"] = "podcast"
    if series:
        item["series"] = series
    if ep.number is not None:
        item["number"] = ep.number
    item["title"] = ep.title
    if ep.date is not None:
        item["date"] = ep.date
    if ep.minutes is not None:
        item["minutes"] = ep.minutes
    if ep.summary:
        item["summary"] = (LiteralScalarString(ep.summary + "\n") if "\n" in ep.summary
                           else FoldedScalarString(ep.summary))
    guests = [p for p in ep.people if p.role != "host"]
    hosts = [p for p in ep.people if p.role == "host"]
    if guests:
        seq = CommentedSeq()
        for p in guests:
            person = CommentedMap()
            person["name"] = p.name
            seq.append(person)
        item["participants"] = seq
    if hosts:
        host = CommentedMap()
        host["name"] = hosts[0].name
        item["host"] = host
    item["link"] = ep.link
    return item
