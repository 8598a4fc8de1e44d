"""The meetings of an invitation as an iCalendar file (METHOD:PUBLISH) for Outlook and Gmail.

Times carry TZID with a VTIMEZONE made by the icalendar library from the zone database,
so a meeting at 10:00 in Stockholm stays at 10:00 on both sides of a DST change. Each
meeting has a stable UID (slug + position, or its own ``uid``), so a corrected date sent
later updates the same calendar entry instead of adding a second one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event

from mailer.domain.invitation import Invitation, Meeting
from mailer.render.i18n import N_, Translator

PRODID = "-//mailer//invitations//SV"
FILENAME = N_("invitation.ics")  # the attachment's name: "inbjudan.ics" in Swedish
CONTENT_TYPE = "text/calendar; method=PUBLISH; charset=UTF-8"


def meeting_uid(slug: str, index: int, domain: str) -> str:
    return f"{slug}-{index + 1}@{domain}"


def meeting_place(m: Meeting, language: str) -> str:
    """Where a meeting is, as the letter says it: ``Stockholm``, ``Digitalt via Zoom`` /
    ``Online via Zoom``, ``Digitalt`` / ``Online``."""
    tr = Translator(language)
    if m.place:
        return m.place
    if m.platform:
        return tr.gettext("Online via %(platform)s") % {"platform": m.platform}
    return tr.gettext("Online")


def _location(m: Meeting, language: str) -> str:
    """The calendar's location, which also names the online part of a meeting in a place."""
    if m.place and m.is_online:
        tr = Translator(language)
        if m.platform:
            return tr.gettext("%(place)s, or online via %(platform)s") % {
                "place": m.place, "platform": m.platform}
        return tr.gettext("%(place)s, or online") % {"place": m.place}
    return meeting_place(m, language)


def ics_filename(language: str) -> str:
    """``inbjudan.ics`` / ``invitation.ics``."""
    return Translator(language).gettext(FILENAME)


def _description(inv: Invitation, m: Meeting, language: str) -> str:
    parts = [inv.title]
    if m.note:
        parts.append(m.note)
    if m.url:
        parts.append(m.url)
    contact = next((c for c in inv.contacts if c.email), None)
    if contact:
        line = Translator(language).gettext("Contact: %(name)s <%(email)s>") % {
            "name": contact.name, "email": contact.email}
        parts.append(line + (f", {contact.phone}" if contact.phone else ""))
    return "\n\n".join(parts)


def meetings_calendar(invitation: Invitation, slug: str, *, domain: str,
                      now: datetime, language: str | None = None) -> Calendar:
    """A calendar with one VEVENT per meeting (all-day when the invitation gives no time),
    its words in ``language`` (default: the invitation's)."""
    lang = language or invitation.language
    tz = invitation.tz
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", invitation.title)
    cal.add("x-wr-timezone", invitation.timezone)
    for i, m in enumerate(invitation.meetings):
        ev = Event()
        ev.add("uid", meeting_uid(slug, i, domain))
        ev.add("dtstamp", now.astimezone(UTC))
        ev.add("summary", m.title or invitation.title)
        if m.start is None:
            ev.add("dtstart", m.date)
            ev.add("dtend", m.date + timedelta(days=1))
        else:
            ev.add("dtstart", m.starts_at(tz))
            end = m.ends_at(tz)
            if end is not None:
                ev.add("dtend", end)
        ev.add("location", _location(m, lang))
        ev.add("description", _description(invitation, m, lang))
        if m.url:
            ev.add("url", m.url)
        ev.add("status", "TENTATIVE" if m.tentative else "CONFIRMED")
        ev.add("transp", "OPAQUE")
        cal.add_component(ev)
    cal.add_missing_timezones()
    return cal


def meetings_ics(invitation: Invitation, slug: str, *, domain: str, now: datetime,
                 language: str | None = None) -> bytes:
    """The .ics bytes (CRLF line endings, folded lines, as RFC 5545 asks)."""
    ical: bytes = meetings_calendar(invitation, slug, domain=domain, now=now,
                                    language=language).to_ical()
    return ical
