"""Invitation content (kind: invitation): a network, masterclass or seminar one registers for.

Pure values validated with pydantic. Local dates and times are in the invitation's zone
(``timezone``; the loader passes ``settings.timezone`` through the validation context as
``{"timezone": "Europe/Stockholm"}``); a naive ``deadline`` in YAML is read in that zone.
Cross-field rules that give warnings as well as errors live in ``Invitation.findings(now)``
so ``mailer issue check`` can report them all at once with the YAML line of each path.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mailer.domain.findings import Finding, Msg, msg, msgn
from mailer.domain.urls import normalise_url
from mailer.errors import MailerError

DEFAULT_TIMEZONE = "Europe/Stockholm"
DEFAULT_REMINDERS = ("7d", "1d")
#: Reminders before a deadline given as a date go at this local time, not at 23:59.
DEFAULT_REMINDER_TIME = time(9, 0)


def parse_time_of_day(value: str) -> time:
    """``09:00`` or ``9.30`` -> a time of day; ValueError with the way to write it."""
    m = re.fullmatch(r"\s*(\d{1,2})[:.](\d{2})\s*", value)
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ValueError(f"{value!r} is not a time of day; write e.g. 09:00")
    return time(int(m.group(1)), int(m.group(2)))


def clean_url(value: str) -> str:
    """An absolute http(s) URL, messy characters percent-encoded (the 2023 seed's link has
    a space in its query string): the compose helper's ``normalise_url``, http(s) only."""
    url = normalise_url(str(value))
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"{value!r} is not a web address; write it as https://…")
    return url


Url = Annotated[str, BeforeValidator(lambda v: clean_url(str(v)) if v is not None else v)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Signatory(_Model):
    """Someone who signs the letter ("Lena Langlet, Sektionschef, Demokratisektionen")."""

    name: str = Field(min_length=1)
    title: str = ""
    unit: str = ""
    organisation: str = ""


class Contact(_Model):
    """A person to ask: name, e-mail and phone as the invitation prints them."""

    name: str = Field(min_length=1)
    email: EmailStr | None = None
    phone: str = ""
    role: str = ""

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str) -> str:
        if v and not re.fullmatch(r"\+?[0-9][0-9 \-()/]{4,24}", v):
            raise ValueError(f"{v!r} does not look like a phone number (e.g. 070-311 1708)")
        return v


class Organiser(_Model):
    name: str = Field(min_length=1)  # "Sveriges Kommuner och Regioner"
    short_name: str = ""  # "SKR"
    unit: str = ""  # "Demokratisektionen"


class MeetingKind(enum.StrEnum):
    meeting = "meeting"  # a network meeting (nätverksträff): the deadline must precede the first
    webcast = "webcast"  # a webcast or seminar (webbsändning)
    other = "other"


class Meeting(_Model):
    """One dated occasion: date, start–end (local), a place or online."""

    title: str = ""
    kind: MeetingKind = MeetingKind.meeting
    date: date
    start: time | None = None
    end: time | None = None
    place: str = ""  # "Stockholm"
    online: bool = False
    platform: str = ""  # "Zoom"
    url: Url | None = None
    tentative: bool = False  # "planerar att bli"
    note: str = ""

    @model_validator(mode="after")
    def _check(self) -> Meeting:
        if self.end is not None and self.start is None:
            raise ValueError("an end time needs a start time; add start: (e.g. start: '10:00')")
        if self.start and self.end and self.end <= self.start:
            raise ValueError(f"end {self.end:%H:%M} is not after start {self.start:%H:%M}")
        if not (self.place or self.online or self.platform or self.url):
            raise ValueError("say where: add place: (e.g. Stockholm) or online: true")
        return self

    @property
    def is_online(self) -> bool:
        return self.online or bool(self.platform) or (self.url is not None and not self.place)

    def starts_at(self, tz: ZoneInfo) -> datetime:
        """The local start as an aware datetime (midnight when only the date is known)."""
        return datetime.combine(self.date, self.start or time(0), tzinfo=tz)

    def ends_at(self, tz: ZoneInfo) -> datetime | None:
        if self.end is None:
            return None
        return datetime.combine(self.date, self.end, tzinfo=tz)


class CostPer(enum.StrEnum):
    person = "person"
    organisation = "organisation"


class CostPeriod(enum.StrEnum):
    year = "year"
    once = "once"


