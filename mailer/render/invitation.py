"""Render invitation mail once per mailing: the invitation, reminder, confirmation, re-confirmation.

Each returns a ``RenderedMailing`` whose HTML and text keep ``%%field%%`` placeholders
(``%%register_url%%`` for the built-in form) for delivery's per-recipient fill. The
confirmation carries the meetings as an ``.ics`` attachment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from mailer.domain.invitation import (
    Cost,
    CostPer,
    CostPeriod,
    Invitation,
    Meeting,
    RegistrationMode,
    seats_text,
)
from mailer.render import i18n
from mailer.render.engine import RenderOptions, render_mailing
from mailer.render.ics import CONTENT_TYPE, ics_filename, meeting_place, meetings_ics
from mailer.render.personalise import placeholder
from mailer.render.types import Attachment, RenderedMailing

#: What a cost is per, in the seed's Swedish style (``900 kr/år/person``).
_COST_PER = {
    (CostPer.person, CostPeriod.year): i18n.N_("%(amount)s per person and year"),
    (CostPer.organisation, CostPeriod.year): i18n.N_("%(amount)s per organisation and year"),
    (CostPer.person, CostPeriod.once): i18n.N_("%(amount)s per person"),
    (CostPer.organisation, CostPeriod.once): i18n.N_("%(amount)s per organisation"),
}


def cost_text(cost: Cost, language: str) -> str:
    """``900 kr/år/person`` as the seed writes it; ``SEK 900 per person and year``; the
    mail and the registration page alike."""
    tr = i18n.Translator(language)
    if cost.free or cost.amount is None:
        return tr.gettext("Free of charge")
    money = i18n.format_kronor(cost.amount, language)
    text = tr.gettext(_COST_PER[cost.per, cost.period]) % {
        "amount": money}
    if cost.first_year_free:
        text = tr.gettext("%(cost)s (the first year is free)") % {"cost": text}
    return text


@dataclass(frozen=True, slots=True)
class MeetingView:
    title: str
    day: str
    time: str
    where: str
    note: str
    url: str
    tentative: bool


def meeting_view(m: Meeting, language: str) -> MeetingView:
    return MeetingView(m.title, i18n.format_day(m.date, language),
                       i18n.format_time_range(m.start, m.end, language),
                       meeting_place(m, language), m.note,
                       m.url or "", m.tentative)


def register_href(inv: Invitation) -> str:
    """Where the button goes: the external system, our form (per person), or an e-mail."""
    reg = inv.registration
    if reg.mode is RegistrationMode.link and reg.url:
        return reg.url
    if reg.mode is RegistrationMode.email and reg.email:
        from urllib.parse import quote

        subject = i18n.Translator(inv.language).gettext("Registration: %(title)s") % {
            "title": inv.title}
        return f"mailto:{reg.email}?subject={quote(subject)}"
    return placeholder("register_url")


def context(inv: Invitation, options: RenderOptions,
            language: str | None = None) -> dict[str, object]:
    """What every invitation template reads, with dates and cost in ``language`` (default:
    the invitation's)."""
    lang = language or inv.language
    deadline_day: date = inv.deadline.date()
    return {
        "inv": inv,
        "organiser": inv.organiser,
        "meetings": [meeting_view(m, lang) for m in inv.meetings],
        "first": meeting_view(inv.first_meeting, lang) if inv.first_meeting else None,
        "cost": cost_text(inv.cost, lang),
        "seats": i18n.Translator(lang).localise(seats_text(inv.seats)),
        "seats_n": (f"{inv.seats.min}–{inv.seats.max}" if inv.seats.min < inv.seats.max
                    else str(inv.seats.max)),
        "deadline": i18n.format_day(deadline_day, lang),
        "deadline_short": i18n.format_day_month(deadline_day, lang),
        "deadline_time": (i18n.format_clock(inv.deadline.time(), lang)
                          if (inv.deadline.hour, inv.deadline.minute) != (23, 59) else ""),
        "register_href": register_href(inv),
        "register_label": inv.registration.label,
        "by_email": inv.registration.mode is RegistrationMode.email,
        "by_link": inv.registration.mode is RegistrationMode.link,
        "assets": (options.asset_base_url or "").rstrip("/"),
        "newsletter_name": inv.organiser.name,
        "sender_organisation": " – ".join(x for x in (inv.organiser.name, inv.organiser.unit)
                                          if x),
    }


def render_invitation(inv: Invitation, options: RenderOptions | None = None) -> RenderedMailing:
    """The invitation letter with every fact, rendered once for the whole mailing."""
    opts = options or RenderOptions()
    subject = i18n.Translator(inv.language).localise(inv.mail_subject)
    return render_mailing("invitation", context(inv, opts), subject=subject,
                          language=inv.language, preheader=inv.preheader, options=opts,
                          brand=inv.brand or None)


def reminder_subject(inv: Invitation) -> str:
    """``Påminnelse: sista anmälningsdag 15 februari``."""
    tr = i18n.Translator(inv.language)
    return tr.gettext("Reminder: last day to register %(date)s") % {
        "date": i18n.format_day_month(inv.deadline.date(), inv.language)}


def render_reminder(inv: Invitation, offset_key: str,
                    options: RenderOptions | None = None) -> RenderedMailing:
    opts = options or RenderOptions()
    subject = reminder_subject(inv)
    ctx = {**context(inv, opts), "offset": offset_key}
    return render_mailing("reminder", ctx, subject=subject, language=inv.language,
                          preheader=f"{inv.title}", options=opts, brand=inv.brand or None)


def render_confirmation(inv: Invitation, slug: str, *, domain: str, now: datetime,
                        waitlisted: bool = False, options: RenderOptions | None = None,
                        language: str | None = None,
                        unsubscribe_link: bool = True) -> RenderedMailing:
    """The registration confirmation in ``language`` (default: the invitation's), with
    the meetings as ``inbjudan.ics`` (``invitation.ics``, also in ``language``) unless the
    person is on the wait list; without ``unsubscribe_link`` (the person was invited
    through no list) the footer offers only the preferences."""
    opts = options or RenderOptions()
    lang = language or inv.language
    tr = i18n.Translator(lang)
    subject = (tr.gettext("Waiting list: %(title)s") if waitlisted
               else tr.gettext("Registration confirmed: %(title)s")) % {"title": inv.title}
    # One person's confirmation is not in the public archive: no "view in browser" link.
    filename = ics_filename(lang)
    ctx = {**context(inv, opts, lang), "waitlisted": waitlisted, "ics_name": filename,
           "browser_link": False, "unsubscribe_link": unsubscribe_link}
    rendered = render_mailing("registration_confirmation", ctx, subject=subject,
                              language=lang, options=opts, brand=inv.brand or None)
    if not inv.meetings or waitlisted:
        return rendered
    ics = Attachment(filename, CONTENT_TYPE, meetings_ics(
        inv, slug, domain=domain, now=now.astimezone(UTC), language=lang))
    return rendered.with_attachments(ics)


def render_reconfirmation(inv: Invitation, year: int,
                          options: RenderOptions | None = None) -> RenderedMailing:
    """"Fortsätter du i nätverket 2024?" with the answer-by date and the answer link."""
    opts = options or RenderOptions()
    tr = i18n.Translator(inv.language)
    answer_by = inv.period.reconfirmation_answer_by(year) if inv.period else None
    subject = tr.gettext("Will you continue in %(year)s? %(title)s") % {
        "year": year, "title": inv.title}
    ctx = {**context(inv, opts), "year": year, "browser_link": False,  # not in the archive
           "answer_by": i18n.format_day(answer_by, inv.language) if answer_by else ""}
    return render_mailing("reconfirmation", ctx, subject=subject, language=inv.language,
                          options=opts, brand=inv.brand or None)


def _register() -> None:
    from mailer.render.documents import register_renderer

    register_renderer("invitation", render_invitation)


_register()
