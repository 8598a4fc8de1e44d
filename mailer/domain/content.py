"""Newsletter content: an Issue of sections of typed items, validated, pure (no I/O)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Annotated, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from mailer.domain.findings import DocPath, Finding, msg
from mailer.domain.markdown import render_markdown
from mailer.domain.urls import BadUrl, is_insecure, normalise_url

Language = Literal["sv", "en"]
LANGUAGES: tuple[str, ...] = ("sv", "en")


# --- field types -------------------------------------------------------------------------
def _url(value: str) -> str:
    try:
        return normalise_url(value)
    except BadUrl as exc:
        raise ValueError(exc.message) from None


def _email(value: str) -> str:
    try:
        # Keep the local part as written (anna-Lena.pogulis@skr.se); only check syntax.
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(msg("%(value)r is not a valid e-mail address: %(problem)s",
                             value=value, problem=str(exc))) from None
    return value.strip()


_PLACEHOLDER_HOST = re.compile(r"^https?://(www\.)?example\.(org|com|net)(/|$)")
_TIME_RE = re.compile(r"^\s*(\d{1,2})[:.](\d{2})\s*$")


def _time(value: object) -> object:
    # Swedish writes 10.00, English 10:00; both mean the same time of day.
    if isinstance(value, str):
        m = _TIME_RE.match(value)
        if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
            raise ValueError(msg("%(value)r is not a time of day; write HH:MM, e.g. 10:00",
                                 value=value))
        return dt.time(int(m.group(1)), int(m.group(2)))
    return value


def _one_line(value: str) -> str:
    if "\n" in value.strip() or "\r" in value:
        raise ValueError(msg("must be on one line"))
    return value.strip()


Url = Annotated[str, AfterValidator(_url)]
Email = Annotated[str, AfterValidator(_email)]
TimeOfDay = Annotated[dt.time, BeforeValidator(_time)]
Line = Annotated[str, AfterValidator(_one_line)]
Title = Annotated[str, Field(min_length=1), AfterValidator(_one_line)]
Markdown = str  # CommonMark; rendered and checked by mailer.domain.markdown
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]


class Strict(BaseModel):
    """Base for content: unknown fields are errors (they are usually typos)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Link(Strict):
    """An address and the text readers click; a plain string is the address alone."""

    url: Url
    text: Line = ""

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: object) -> object:
        return {"url": data} if isinstance(data, str) else data


class Image(Strict):
    """A picture: a file beside issue.yaml or an https:// address, always with alt text."""

    src: Annotated[str, Field(min_length=1)]
    alt: Annotated[str, Field(min_length=1)]
    width: Annotated[int, Field(ge=16, le=600)] | None = None

    @property
    def is_local(self) -> bool:
        return "://" not in self.src


class Person(Strict):
    name: Title
    role: Line = ""
    organisation: Line = ""


class Contact(Strict):
    name: Line = ""
    email: Email | None = None
    phone: Line = ""

    @model_validator(mode="after")
    def _something(self) -> Contact:
        if not (self.name or self.email or self.phone):
            raise ValueError(msg("a contact needs at least a name, an email or a phone"))
        return self


# --- items -------------------------------------------------------------------------------
class ItemBase(Strict):
    """What every item has: a title, an optional kicker (``source``), summary and link."""

    title: Title
    source: Line = ""  # the organisation shown above the title, e.g. "SKR"
    summary: Markdown = ""
    link: Link | None = None
    image: Image | None = None

    @property
    def links(self) -> list[Link]:
        """Every link of the item, main link first (the text part lists them all)."""
        out = [self.link] if self.link else []
        extra = getattr(self, "registration", None)
        return out + ([extra] if extra else [])


class Report(ItemBase):
    type: Literal["report"]
    link: Link


class FactSheet(ItemBase):
    """A fact sheet: a link to where it is published, or ``file``, a PDF (or image) in the
    issue folder that readers get from ``/media/<issue folder>/<file>``."""

    type: Literal["factsheet"]
    link: Link | None = None
    file: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^/\\]+$")] | None = None

    @model_validator(mode="after")
    def _link_or_file(self) -> FactSheet:
        if (self.link is None) == (self.file is None):
            raise ValueError("a fact sheet needs either link (its address) or file (a file "
                             "in the issue folder), not both")
        return self


class PodcastEpisode(ItemBase):
    type: Literal["podcast"]
    number: Annotated[int, Field(ge=1)] | None = None
    series: Line = ""
    date: dt.date | None = None  # when the episode was published
    minutes: Annotated[int, Field(ge=1, le=6000)] | None = None  # its length
    participants: list[Person] = []
    host: Person | None = None
    link: Link

    @property
    def title_prefix(self) -> str:
        """"#103 " before the title, unless the editor wrote it there already (the
        seeds' "#103 Otillåten påverkan", copied with number: 103, read "#103 #103 …")."""
        if self.number is None or re.match(rf"#\s*{self.number}(?!\d)", self.title):
            return ""
        return f"#{self.number} "


