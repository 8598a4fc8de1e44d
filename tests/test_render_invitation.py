"""Invitation mail rendered once: invitation, reminder, confirmation (.ics), re-confirmation."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from icalendar import Calendar

from mailer.domain.invitation import parse_invitation
from mailer.render.documents import renderer_for
from mailer.render.engine import RenderOptions
from mailer.render.invitation import (
    cost_text,
    render_confirmation,
    render_invitation,
    render_reconfirmation,
    render_reminder,
)
from tests.invite_helpers import invitation_data, officials

NOW = datetime(2023, 2, 1, 10, tzinfo=UTC)


def _links(html: str) -> list[str]:
    return re.findall(r'href="([^"]+)"', html)


def test_the_invitation_in_swedish() -> None:
    r = renderer_for("invitation")(officials(), RenderOptions())
    assert r == render_invitation(officials())
    assert r.subject.startswith("Inbjudan till professionsnätverk")
    assert '<html lang="sv"' in r.html and len(r.html.encode()) < 102 * 1024
    for text in (r.html, r.text):
        for words in ("Bakgrund", "Nätverkets upplägg", "Mål", "Målgrupp", "Tidplan",
                      "900 kr/år/person", "Platsen kan överlåtas till annan person i samma "
                      "organisation", "15 februari 2023", "10.00–15.00", "Digitalt via Zoom",
                      "070-311 1708", "Ulrika Stöök", "Lena Langlet", "Sektionschef"):
            assert words.casefold() in text.casefold(), words
    assert all(link.startswith(("https://", "mailto:", "tel:", "%%")) for link in _links(r.html))
    assert "EDIT=of%20f&amp;" in r.html and "EDIT=of%20f&" in r.text
    assert "%%unsubscribe_url%%" in r.html and "%%unsubscribe_url%%" in r.text


def test_the_reminder_subject_and_body() -> None:
    r = render_reminder(officials(), "7d")
    assert r.subject == "Påminnelse: sista anmälningsdag 15 februari"
    assert "%%greeting%%" in r.text
    assert "Sista anmälningsdag är 15 februari 2023" in r.text
    assert "inte har anmält dig" in " ".join(r.text.split())  # wherever the line breaks


def test_english() -> None:
    data = invitation_data()
    data["language"] = "en"
    data["subject"] = ""
    inv = parse_invitation(data)
    r = render_reminder(inv, "1d")
    assert r.subject == "Reminder: last day to register 15 February"
    assert '<html lang="en"' in r.html
    assert "We have not yet received a registration from you" in r.text
    assert render_invitation(inv).subject.startswith("Invitation: Professionsnätverk")
    assert cost_text(inv.cost, "en") == "SEK 900 per person and year"
    assert "The seat can be transferred" in render_invitation(inv).text


@pytest.mark.parametrize("left_out", ["structure", "background", "included"])
def test_an_invitation_without_one_of_its_parts_renders(left_out: str) -> None:
    # The masterclass seed has a background and no "upplägg": an invitation without
    # structure: (or without background:) must render, not stop the send with a 500.
    data = invitation_data()
    del data[left_out]
    r = render_invitation(parse_invitation(data))
    heading = {"structure": "Bakgrund", "background": "Nätverkets upplägg",
               "included": "Nätverkets upplägg"}[left_out]
    for text in (r.html, r.text):
        assert heading.casefold() in text.casefold(), heading
    if left_out == "structure":
        assert "Följande ingår:" in r.html  # the list of what is included keeps its heading's place
    if left_out == "included":
        assert "Följande ingår:" not in r.html


@pytest.mark.parametrize("mode", ["form", "link"])
def test_a_reminder_asks_to_forward_it_only_when_its_link_is_not_personal(mode: str) -> None:
    # Our own form's link registers the person it was sent to: "please forward this
    # e-mail" sent a colleague to a form that said "Du anmäler dig som fi…@malmo.se".
    data = invitation_data()
    if mode == "form":
        data["registration"] = {"mode": "form", "deadline": "2023-02-15"}
    r = render_reminder(parse_invitation(data), "7d")
    for text in (" ".join(r.text.split()), r.html):
        assert ("Skicka gärna vidare det här mejlet" in text) == (mode == "link")
        assert ("Länken ovan anmäler dig." in text) == (mode == "form")
        # Our own form records a registration at once: no "a day to reach us" there.
        assert ("det kan ta en dag innan anmälan når oss" in text) == (mode == "link")
        assert ("Har du anmält dig alldeles nyss" in text) == (mode == "form")


def test_form_registration_uses_the_personal_link() -> None:
    data = invitation_data()
    data["registration"] = {"mode": "form", "deadline": "2023-02-15"}
    r = render_invitation(parse_invitation(data))
    assert 'href="%%register_url%%"' in r.html and "%%register_url%%" in r.text


def test_email_registration() -> None:
    data = invitation_data()
    data["registration"] = {"mode": "email", "email": "lena.langlet@skl.se",
                            "deadline": "2023-02-15"}
    r = render_invitation(parse_invitation(data))
    assert "mailto:lena.langlet@skl.se?subject=Anm%C3%A4lan%3A%20" in r.html
    assert "Anmälan sker via e-post till lena.langlet@skl.se." in r.text


def test_confirmation_carries_the_calendar() -> None:
    r = render_confirmation(officials(), "2023-natverk-tjanstepersoner", domain="example.org",
                            now=NOW)
    assert r.subject.startswith("Bekräftelse på din anmälan: ")
    (ics,) = r.attachments
    assert (ics.filename, ics.content_type.split(";")[0]) == ("inbjudan.ics", "text/calendar")
    assert len(list(Calendar.from_ical(ics.data).walk("VEVENT"))) == 3
    assert "inbjudan.ics" in r.text
    waiting = render_confirmation(officials(), "x", domain="example.org", now=NOW,
                                  waitlisted=True)
    assert waiting.attachments == () and "väntelistan" in waiting.text


@pytest.mark.parametrize("year", [2024, 2026])
def test_reconfirmation(year: int) -> None:
    r = render_reconfirmation(officials(), year)
    assert r.subject.startswith(f"Fortsätter du i nätverket {year}?")
    assert f"15 december {year - 1}" in r.text and "%%register_url%%" in r.html


def test_cost_texts() -> None:
    from mailer.domain.invitation import Cost

    assert cost_text(Cost.model_validate({"amount": 8000, "per": "organisation"}), "sv") \
        == "8\xa0000 kr/år/organisation"
    assert cost_text(Cost.model_validate("kostnadsfritt"), "sv") == "Kostnadsfritt"
