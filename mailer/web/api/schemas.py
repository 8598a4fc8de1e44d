"""The API's request and response bodies (they make its OpenAPI description)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

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
    list: str = Field(min_length=1, max_length=64, description="The list's slug.")
    name: str = Field("", max_length=200)
    language: Literal["sv", "en"] = "sv"


class SubscribeOut(BaseModel):
    subscriber_id: int
    list: str
    outcome: Literal["pending", "activated", "already_active"] = Field(
        description="pending: a confirmation e-mail was sent (double opt-in); activated: "
                    "single opt-in list, active now; already_active: nothing changed.")


class PersonalData(BaseModel):
    """Everything held on a person (GDPR access): subscriber, organisation,
    subscriptions, consent log, and any later sections."""

    model_config = ConfigDict(extra="allow")

    subscriber: dict[str, Any]
    organisation: dict[str, Any] | None
    subscriptions: list[dict[str, Any]]
    consent_events: list[dict[str, Any]]


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
    again: bool = Field(False, description="Send although the issue already went (or is "
                        "going) to one of the lists; without it that is refused with 409.")
    include_received: bool = Field(False, description="With again: send to people who "
                                   "already got the issue too.")


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
    reasons: list[ReasonOut] = Field(default_factory=list, description="Skipped, failed and "
                                     "unknown messages grouped by why.")