class MunicipalExample(ItemBase):
    type: Literal["example"]
    municipality: Line = ""
    region: Line = ""

    @model_validator(mode="after")
    def _where(self) -> MunicipalExample:
        if not (self.municipality or self.region):
            raise ValueError(msg("add municipality: (e.g. Hylte) or region: (e.g. "
                                 "Region Uppsala)"))
        return self


class Offer(ItemBase):
    type: Literal["offer"]
    audience: Line = ""
    contact: Contact | None = None
    registration: Link | None = None


class Event(ItemBase):
    type: Literal["event"]
    audience: Line = ""
    date: dt.date
    start: TimeOfDay | None = None
    end: TimeOfDay | None = None
    place: Line = ""  # a physical place
    online: Line = ""  # the platform, e.g. Zoom ("Digitalt via Zoom")
    cost: Line = ""  # "free" (Kostnadsfritt), an amount in kronor, or words
    registration_required: bool = False
    registration_deadline: dt.date | None = None
    registration: Link | None = None

    @property
    def is_free(self) -> bool:
        return self.cost.strip().lower() in ("free", "kostnadsfritt", "gratis", "0")

    @property
    def cost_amount(self) -> int | None:
        digits = self.cost.replace(" ", "").removesuffix("kr")
        return int(digits) if digits.isdigit() and int(digits) > 0 else None


class NetworkInvitation(ItemBase):
    type: Literal["network"]
    audience: Line = ""
    registration: Link | None = None


Item = Annotated[
    Report | FactSheet | PodcastEpisode | MunicipalExample | Offer | Event | NetworkInvitation,
    Field(discriminator="type"),
]
ITEM_TYPES: dict[str, type[ItemBase]] = {
    "report": Report,
    "factsheet": FactSheet,
    "podcast": PodcastEpisode,
    "example": MunicipalExample,
    "offer": Offer,
    "event": Event,
    "network": NetworkInvitation,
}


# --- the issue ---------------------------------------------------------------------------
class Section(Strict):
    title: Line = ""
    intro: Markdown = ""
    items: Annotated[list[Item], Field(min_length=1)]


class Editor(Strict):
    name: Title
    email: Email | None = None
    phone: Line = ""
    organisation: Line = ""
    website: Link | None = None


class Issue(Strict):
    """One numbered newsletter issue."""

    kind: Literal["newsletter"] = "newsletter"
    name: Title  # the newsletter's name, e.g. "SKR:s nyhetsbrev om medborgardialog"
    number: Annotated[int, Field(ge=1, le=9999)]
    year: Annotated[int, Field(ge=1900, le=2200)]
    language: Language = "sv"
    subject: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_one_line)]
    preheader: Line = ""
    date: dt.date | None = None  # planned publication date
    greeting: Line = ""  # a welcome line above the intro
    intro_title: Line = ""
    intro: Markdown = ""
    sections: Annotated[list[Section], Field(min_length=1)]
    editor: Editor | None = None
    organisation: Line = ""  # who sends it, for the footer
    lists: list[Slug] = []
    brand: Slug | Literal[""] = ""  # a [brands.<name>] of mailer.toml (else [brand])

    def all_items(self) -> Iterator[tuple[DocPath, ItemBase]]:
        """Every item with its path in the document, in reading order."""
        for s, section in enumerate(self.sections):
            for i, item in enumerate(section.items):
                yield ("sections", s, "items", i), item


# --- checks beyond the shape ---------------------------------------------------------------
def markdown_fields(issue: Issue) -> Iterator[tuple[DocPath, str]]:
    """Every Markdown text in the issue with its path."""
    yield ("intro",), issue.intro
    for s, section in enumerate(issue.sections):
        yield ("sections", s, "intro"), section.intro
    for path, item in issue.all_items():
        yield (*path, "summary"), item.summary


def check_markdown(path: DocPath, text: str) -> list[Finding]:
    return [Finding(path, f.message, f.severity, f.line)
            for f in render_markdown(text).findings]


#: The example texts ``mailer issue new`` writes (``authoring/scaffold.py`` uses these);
#: an issue still holding one is not ready to send.
@dataclass(frozen=True, slots=True)
class ScaffoldTexts:
    """The example texts of ``mailer issue new``: ``intro``, ``title`` and ``summary``
    must be replaced (the check refuses them); ``section`` and ``link_text`` are ordinary
    words the editor may keep."""

    intro: str
    title: str
    summary: str
    section: str
    link_text: str

    def translated(self, say: Callable[[str], str]) -> ScaffoldTexts:
        """The texts in the language ``say`` translates to (a catalogue's ``gettext``)."""
        return ScaffoldTexts(say(self.intro), say(self.title), say(self.summary),
                             say(self.section), say(self.link_text))

    @property
    def examples(self) -> frozenset[str]:
        """What an issue must not keep: the intro (up to its hint), title, summary."""
        return frozenset((self.intro.split(" (")[0], self.title, self.summary))


