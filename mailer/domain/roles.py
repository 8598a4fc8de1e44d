"""Who may do what: the three roles and the one permission table every edge consults.

The web pages, the JSON API and any later edge ask ``allowed(role, action)``; no route
hard-codes a role. Admins can do everything; editors everything but change users;
coordinators everything but change users and edit or send newsletter issues.
"""

from __future__ import annotations

import enum

from mailer.domain.findings import msg


class Role(enum.StrEnum):
    admin = "admin"
    editor = "editor"
    coordinator = "coordinator"


class Action(enum.StrEnum):
    view = "view"  # dashboard, lists, issues, mailings, invitations: read only
    manage_users = "manage_users"  # add, change role, deactivate users; their API tokens
    manage_subscribers = "manage_subscribers"  # add, import, export, GDPR export and erase
    edit_issues = "edit_issues"  # change a newsletter issue's content
    send_issues = "send_issues"  # test-send, schedule, pause, resume, cancel a newsletter
    manage_invitations = "manage_invitations"  # send, registrations, import, reminders


PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.admin: frozenset(Action),
    Role.editor: frozenset(Action) - {Action.manage_users},
    Role.coordinator: frozenset(Action) - {Action.manage_users, Action.edit_issues,
                                           Action.send_issues},
}


def allowed(role: Role | str, action: Action) -> bool:
    """True when ``role`` may perform ``action`` (unknown roles may do nothing)."""
    try:
        return action in PERMISSIONS[Role(role)]
    except ValueError:
        return False


def role_of(value: str) -> Role:
    """Parse a role name, with the fix in the message."""
    try:
        return Role(value.strip().lower())
    except ValueError:
        raise ValueError(msg("unknown role %(role)r; use one of %(roles)s", role=value,
                             roles=", ".join(r.value for r in Role))) from None
