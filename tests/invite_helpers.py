"""Shared test data for the invitation tests: the 2023 network and a few municipalities."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from sqlalchemy.orm import Session

from mailer.domain.invitation import Invitation, parse_invitation
from mailer.services.lists import create_list
from mailer.store.invitations import record_invitees, sync_invitation
from mailer.store.models import (
    InvitationRow,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from mailer.store.registrations import find_or_create_organisation

ROOT = Path(__file__).resolve().parent.parent
SLUG = "2023-natverk-tjanstepersoner"
ISSUE = ROOT / "issues" / SLUG / "issue.yaml"
INVITED_AT = datetime(2023, 1, 20, 8, 0, tzinfo=UTC)

# (e-mail, name, organisation): three from Hylte, two from Uppsala, one each elsewhere.
PEOPLE = [
    ("anna.andersson@hylte.se", "Anna Andersson", "Hylte kommun"),
    ("bengt.berg@hylte.se", "Bengt Berg", "Hylte kommun"),
    ("cecilia.claesson@hylte.se", "Cecilia Claesson", "Hylte kommun"),
    ("david.dahl@uppsala.se", "David Dahl", "Uppsala kommun"),
    ("eva.ek@uppsala.se", "Eva Ek", "Uppsala kommun"),
    ("fredrik.falk@ornskoldsvik.se", "Fredrik Falk", "Örnsköldsviks kommun"),
    ("gun.gustafsson@rvn.se", "Gun Gustafsson", "Region Västernorrland"),
    ("hanna.holm@karlskoga.se", "Hanna Holm", "Karlskoga kommun"),
]


def copy_network(workspace: Path, list_slug: str, *, form: bool = False) -> Path:
    """The 2023 network's folder copied into ``workspace``'s issues/, inviting the list
    ``list_slug`` (with ``form``: registering through our form, not the external link)."""
    import re
    import shutil

    folder = workspace / "issues" / SLUG
    shutil.copytree(ROOT / "issues" / SLUG, folder)
    path = folder / "issue.yaml"
    text = re.sub(r"(?m)^lists: .*$", f"lists: [{list_slug}]",
                  path.read_text(encoding="utf-8"))
    if form:
        text = text.replace("  mode: link\n", "  mode: form\n", 1)
    path.write_text(text, encoding="utf-8")
    return folder


def invitation_data() -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe").load(ISSUE.read_text(encoding="utf-8"))
    return data


def officials() -> Invitation:
    return parse_invitation(invitation_data())


def add_people(session: Session, people: list[tuple[str, str, str]], list_slug: str = "demo",
               *, create: bool = True) -> dict[str, Subscriber]:
    lst = create_list(session, list_slug, "Demo") if create else None
    out = {}
    for email, name, org in people:
        o = find_or_create_organisation(session, org)
        sub = Subscriber(email=email, email_key=email.casefold(), name=name,
                         organisation_id=o.id, attributes={})
        session.add(sub)
        session.flush()
        if lst is not None:
            session.add(Subscription(subscriber_id=sub.id, list_id=lst.id,
                                     status=SubscriptionStatus.active, source="test"))
        out[email] = sub
    session.flush()
    return out


def invited(session: Session, people: list[tuple[str, str, str]] = PEOPLE,
            inv: Invitation | None = None) -> tuple[InvitationRow, dict[str, Subscriber]]:
    subs = add_people(session, people)
    row = sync_invitation(session, SLUG, inv or officials(), INVITED_AT).row
    record_invitees(session, row, list_slug="demo", now=INVITED_AT, mailing_id=None)
    return row, subs


@dataclass
class RecordingMailer:
    """The one stand-in for ``InvitationMail`` where a test needs no outbox: it records
    what would be planned, as (offset key or year, sorted subscriber ids), and returns a
    mailing id (reminders 1, 2, …; re-confirmations 101, 102, …). The real mail goes
    through the outbox in test_invitation_e2e.py and web/test_register_store.py."""

    planned: list[tuple[str | int, list[int]]] = field(default_factory=list)

    def plan_reminder(self, session: Session, *, slug: str, invitation: Invitation,
                      row: InvitationRow, offset_key: str, subscriber_ids: list[int],
                      now: datetime) -> int:
        self.planned.append((offset_key, sorted(subscriber_ids)))
        return len(self.planned)

    def plan_reconfirmation(self, session: Session, *, slug: str, invitation: Invitation,
                            row: InvitationRow, year: int, subscriber_ids: list[int],
                            now: datetime) -> int:
        self.planned.append((year, sorted(subscriber_ids)))
        return 100 + len(self.planned)
