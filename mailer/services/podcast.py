"""Podcast episodes from the podcast's feed into an issue (``mailer podcast add``, the
admin's "Hämta avsnitt från flödet"): fetch, choose, append as ``podcast`` items with
the round-trip editor, then the issue check on what was added. The file is written only
when the feed was read and the episodes are complete, so a broken or unreachable feed
changes nothing."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from mailer.authoring.edit import IssueFile
from mailer.authoring.load import document_path, load_document
from mailer.authoring.podcast import Episode, FeedError, choose, complete, episode_item, parse_feed
from mailer.domain.findings import msg
from mailer.errors import MailerError, Problem

MAX_FEED_BYTES = 10 * 1024 * 1024
MAX_LATEST = 50


@dataclass
class PodcastAdded:
    path: Path
    feed_title: str
    section: int  # index of the section the items went to
    section_created: bool
    added: list[tuple[int, Episode]] = field(default_factory=list)  # (item index, episode)
    already: list[Episode] = field(default_factory=list)  # their link is in the issue
    problems: list[Problem] = field(default_factory=list)  # the check's, on the new items


def _item_of(field_name: str | None) -> str | None:
    m = re.match(r"sections\[\d+\]\.items\[\d+\]", field_name or "")
    return m.group(0) if m else None


def fetch_feed(url: str, *, timeout: float = 20.0) -> bytes:
    """The feed's bytes; MailerError (naming the address and the fix) otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FeedError(msg("feed address %(url)r must be an http(s) URL, e.g. "
                            "https://podcast.example.org/feed.xml", url=url))
    try:
        with httpx.Client(timeout=timeout, follow_redirects=True, max_redirects=5,
                          headers={"user-agent": "mailer-podcast/1",
                                   "accept": "application/rss+xml, application/xml, */*"}
                          ) as client, client.stream("GET", url) as resp:
            if resp.status_code >= 400:
                raise FeedError(msg("%(url)s answered HTTP %(status)s; check the feed "
                                    "address", url=url, status=resp.status_code))
            chunks: list[bytes] = []
            size = 0
            for chunk in resp.iter_bytes():
                size += len(chunk)
                if size > MAX_FEED_BYTES:
                    raise FeedError(msg("%(url)s: the feed is larger than %(n)s MB; is it "
                                        "a feed?", url=url, n=MAX_FEED_BYTES // 1024 // 1024))
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.TimeoutException:
        raise FeedError(msg("%(url)s: no answer within %(seconds)s s; try again later or "
                            "check the address", url=url, seconds=f"{timeout:g}")) from None
    except httpx.TooManyRedirects:
        raise FeedError(msg("%(url)s: too many redirects; give the feed's final address",
                            url=url)) from None
    except httpx.HTTPError as exc:
        raise FeedError(msg("cannot reach %(url)s (%(why)s); check the address and that its "
                            "server answers", url=url, why=str(exc))) from None


def add_from_feed(issue: Path, feed_url: str, *, episode: int | None = None,
                  guid: str | None = None, latest: int | None = None,
                  section: str | None = None, timeout: float = 20.0,
                  today: dt.date | None = None) -> PodcastAdded:
    """Append the chosen episodes (default: the newest) to the issue as podcast items."""
    if sum(x is not None for x in (episode, guid, latest)) > 1:
        raise MailerError("choose the episodes with one of --episode, --guid or --latest")
    if latest is not None and not 1 <= latest <= MAX_LATEST:
        raise MailerError(f"--latest must be between 1 and {MAX_LATEST}")
    path = document_path(issue)
    doc = IssueFile(path.parent)  # before fetching: a file the form cannot open stops here
    if doc.data.get("kind", "newsletter") != "newsletter":
        raise MailerError(msg("%(path)s is not a newsletter issue; podcast items belong in "
                              "one", path=str(path)))
    feed = parse_feed(fetch_feed(feed_url, timeout=timeout), feed_url)
    chosen = complete(feed, choose(feed, episode=episode, guid=guid, latest=latest))
    present = doc.item_links()
    new = [e for e in chosen if e.link.strip() not in present]
    already = [e for e in chosen if e.link.strip() in present]
    if section is not None:
        s, created = doc.section_index(section), False
    else:
        found = doc.last_section_with("podcast")
        s, created = (found, False) if found is not None else (-1, True)
    result = PodcastAdded(path, feed.title, s, created and bool(new), already=already)
    if not new:
        return result
    if created:
        s = result.section = doc.add_section(feed.title or "Podcast")
    indexes = doc.append_items(s, [episode_item(e, feed.title) for e in new])
    result.added = list(zip(indexes, new, strict=True))
    doc.save()
    loaded = load_document(path, today=today)
    mine = {f"sections[{s + 1}].items[{i + 1}]" for i in indexes}
    result.problems = [p for p in loaded.problems if _item_of(p.field) in mine]
    return result