#: English message ids; the catalogues (``newsletter.po``) say them in an issue's language.
SCAFFOLD_TEXTS = ScaffoldTexts(
    "Write the introduction here (Markdown: **bold**, [link text](https://…)).", "Heading",
    "A short summary.", "News", "Read more")


def is_placeholder(text: str | None, examples: Collection[str]) -> bool:
    """True for a text that is (or begins with) one of the scaffold's ``examples``
    (``ScaffoldTexts.examples`` in every language)."""
    words = " ".join((text or "").split())
    return any(words == p or words.startswith(p + " ") for p in examples)


def _placeholder(path: DocPath, text: str | None, examples: Collection[str]) -> list[Finding]:
    if not is_placeholder(text, examples):
        return []
    shown = " ".join((text or "").split())
    return [Finding(path, msg("still the example text %(text)r from mailer issue new; write "
                              "your own text here", text=shown[:60]))]


def check_head(intro: str, preheader: str | None, *,
               examples: Collection[str]) -> list[Finding]:
    """The issue's own texts above its sections: the intro's Markdown and example text,
    and the preheader. Also run on an issue whose shape is wrong elsewhere, so that a
    half-filled new item does not hide them."""
    out = check_markdown(("intro",), intro)
    out.extend(_placeholder(("intro",), intro, examples))
    if not preheader:
        out.append(Finding(("preheader",), msg(
            "no preheader: inboxes will show the first words of the e-mail instead; add "
            "preheader: with one enticing line"), "warning"))
    return out


def check_issue(issue: Issue, *, examples: Collection[str],
                today: dt.date | None = None) -> list[Finding]:
    """Rules the model's shape cannot express; ``examples``: the scaffold's texts that must
    not stay; ``today`` enables the has-passed warnings."""
    out = check_head(issue.intro, issue.preheader, examples=examples)
    for s, section in enumerate(issue.sections):
        out.extend(check_markdown(("sections", s, "intro"), section.intro))
    for path, item in issue.all_items():
        out.extend(check_item(path, item, examples=examples, today=today))
    return out


def check_item(path: DocPath, item: ItemBase, *, examples: Collection[str],
               today: dt.date | None = None) -> list[Finding]:
    """The rules for one valid item (also run on the valid items of an invalid issue)."""
    out = check_markdown((*path, "summary"), item.summary)
    out.extend(_placeholder((*path, "title"), getattr(item, "title", None), examples))
    out.extend(_placeholder((*path, "summary"), item.summary, examples))
    for name in ("link", "registration"):
        link = getattr(item, name, None)
        if link is not None and is_insecure(link.url):
            out.append(Finding((*path, name), msg("%(url)r uses http://; use https:// if the site "
                                           "has it", url=link.url), "warning"))
        if link is not None and _PLACEHOLDER_HOST.search(link.url):
            out.append(Finding((*path, name), msg("%(url)r is a placeholder address; replace it "
                                           "with the real one", url=link.url), "warning"))
    if item.image is not None and not item.image.is_local:
        try:
            normalise_url(item.image.src)
        except BadUrl as exc:
            out.append(Finding((*path, "image", "src"), exc.message))
    if isinstance(item, Event):
        out.extend(_check_event(path, item, today))
    return out


def _check_event(path: DocPath, ev: Event, today: dt.date | None) -> list[Finding]:
    out: list[Finding] = []
    if ev.registration_deadline and ev.registration_deadline > ev.date:
        out.append(Finding((*path, "registration_deadline"),
                           msg("the registration deadline %(deadline)s is after the event "
                               "(%(date)s); set it on or before %(date)s",
                               deadline=ev.registration_deadline, date=ev.date)))
    if ev.start and ev.end and ev.end <= ev.start:
        out.append(Finding((*path, "end"), msg(
            "ends (%(end)s) before it starts (%(start)s); check start: and end:",
            end=f"{ev.end:%H:%M}", start=f"{ev.start:%H:%M}")))
    if ev.end and not ev.start:
        out.append(Finding((*path, "end"), msg("has an end time but no start:; add start: HH:MM")))
    if not (ev.place or ev.online):
        out.append(Finding(path, msg("say where it happens: place: (an address) or online: "
                               "(the platform, e.g. Zoom)")))
    if today is not None:
        if ev.date < today:
            out.append(Finding((*path, "date"), msg("the event (%(date)s) has passed; update the "
                                                "date or remove the item", date=ev.date),
                               "warning"))
        elif ev.registration_deadline and ev.registration_deadline < today:
            out.append(Finding((*path, "registration_deadline"),
                               msg("the registration deadline (%(deadline)s) has passed; "
                                   "update it or remove it", deadline=ev.registration_deadline),
                               "warning"))
    return out
