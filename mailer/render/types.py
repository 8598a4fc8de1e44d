"""The seam between rendering and delivery."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RenderedMailing:
    """What rendering produces once per mailing; delivery fills it per recipient.

    ``html`` and ``text`` may contain ``%%field%%`` placeholders (see
    ``mailer.render.personalise.FIELDS``); ``subject`` is the same for everyone.
    """

    subject: str
    html: str
    text: str
    language: str = "sv"
    preheader: str = ""
