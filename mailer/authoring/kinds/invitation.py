"""The ``invitation`` kind: a network, masterclass or seminar one registers for."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, time

from mailer.authoring.registry import CheckContext, register_kind
from mailer.domain.content import check_markdown
from mailer.domain.findings import Finding
from mailer.domain.invitation import Invitation, RegistrationMode
from mailer.domain.urls import is_insecure

#: The Markdown fields of an invitation, checked for broken links like a newsletter's.
MARKDOWN_FIELDS = ("letter", "background", "structure", "goals", "target_group", "timeline")


def check_invitation(inv: Invitation, ctx: CheckContext) -> Iterator[Finding]:
    """The cross-field rules, Markdown, links; "deadline passed" relative to ``ctx.today``."""
    now = datetime.combine(ctx.today, time(0), tzinfo=inv.tz) if ctx.today else None
    yield from inv.findings(now)
    for name in MARKDOWN_FIELDS:
        yield from check_markdown((name,), getattr(inv, name))
    url = inv.registration.url
    if url and is_insecure(url):
        yield Finding(("registration", "url"), f"{url!r} uses http://; use https:// if the "
                      "registration system has it", "warning")
    if inv.registration.mode is RegistrationMode.form and not inv.lists:
        yield Finding(("lists",), "no lists: name the lists to invite (lists: [demo]) or give "
                      "--list when sending", "warning")
    if not inv.contacts:
        yield Finding(("contacts",), "no contacts: add at least one person invitees can ask "
                      "(name, email, phone)", "warning")
    if not inv.preheader:
        yield Finding(("preheader",), "no preheader: inboxes will show the first words of the "
                      "letter instead; add preheader: with one line", "warning")


def check_partial(data: Mapping[str, object], ctx: CheckContext) -> Iterator[Finding]:
    """When the shape is wrong, still check the Markdown that is there."""
    for name in MARKDOWN_FIELDS:
        text = data.get(name)
        if isinstance(text, str):
            yield from check_markdown((name,), text)


register_kind("invitation", Invitation, check_invitation, partial_checker=check_partial,
              description="an invitation to a network or event, with registration, seats "
                          "per organisation and reminders before the deadline")
