"""All ORM models; importing this module registers every table on ``Base.metadata``.

Style: ORM classes with typed ``Mapped`` columns; methods on models never touch a session.
Queries and use cases live in the ``mailer.store.*`` modules beside this package.
"""

from mailer.store.models.accounts import ApiToken, User, UserSession
from mailer.store.models.base import Base, UTCDateTime, utcnow
from mailer.store.models.clicks import ClickTag, MailingLink, PersonClick
from mailer.store.models.delivery import (
    FINAL,
    Lock,
    Mailing,
    MailingKind,
    MailingStatus,
    OutboxRow,
    OutboxStatus,
    OutboxTally,
    SmtpBucket,
    Worker,
)
from mailer.store.models.feedback import (
    FeedbackEvent,
    FeedbackEventKind,
    InboundMessage,
    Suppression,
    SuppressionReason,
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
from mailer.store.models.segments import Segment
from mailer.store.models.subscribers import (
    ConsentEvent,
    MailingList,
    Organisation,
    OrgKind,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    SubscriptionTally,
)
from mailer.store.models.webhooks import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

__all__ = [
    "ClickTag",
    "MailingLink",
    "PersonClick",
    "FINAL",
    "ApiToken",
    "Base",
    "Lock",
    "Mailing",
    "MailingKind",
    "MailingStatus",
    "OutboxRow",
    "OutboxStatus",
    "OutboxTally",
    "SmtpBucket",
    "Worker",
    "ConsentEvent",
    "FeedbackEvent",
    "FeedbackEventKind",
    "InboundMessage",
    "Suppression",
    "SuppressionReason",
    "InvitationRow",
    "Invitee",
    "LedgerState",
    "ReconfirmAnswer",
    "Reconfirmation",
    "RegistrationRow",
    "ReminderLedger",
    "Segment",
    "MailingList",
    "OrgKind",
    "Organisation",
    "Subscriber",
    "Subscription",
    "SubscriptionTally",
    "SubscriptionStatus",
    "UTCDateTime",
    "User",
    "UserSession",
    "DeliveryStatus",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "utcnow",
]
