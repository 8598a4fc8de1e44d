"""The seam between rendering and delivery."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with every copy of a mailing (e.g. the meetings as ``inbjudan.ics``)."""

    filename: str
    content_type: str  # e.g. "text/calendar; method=PUBLISH; charset=UTF-8"
    data: bytes


@dataclass(frozen=True, slots=True)
class RenderedMailing:
    """What rendering produces once per mailing; delivery fills it per recipient.

    ``html`` and ``text`` may contain ``%%field%%`` placeholders (see
    ``mailer.render.personalise.FIELDS``); ``subject`` is the same for everyone.
    ``attachments`` are the same for everyone too.
    """

    subject: str
    html: str
    text: str
    language: str = "sv"
    preheader: str = ""
    attachments: tuple[Attachment, ...] = ()

    def with_attachments(self, *files: Attachment) -> RenderedMailing:
        return replace(self, attachments=(*self.attachments, *files))
