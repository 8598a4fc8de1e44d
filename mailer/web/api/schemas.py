"""The API's request and response bodies (they make its OpenAPI description)."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from mailer.services.webhooks import EVENTS

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    page: int
    per_page: int
    total: int


class ListOut(BaseModel):
    slug: str
    name: str
    active: int
    unconfirmed: int
    unsubscribed: int
    brand: str = Field("", description="Its newsletter: a [brands.NAME] of mailer.toml "
                                       "(\"\" = the workspace's [brand]).")


class ListIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: str = Field(..., max_length=63, pattern=r"^[a-z0-9][a-z0-9-]*$",
                      examples=["natverk-2024"])
    name: str = Field(..., max_length=200)
    description: str = Field("", max_length=500)
    public: bool = True
    double_opt_in: bool = True
    language: Literal["sv", "en"] = "sv"
    brand: str = Field("", max_length=64, pattern=r"^[a-z0-9-]*$",
                       description="A [brands.NAME] of mailer.toml: the list's look, From "
                                   "and Reply-To.")


class ListPatch(BaseModel):
    """What to change; a field left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=500)
    brand: str | None = Field(None, max_length=64, pattern=r"^[a-z0-9-]*$",
                              description='"" = the workspace\'s [brand].')


class SubscriberOut(BaseModel):
    id: int
    email: str
    name: str
    organisation: str
    language: str
    lists: dict[str, str] = Field(description="Status per list slug.")


class SubscribeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=320, examples=["anna.svensson@hylte.se"])
    list: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$",
                      description="The list's slug.")
    name: str = Field("", max_length=200)
    language: Literal["sv", "en"] = "sv"


class SubscribeOut(BaseModel):
    subscriber_id: int | None = Field(
        description="None when nothing was stored (the address was suppressed with an "
                    "erasure request).")
    list: str
    outcome: Literal["pending", "activated", "already_active", "suppressed"] = Field(
        description="pending: a confirmation e-mail was sent (double opt-in); activated: "
                    "single opt-in list, active now; already_active: nothing changed; "
                    "suppressed: the address is on the suppression list, no e-mail was "
                    "sent, the sign-up waits unconfirmed and the attempt shows on the "
                    "suppression (lifting it, DELETE /api/suppressions/{email}, sends the "
                    "confirmation link).")


class PersonalData(BaseModel):
    """Everything held on a person (GDPR access): subscriber, organisation,
    subscriptions, consent log, and any later sections."""

    model_config = ConfigDict(extra="allow")

    subscriber: dict[str, object]
    organisation: dict[str, object] | None
    subscriptions: list[dict[str, object]]
    consent_events: list[dict[str, object]]


class IssueOut(BaseModel):
    name: str
    kind: str
    title: str
    number: int | None
    year: int | None
    errors: int
    warnings: int
    lists: list[str]


class ProblemOut(BaseModel):
    message: str
    file: str | None
    line: int | None
    field: str | None
    severity: str


class IssueDetail(IssueOut):
    problems: list[ProblemOut]


class MailingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    issue: str = Field(min_length=1, max_length=120,
                       description="The issue folder's name under issues/.")
    lists: list[str] | None = Field(None, description="List slugs (default: the issue's own).")
    at: datetime | None = Field(None, description="When to send (with a time zone); "
                                "leave out to send now.")
    where: list[str] = Field(default_factory=list, max_length=20,
                             description="Conditions, all of which must hold: FIELD=VALUE, "
                                         "FIELD!=VALUE or FIELD~TEXT (contains, any case); "
                                         "fields org.kind, org.code, org.county, org.name, "
                                         "role, language, attr.NAME.",
                             examples=[["org.kind=region", "role~förtroendevald"]])
    segment: str | None = Field(None, max_length=100,
                                description="A saved segment: its list and conditions "
                                            "(leave out lists).")
    send_window: str = Field("", max_length=100,
                             description='When copies may land, e.g. "Mon-Fri 08:00-17:00" '
                                         "(Swedish holidays closed); 'off' = any time; "
                                         "empty = the workspace's send_window.")
    again: bool = Field(False, description="Send although the issue already went (or is "
                        "going) to one of the lists; without it that is refused with 409.")
    include_received: bool = Field(False, description="With again: send to people who "
                                   "already got the issue too.")
    track_clicks: bool = Field(False, description="Count clicks on the issue's links, per "
                               "link and in aggregate (GET /mailings/{id}/clicks).")


class DryRunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    issue: str = Field(min_length=1, max_length=120,
                       description="The issue folder's name under issues/.")
    lists: builtins.list[str] | None = Field(None, description="List slugs (default: the "
                                             "issue's own).")
    where: builtins.list[str] = Field(default_factory=list, max_length=20,
                                      description="Conditions, as in POST /mailings.")
    segment: str | None = Field(None, max_length=100, description="A saved segment.")
    again: bool = Field(False, description="Count as a send again would (as in POST "
                        "/mailings).")
    include_received: bool = Field(False, description="With again: count people who "
                                   "already got the issue too.")


class ListPlanOut(BaseModel):
    slug: str
    name: str
    would_get: int = Field(description="Would get the issue through this list.")
    not_matching: int = Field(description="Left out: active, but not meeting the conditions.")
    already_received: int = Field(description="Left out: got (or will get) an earlier send "
                                  "of the issue.")
    on_other_list: int = Field(description="Left out here: get their one copy through "
                               "another list of the send.")
    suppressed: int = Field(description="Left out: the address is on the suppression list.")
    unconfirmed: int = Field(description="Left out: have not confirmed.")
    unsubscribed: int = Field(description="Left out: unsubscribed.")