class Cost(_Model):
    """What taking part costs: an amount per person or organisation, per year or once; or free."""

    free: bool = False
    amount: Decimal | None = Field(default=None, ge=0)
    currency: str = "SEK"
    per: CostPer = CostPer.person
    period: CostPeriod = CostPeriod.year
    first_year_free: bool = False  # the 2015 masterclass: "ej för 2015"
    includes: str = ""  # "nätverksträff inklusive lunch och kaffe, dokumentation…"
    note: str = ""  # "Deltagarna bekostar resor…"

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: object) -> object:
        if isinstance(data, str) and data.strip().lower() in ("free", "kostnadsfritt", "gratis"):
            return {"free": True}
        if isinstance(data, int | float | Decimal) and not isinstance(data, bool):
            return {"amount": data}
        if isinstance(data, str) and re.fullmatch(r"\s*\d+([.,]\d+)?\s*", data):
            return {"amount": data.strip().replace(",", ".")}
        return data

    @model_validator(mode="after")
    def _check(self) -> Cost:
        if self.currency.strip().upper() != "SEK":
            raise ValueError(msg("currency %(currency)r: amounts are shown in kronor; give "
                                 "the amount in SEK (or leave currency: out)",
                                 currency=self.currency))
        if self.free and self.amount:
            raise ValueError("free: true and an amount contradict each other; keep one")
        if not self.free and self.amount is None:
            raise ValueError("give amount: (e.g. 900) or free: true")
        return self


def _seats_shorthand(data: object) -> object:
    # "1-2", "1–2" or a bare number for per_organisation
    if isinstance(data, str):
        m = re.fullmatch(r"\s*(\d+)\s*[-–]\s*(\d+)\s*", data)
        if m:
            return {"min": int(m.group(1)), "max": int(m.group(2))}
        if data.strip().isdigit():
            return {"max": int(data)}
        raise ValueError(f"{data!r}: write a number (2) or a range (1-2)")
    if isinstance(data, int) and not isinstance(data, bool):
        return {"max": data}
    return data


class Seats(_Model):
    """Seats per organisation: at least ``min`` welcome, at most ``max`` registered."""

    min: int = Field(default=1, ge=1)
    max: int = Field(ge=1)
    transferable: bool = False  # "Platsen kan överlåtas till annan person i samma organisation"
    waitlist: bool = False  # over the limit: wait-listed instead of refused

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: object) -> object:
        if isinstance(data, dict) and "per_organisation" in data:
            data = dict(data)
            value = _seats_shorthand(data.pop("per_organisation"))
            data.update(value if isinstance(value, dict) else {"max": value})
        else:
            data = _seats_shorthand(data)
        if isinstance(data, dict) and str(data.get("max", "1")).strip() in ("0", "-1"):
            raise ValueError("seats per organisation must be at least 1; write e.g. "
                             "per_organisation: 2 or per_organisation: 1-2")
        return data

    @model_validator(mode="after")
    def _check(self) -> Seats:
        if self.min > self.max:
            raise ValueError(f"min {self.min} is more than max {self.max}")
        return self


class RegistrationMode(enum.StrEnum):
    form = "form"  # our own registration page (Links.register)
    link = "link"  # an external registration system
    email = "email"  # by e-mail to a person


