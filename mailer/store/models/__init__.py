"""All ORM models; importing this module registers every table on ``Base.metadata``.

Style: ORM classes with typed ``Mapped`` columns; methods on models never touch a session.
Queries and use cases live in the ``mailer.store.*`` modules beside this package.
"""

from mailer.store.models.accounts import ApiToken, User, UserSession  # noqa: F401
from mailer.store.models.base import Base, UTCDateTime, utcnow
from mailer.store.models.delivery import (
    FINAL,
    Lock,
    Mailing,
    MailingKind,
    MailingStatus,
    OutboxRow,
    OutboxStatus,
    SmtpBucket,
    Worker,
)
from mailer.store.models.invitations import (
    InvitationRow,
    Invitee,
    LedgerState,
    ReconfirmAnswer,
    Reconfirmation,
    RegistrationRow,
    ReminderLedger,
)
from mailer.store.models.subscribers import (
    ConsentEvent,
    MailingList,
    Organisation,
    OrgKind,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)

__all__ = [
    "FINAL",
    "Base",
    "Lock",
    "Mailing",
    "MailingKind",
    "MailingStatus",
    "OutboxRow",
    "OutboxStatus",
    "SmtpBucket",
    "Worker",
    "ConsentEvent",
    "InvitationRow",
    "Invitee",
    "LedgerState",
    "ReconfirmAnswer",
    "Reconfirmation",
    "RegistrationRow",
    "ReminderLedger",
    "MailingList",
    "OrgKind",
    "Organisation",
    "Subscriber",
    "Subscription",
    "SubscriptionStatus",
    "UTCDateTime",
    "utcnow",
]