class DryRunOut(BaseModel):
    total: int = Field(description="How many would get the issue (what POST /mailings "
                       "with the same choices would queue now).")
    lists: builtins.list[ListPlanOut]
    conditions: builtins.list[str]
    segment: str
    refused: str | None = Field(description="Why POST /mailings would be refused (409), "
                                "or null.")


class SegmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    list: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$",
                      description="The list's slug.")
    where: builtins.list[str] = Field(min_length=1, max_length=20,
                             examples=[["org.kind=region", "role~förtroendevald"]])


class SegmentOut(BaseModel):
    name: str
    list: str
    where: builtins.list[str]
    matching: int = Field(description="Active subscribers who match now.")


class MatchOut(BaseModel):
    email: str
    name: str
    organisation: str
    role: str
    language: str


class AudienceOut(BaseModel):
    lists: list[str]
    where: list[str]
    segment: str
    matching: int = Field(description="Active subscribers a mailing planned now would reach.")
    sample: list[MatchOut]


class SenderHealthOut(BaseModel):
    """What receivers said about a mailing; rates are of the messages attempted."""

    delivered: int
    bounced_hard: int
    bounced_soft: int
    policy_refusals: int
    complained: int
    unsubscribed: int
    bounce_rate: float
    complaint_rate: float
    unsubscribe_rate: float
    warnings: list[str]  # bounce_rate (> 2 %), complaint_rate (> 0.1 %), policy (5.7.x)


class SuppressionOut(BaseModel):
    email: str  # "" once the person was erased: only a hash of the address is kept
    reason: str
    detail: str
    source: str
    created_at: datetime
    signup_attempts: int = Field(0, description="Sign-ups for the address while it was "
                                 "suppressed (no mail went out; the visitor was not told).")
    last_signup_at: datetime | None = None
    last_signup: str = Field("", description="Where the last one came from and for which "
                             "list, e.g. 'form: medborgardialog'.")


class SuppressionIn(BaseModel):
    email: str
    reason: str = "manual"
    note: str = Field("", max_length=500)


class FileOut(BaseModel):
    name: str = Field(description="The stored (safe) file name in the issue folder.")
    content_type: str
    size: int
    url: str = Field(description="Where readers get it once the issue is sent.")


class ReasonOut(BaseModel):
    status: str = Field(description="skipped, failed or unknown")
    reason: str = Field(description="expired, unsubscribed, cancelled, missed, suppressed, "
                        "erased, refused, gave_up, unknown, not_sendable or other")
    label: str
    count: int
    example: str = Field(description="One exact reply or reason, e.g. the server's 550 text.")


class MailingOut(BaseModel):
    id: int
    kind: str
    name: str
    status: str
    scheduled_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    counts: dict[str, int]
    total: int
    note: str
    health: SenderHealthOut | None = None
    where: list[str] = Field(default_factory=list)
    segment: str = ""
    send_window: str = ""
    reasons: list[ReasonOut] = Field(default_factory=list, description="Skipped, failed and "
                                     "unknown messages grouped by why.")


class IssueTestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    addresses: list[str] = Field(..., min_length=1, max_length=20,
                                 examples=[["granskare@example.org"]],
                                 description="Who gets the test copy (marked [TEST]).")


class CopyStateOut(BaseModel):
    email: str
    state: str = Field(
        description="The copy's state in the outbox: queued (not sent yet), sending, sent, "
                    "retry (a temporary refusal; tried again at 'at'), failed (refused), "
                    "unknown (handed over, no answer), skipped.")
    at: datetime = Field(description="sent: when; queued and retry: when it is due; "
                                     "otherwise when the state was recorded.")
    attempts: int
    reply: str = Field(description="The server's last reply (or why it was not sent), "
                                   "shortened.")
    reason: str = Field(description="Why it was not delivered, when it was not.")


class IssueTestOut(BaseModel):
    mailing_id: int
    open: bool = Field(description="A copy is still queued, being sent or waiting to retry: "
                                   "ask again (GET state) to see it sent or refused.")
    worker_running: bool = Field(description="A worker (or the web server's own loop, which "
                                             "sends tests while no worker runs) is running "
                                             "now; while none is, nothing is sent.")
    state: str = Field(description="The route that answers this again, with each copy's "
                                   "state then.", examples=["/api/mailings/12/copies"])
    copies: list[CopyStateOut]


class LinkClicksOut(BaseModel):
    position: int = Field(description="1 for the first tracked link of the mail.")
    url: str
    clicks: int
    unique_clickers: int = Field(description="Distinct copies that clicked this link.")


class ClicksOut(BaseModel):
    """Click statistics of a mailing (``tracked`` false: it did not count clicks)."""

    mailing_id: int
    tracked: bool
    per_person: bool
    sent: int
    clicks: int
    unique_clickers: int = Field(description="Distinct copies with at least one click.")
    links: list[LinkClicksOut]


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=8, max_length=2000, examples=["https://crm.example.org/hooks"])
    events: list[str] = Field(min_length=1, max_length=20,
                              examples=[["subscriber.confirmed", "subscriber.unsubscribed"]],
                              description="Event types, from: " + ", ".join(EVENTS)
                              + '; or ["all"]. See docs/webhooks.md.')
    secret: str = Field("", max_length=200,
                        description="whsec_… signing secret; empty: one is made and returned.")
    description: str = Field("", max_length=300)


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    description: str
    enabled: bool
    failing_since: datetime | None
    disabled_reason: str
    delivered: int
    waiting: int


class WebhookCreated(WebhookOut):
    secret: str = Field(description="Shown only in this answer: give it to the receiver.")


class WebhookAttemptOut(BaseModel):
    at: datetime
    event_id: str
    type: str
    attempt: int
    status: int | None
    ok: bool
    error: str
    milliseconds: int