class Registration(_Model):
    """How and until when one registers."""

    mode: RegistrationMode
    deadline: datetime
    url: Url | None = None
    email: EmailStr | None = None
    label: str = ""  # link text: "Anmälan till Professionsnätverk för tjänstepersoner 2023"
    # The external system's id for this event (e.g. its PROJECTID): a registration CSV whose
    # invitation column holds it (or the folder name) belongs to this invitation.
    external_id: str = ""

    @field_validator("external_id", mode="before")
    @classmethod
    def _external_id(cls, v: object) -> object:
        return str(v) if isinstance(v, int) else v

    @field_validator("deadline", mode="before")
    @classmethod
    def _deadline(cls, v: object, info: ValidationInfo) -> object:
        # A bare date means "by the end of that day" in the invitation's zone.
        if isinstance(v, date) and not isinstance(v, datetime):
            v = datetime.combine(v, time(23, 59))
        if isinstance(v, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", v.strip()):
            v = datetime.combine(date.fromisoformat(v.strip()), time(23, 59))
        if isinstance(v, str):
            try:
                v = datetime.fromisoformat(v.strip())
            except ValueError:
                raise ValueError(
                    f"{v!r} is not a date and time; write e.g. 2023-02-15 or '2023-02-15 16:00'"
                ) from None
        if isinstance(v, datetime) and v.tzinfo is None:
            v = v.replace(tzinfo=_zone(info))
        return v

    @model_validator(mode="after")
    def _check(self) -> Registration:
        if self.mode is RegistrationMode.link and not self.url:
            raise ValueError("mode: link needs url: (the external registration page)")
        if self.mode is RegistrationMode.email and not self.email:
            raise ValueError("mode: email needs email: (where registrations go)")
        return self


def _zone(info: ValidationInfo) -> ZoneInfo:
    ctx = info.context or {}
    name = ctx.get("timezone") or DEFAULT_TIMEZONE
    return ZoneInfo(str(name))


_OFFSET_RE = re.compile(r"^\s*(\d+)\s*(d|h|m|days?|hours?|minutes?|dagar|dag|timmar|timme)\s*$",
                        re.IGNORECASE)


@dataclass(frozen=True, slots=True, order=True)
class ReminderOffset:
    """How long before the deadline a reminder goes out. Days are calendar days (local wall
    clock: "7 days before 23:59" is 23:59 a week earlier even across a DST change); hours and
    minutes are elapsed time."""

    minutes: int

    @classmethod
    def parse(cls, value: object) -> ReminderOffset:
        if isinstance(value, ReminderOffset):
            return value
        if isinstance(value, timedelta):
            return cls(int(value.total_seconds() // 60))
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(value * 1440)  # a bare number means days
        m = _OFFSET_RE.match(str(value))
        if not m:
            raise ValueError(f"{value!r} is not an offset; write e.g. 7d, 1d or 12h")
        n, unit = int(m.group(1)), m.group(2).lower()[0]
        if unit == "t":  # timmar, timme
            unit = "h"
        return cls(n * {"d": 1440, "h": 60, "m": 1}[unit])

    @property
    def key(self) -> str:
        """Stable name in the ledger and in job ids: ``7d``, ``12h``, ``90m``."""
        if self.minutes % 1440 == 0:
            return f"{self.minutes // 1440}d"
        if self.minutes % 60 == 0:
            return f"{self.minutes // 60}h"
        return f"{self.minutes}m"

    @property
    def in_days(self) -> bool:
        return self.minutes % 1440 == 0

    def before(self, deadline: datetime, at: time | None = None) -> datetime:
        """When this reminder is due, as an aware datetime in UTC. With ``at``, a reminder
        in days goes at that local time of day ("1d" before a date: 09:00 the day before)."""
        if self.in_days:
            local = deadline.replace(tzinfo=None) - timedelta(days=self.minutes // 1440)
            if at is not None:
                local = datetime.combine(local.date(), at)
            # fold=0: an ambiguous autumn time is its first occurrence; a spring-gap time
            # lands an hour later on the wall clock, never an hour early.
            return local.replace(tzinfo=deadline.tzinfo).astimezone(UTC)
        # Subtract in UTC: Python subtracts wall-clock time between datetimes of one zone.
        return deadline.astimezone(UTC) - timedelta(minutes=self.minutes)

    def __str__(self) -> str:
        return self.key


class Period(_Model):
    """A multi-year network (2023–2026) and its yearly re-confirmation before each new year."""

    start: int = Field(ge=2000, le=2100)
    end: int = Field(ge=2000, le=2100)
    reconfirm: bool = True
    reconfirm_on: str = "11-15"  # MM-DD of the year before each new year
    reconfirm_by: str = "12-15"  # MM-DD: answer wanted by

    @field_validator("reconfirm_on", "reconfirm_by")
    @classmethod
    def _mmdd(cls, v: str) -> str:
        try:
            date.fromisoformat(f"2001-{v}")
        except ValueError:
            raise ValueError(f"{v!r}: write month-day as MM-DD, e.g. 11-15") from None
        return v

    @model_validator(mode="after")
    def _check(self) -> Period:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        if self.reconfirm_by < self.reconfirm_on:
            raise ValueError("reconfirm_by is before reconfirm_on; the answer date must follow")
        return self

    def reconfirmation_years(self) -> list[int]:
        """The years participants confirm for: every year after the first."""
        return list(range(self.start + 1, self.end + 1)) if self.reconfirm else []

    def reconfirmation_date(self, year: int, tz: ZoneInfo) -> datetime:
        """When the question for ``year`` goes out (09:00 local, the year before)."""
        month, day = (int(x) for x in self.reconfirm_on.split("-"))
        return datetime(year - 1, month, day, 9, 0, tzinfo=tz)

    def reconfirmation_answer_by(self, year: int) -> date:
        month, day = (int(x) for x in self.reconfirm_by.split("-"))
        return date(year - 1, month, day)

    def reconfirmation_closes(self, year: int, tz: ZoneInfo) -> datetime:
        """The end of the answer-by day (23:59 local): after it the question for ``year``
        is no longer sent, and a participant's answer on the web is no longer taken."""
        return datetime.combine(self.reconfirmation_answer_by(year), time(23, 59), tzinfo=tz)


class Invitation(_Model):
    """An invitation mailing: the letter, the facts, and the rules for seats and reminders."""

    kind: Literal["invitation"] = "invitation"
    language: Literal["sv", "en"] = "sv"
    timezone: str = DEFAULT_TIMEZONE
    title: str = Field(min_length=1)
    subject: str = ""  # default: "Inbjudan: <title>"
    preheader: str = ""
    lists: list[str] = Field(default_factory=list)  # lists invited by default
    # A [brands.<name>] of mailer.toml: the From, Reply-To and look of the invitation, its
    # reminders and confirmations; else its lists' brand (services.brands), else [brand].
    brand: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")] | Literal[""] = ""
    organiser: Organiser
    signatories: list[Signatory] = Field(default_factory=list)
    letter: str = Field(min_length=1)  # Markdown
    greeting: str = ""  # "Vänliga hälsningar"
    background: str = ""  # Markdown
    structure: str = ""  # Markdown ("Nätverkets upplägg")
    included: list[str] = Field(default_factory=list)
    goals: str = ""  # Markdown
    target_group: str = ""  # Markdown
    timeline: str = ""  # Markdown lead-in before the meetings
    meetings: list[Meeting] = Field(default_factory=list)
    period: Period | None = None
    cost: Cost
    seats: Seats
    registration: Registration
    closing: str = ""  # "Vi önskar er varmt välkomna att anmäla er…"
    contacts: list[Contact] = Field(default_factory=list)
    reminders: list[str] = Field(default_factory=lambda: list(DEFAULT_REMINDERS))
    # Local time of day for reminders given in days ("7d"); unset: 09:00 when the deadline
    # is the end of a day (a date), else the deadline's own time of day.
    reminder_time: time | None = None

    @model_validator(mode="before")
    @classmethod
    def _zone_from_context(cls, data: object, info: ValidationInfo) -> object:
        if isinstance(data, dict) and "timezone" not in data and info.context:
            tz = info.context.get("timezone")
            if tz:
                data = {**data, "timezone": str(tz)}
        return data

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}; use e.g. Europe/Stockholm") from None
        return v

    @field_validator("reminder_time", mode="before")
    @classmethod
    def _reminder_time(cls, v: object) -> object:
        if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1440:
            return time(v // 60, v % 60)  # YAML 1.1 reads 09:00 as sexagesimal 540
        if isinstance(v, str):
            try:
                return parse_time_of_day(v)
            except ValueError as exc:
                raise ValueError(str(exc)) from None
        return v

    @field_validator("reminders", mode="before")
    @classmethod
    def _reminders(cls, v: object) -> object:
        if v is None:
            return []
        if not isinstance(v, list):
            v = [v]
        return [ReminderOffset.parse(x).key for x in v]

    # --- derived values ---------------------------------------------------------------
    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def deadline(self) -> datetime:
        """The registration deadline, aware, in the invitation's zone."""
        return self.registration.deadline.astimezone(self.tz)

    @property
    def ends_at_end_of_day(self) -> bool:
        """The deadline is a date (read as 23:59) or 23:59 itself."""
        return (self.deadline.hour, self.deadline.minute) == (23, 59)

    @property
    def reminder_at(self) -> time | None:
        """When in the day reminders in days go (None: at the deadline's time of day)."""
        if self.reminder_time is not None:
            return self.reminder_time
        return DEFAULT_REMINDER_TIME if self.ends_at_end_of_day else None

    @property
    def deadline_utc(self) -> datetime:
        return self.registration.deadline.astimezone(UTC)

    @property
    def reminder_offsets(self) -> list[ReminderOffset]:
        """The offsets, longest first (7d before 1d)."""
        return sorted({ReminderOffset.parse(k) for k in self.reminders}, reverse=True)

    @property
    def first_meeting(self) -> Meeting | None:
        dated = [m for m in self.meetings if m.kind is MeetingKind.meeting]
        return min(dated, key=lambda m: (m.date, m.start or time(0)), default=None)

    @property
    def mail_subject(self) -> str:
        """The organiser's ``subject``, else "Invitation: <title>" as a message to show in
        the invitation's language (``Translator.localise``: "Inbjudan: <title>")."""
        if self.subject:
            return self.subject
        return msg("Invitation: %(title)s", title=self.title)

    def findings(self, now: datetime | None = None) -> list[Finding]:
        """Every cross-field problem: errors, and warnings relative to ``now`` if given."""
        out: list[Finding] = []
        first = self.first_meeting
        if first is not None and self.deadline >= first.starts_at(self.tz):
            i = self.meetings.index(first)
            out.append(Finding(("registration", "deadline"), msg(
                "the deadline %(deadline)s is not before the first meeting on %(date)s "
                "(meetings[%(n)s]); move the deadline earlier or fix the meeting date",
                deadline=f"{self.deadline:%Y-%m-%d %H:%M}", date=f"{first.date:%Y-%m-%d}",
                n=i + 1)))
        if len(set(self.reminders)) != len(self.reminders):
            out.append(Finding(("reminders",), msg("the same offset is listed twice; remove one")))
        for i, key in enumerate(self.reminders):
            if ReminderOffset.parse(key).minutes <= 0:
                out.append(Finding(("reminders", i),
                                   msg("an offset must be more than 0 (e.g. 1d)")))
        if self.period is not None:
            for i, m in enumerate(self.meetings):
                if not self.period.start <= m.date.year <= self.period.end:
                    out.append(Finding(("meetings", i, "date"), msg(
                        "%(date)s lies outside the period %(start)s–%(end)s", date=str(m.date),
                        start=self.period.start, end=self.period.end), "warning"))
        if now is not None and self.deadline_utc <= now:
            deadline = f"{self.deadline:%Y-%m-%d %H:%M}"
            out.append(Finding(
                ("registration", "deadline"),
                msg("the deadline %(deadline)s has passed; invitations and reminders will "
                    "not be sent (move the deadline to send, or use --now for a dry run)",
                    deadline=deadline).with_admin(msg(
                        "the deadline %(deadline)s has passed; invitations and reminders "
                        "will not be sent. If the invitation is still open, move "
                        "registration.deadline in its issue.yaml; its registrations stay on "
                        "the invitation's page", deadline=deadline)).with_api(msg(
                            "the deadline %(deadline)s has passed; invitations and reminders "
                            "will not be sent. If the invitation is still open, move "
                            "registration.deadline in its issue.yaml", deadline=deadline)),
                "warning"))
        return out

    def errors(self) -> list[Finding]:
        return [f for f in self.findings() if f.severity == "error"]


def refuse_if_closed(invitation: Invitation, now: datetime, action: str) -> None:
    """Refuse a real send (``action``: "send the invitation", "send reminders") after the
    deadline, naming the deadline and the way out."""
    if invitation.deadline_utc <= now:
        values = {"action": action, "deadline": f"{invitation.deadline:%Y-%m-%d %H:%M}",
                  "zone": invitation.timezone}
        raise MailerError(msg(
            "cannot %(action)s: the registration deadline %(deadline)s (%(zone)s) has passed. "
            "Move registration.deadline in issue.yaml if the invitation is still open, or use "
            "--dry-run --now DATETIME to see what would have happened.",
            **values).with_web(msg(
                "cannot %(action)s: the registration deadline %(deadline)s (%(zone)s) has "
                "passed. If the invitation is still open, move registration.deadline in its "
                "issue.yaml", **values)))


def parse_invitation(data: object, *, timezone: str = DEFAULT_TIMEZONE) -> Invitation:
    """Validate a mapping (from issue.yaml) into an Invitation; naive times use ``timezone``."""
    return Invitation.model_validate(data, context={"timezone": timezone})


def seats_text(seats: Seats) -> Msg:
    """"1–2 people per organisation" (a message: ``Translator.localise`` says it in the
    reader's language, "1–2 personer per organisation")."""
    shown = f"{seats.min}–{seats.max}" if seats.min < seats.max else f"{seats.max}"
    return msgn("%(seats)s person per organisation", "%(seats)s people per organisation",
                seats.max, seats=shown)


def meetings(n: int) -> Msg:
    """"1 meeting" / "3 meetings" (what the coordinator's commands print, in English)."""
    return msgn("%(n)s meeting", "%(n)s meetings", n)


def people(n: int) -> Msg:
    """"1 person" / "3 people" (the worker's log of reminders)."""
    return msgn("%(n)s person", "%(n)s people", n)
