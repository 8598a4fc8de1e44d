"""Every header we send, and the MIME bytes: built once per mailing, filled per recipient.

``MessageTemplate`` turns a mailing's rendered parts into a byte template once:
multipart/alternative (text, html), UTF-8, quoted-printable (see ``delivery.qp``), CRLF
line ends, and no line starting with "." so the SMTP layer can send it without a
dot-stuffing pass. ``build(recipient)`` then costs a few joins, two encoded values per
placeholder and the signing of the unsubscribe token: a few microseconds, not the
milliseconds of an ``EmailMessage`` per person.
"""

from __future__ import annotations

import base64
import html
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr

from mailer.config import Sender
from mailer.delivery import qp
from mailer.delivery.dkim import DkimSigner
from mailer.delivery.signing import SigningProcess
from mailer.domain.text import clean_line
from mailer.errors import MailerError
from mailer.links import Links, rewrite_links
from mailer.render.i18n import greeting
from mailer.render.personalise import FIELDS
from mailer.store.models import Mailing, MailingKind
from mailer.tokens import Purpose

_UNSUB = Purpose.unsubscribe
#: The personalisation fields plus ``click_tag``: the per-copy tag of tracked links.
_SLOT_RE = re.compile(r"%%(" + "|".join((*FIELDS, "click_tag")) + r")%%")
CLICK_TAG = "%%click_tag%%"

#: Kinds that are automatic replies or reminders (RFC 3834 Auto-Submitted).
AUTO_SUBMITTED = frozenset({MailingKind.reminder, MailingKind.confirmation})
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class HeaderInjection(MailerError):
    """A header value contained a line break (or another control character)."""


def clean_header_value(value: str, what: str) -> str:
    """Refuse CR, LF and other control characters in anything that goes into a header."""
    if _CONTROL.search(value):
        raise HeaderInjection(
            f"{what} contains a line break or control character ({value[:60]!r}); "
            "fix the value at its source"
        )
    return value


def encode_display_name(name: str) -> str:
    """A display name for From/To: plain if it can be, else RFC 2047 UTF-8 words."""
    if not name:
        return ""
    if name.isascii():
        return formataddr((name, "x@x"))[: -len(" <x@x>")]  # quotes specials
    raw = name.encode("utf-8")
    words, start = [], 0
    while start < len(raw):  # at most 45 bytes per word (75 chars encoded), whole chars
        end = min(start + 45, len(raw))
        while end < len(raw) and (raw[end] & 0xC0) == 0x80:
            end -= 1
        words.append("=?utf-8?b?" + base64.b64encode(raw[start:end]).decode("ascii") + "?=")
        start = end
    return " ".join(words)


def encode_subject(subject: str) -> str:
    """The Subject header value (folded with CRLF) in UTF-8 encoded words if needed."""
    clean_header_value(subject, "the subject")
    if subject.isascii() and len(subject) < 900:
        return subject
    return Header(subject, "utf-8", header_name="Subject").encode(linesep="\r\n")


def list_id(list_slug: str, list_name: str, domain: str) -> str:
    """RFC 2919 List-Id: ``"Name" <slug.domain>``."""
    name = encode_display_name(list_name)
    return f"{name} <{list_slug}.{domain}>" if name else f"<{list_slug}.{domain}>"


def feedback_id(mailing_id: int, list_slug: str, kind: str, domain: str) -> str:
    """Gmail's ``Feedback-ID`` value: four colon-separated identifiers, sender last."""
    def part(v: str) -> str:
        return re.sub(r"[^A-Za-z0-9._-]", "-", v)[:40] or "-"
    return f"{mailing_id}:{part(list_slug)}:{part(kind)}:{part(domain)}"


@dataclass(frozen=True, slots=True)
class Recipient:
    """What one outbox row needs to become a message."""

    outbox_id: int
    email: str
    name: str = ""
    subscriber_id: int | None = None
    list_id: int | None = None
    organisation: str = ""
    fields: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Built:
    data: bytes
    message_id: str


_date_cache: tuple[int, bytes] = (0, b"")


def _date_header() -> bytes:
    # Formatting a date costs ~10 µs; one per second is plenty.
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, format_datetime(datetime.fromtimestamp(now, UTC)).encode("ascii"))
    return _date_cache[1]


@dataclass
class MessageTemplate:
    """One mailing's message as bytes with holes for the per-recipient values."""

    mailing_id: int
    kind: MailingKind
    links: Links
    sender: Sender
    domain: str
    list_message: bool
    unsubscribe_mailto: str
    static_top: bytes
    body: _Body
    mid_salt: str
    browser_url: str
    used: frozenset[str] = field(default_factory=frozenset)
    language: str = "sv"
    signer: DkimSigner | None = None  # DKIM-signs each finished copy (after personalising)
    click_per_person: bool = False  # tracked links name the outbox row (workspace opt-in)

    @classmethod
    def for_mailing(cls, mailing: Mailing, *, sender: Sender, links: Links,
                    reply_to: str = "", signer: DkimSigner | None = None) -> MessageTemplate:
        """Build the byte template of ``mailing`` (once per mailing and worker)."""
        h = mailing.headers or {}
        domain = sender.domain
        top = [
            b"From: " + _ascii(formataddr((encode_display_name(sender.name), sender.address))
                               if sender.name else sender.address),
        ]
        if reply_to:
            # Encoded like From: "Redaktör <red@example.org>" must not break the mailing.
            rt_name, rt_addr = parseaddr(clean_header_value(reply_to, "MAILER_REPLY_TO"))
            top.append(b"Reply-To: " + _ascii(
                formataddr((encode_display_name(rt_name), rt_addr)) if rt_name else rt_addr))
        top.append(b"Subject: " + _ascii(encode_subject(mailing.subject)))
        top.append(b"MIME-Version: 1.0")
        if h.get("list_slug"):
            top.append(b"List-Id: " + _ascii(list_id(
                clean_header_value(h["list_slug"], "the list slug"),
                clean_header_value(h.get("list_name", ""), "the list name"), domain)))
            top.append(b"List-Archive: <" + _ascii(links.archive(h["list_slug"])) + b">")
        if mailing.list_ids:
            # Gmail's Feedback Loop: complaint rates per mailing, list and kind in Postmaster
            # Tools (CampaignID:CustomerID:MailTypeID:SenderId).
            top.append(b"Feedback-ID: " + _ascii(feedback_id(
                mailing.id, clean_header_value(h.get("list_slug") or "list", "the list slug"),
                mailing.kind.value, domain)))
        if mailing.kind in AUTO_SUBMITTED:
            top.append(b"Auto-Submitted: auto-generated")
        if mailing.language:
            top.append(b"Content-Language: " + _ascii(
                clean_header_value(mailing.language, "the language")))
        boundary = "=_mailer_" + secrets.token_hex(10)  # "=_" never occurs in QP output
        files = h.get("attachments") or []
        mixed = "=_mailer_m" + secrets.token_hex(10) if files else ""
        # With attachments (the .ics of a registration confirmation) the alternative part
        # sits inside multipart/mixed; the files are base64 and the same for everyone.
        outer = (
            f'Content-Type: multipart/mixed; boundary="{mixed}"\r\n'
            "\r\n"
            "This is a multi-part message in MIME format.\r\n"
            f"--{mixed}\r\n"
        ) if files else ""
        tail = (
            outer
            + f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n'
            "\r\n"
            + ("" if files else "This is a multi-part message in MIME format.\r\n")
            + f"--{boundary}\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n"
            "\r\n"
        ).encode("ascii")
        html_sep = (
            f"\r\n--{boundary}\r\n"
            "Content-Type: text/html; charset=utf-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n"
            "\r\n"
        ).encode("ascii")
        end = f"\r\n--{boundary}--\r\n".encode("ascii")
        for f in files:
            name = clean_header_value(f["filename"], "an attachment name")
            ctype = clean_header_value(f["content_type"], "an attachment type")
            data = base64.encodebytes(base64.b64decode(f["data"])).replace(b"\n", b"\r\n")
            end += (f"--{mixed}\r\nContent-Type: {ctype}; name=\"{name}\"\r\n"
                    f'Content-Disposition: attachment; filename="{name}"\r\n'
                    "Content-Transfer-Encoding: base64\r\n\r\n").encode("ascii") + data
        if files:
            end += f"--{mixed}--\r\n".encode("ascii")
        body = _Body()
        body.add_literal(tail)
        body.add_source(mailing.text, html=False)
        body.add_literal(html_sep)
        html_source = mailing.html
        targets = h.get("click_links") or []
        if targets:  # click statistics: rewritten once per mailing, tagged per copy
            html_source = rewrite_links(html_source, targets,
                                        lambda i: f"{links.click(mailing.id, i)}/{CLICK_TAG}")
        body.add_source(html_source, html=True)
        body.add_literal(end)
        browser_url = links.browser(mailing.id)
        body.prefill("browser_url", browser_url)  # the same for everyone: encode once
        return cls(
            mailing_id=mailing.id, kind=mailing.kind, links=links, sender=sender,
            domain=domain, list_message=bool(mailing.list_ids),
            unsubscribe_mailto=h.get("unsubscribe_mailto") or sender.address,
            static_top=b"\r\n".join(top) + b"\r\n", body=body,
            mid_salt=h.get("mid_salt") or secrets.token_hex(4),
            browser_url=browser_url, used=frozenset(body.fields),
            language=mailing.language or "sv", signer=signer,
            click_per_person=bool(h.get("click_per_person")),
        )

    def message_id(self, outbox_id: int) -> str:
        """Stable per outbox row, so a retry of the same message keeps its Message-ID."""
        return f"{outbox_id}.{self.mailing_id}.{self.mid_salt}@{self.domain}"

    def build(self, r: Recipient) -> Built:
        """The complete message for one recipient (CRLF, no dot-stuffing needed)."""
        data, mid = self._unsigned(r)
        if self.signer is not None:
            data = self.signer.sign(data, shared_head=self.static_top)
        return Built(data, mid)

    async def build_async(self, r: Recipient, signing: SigningProcess | None) -> Built:
        """``build``, the DKIM signature made by ``signing``'s process when there is one
        (the worker's event loop then spends a socket write on it, not the signature)."""
        if self.signer is None or signing is None:
            return self.build(r)
        data, mid = self._unsigned(r)
        head = await signing.signature_headers(self.signer, data, shared_head=self.static_top)
        return Built(head + data, mid)

    def _unsigned(self, r: Recipient) -> tuple[bytes, str]:
        email = clean_header_value(r.email, "the recipient address")
        name = clean_line(r.name) if r.name else ""  # a stray control character in a name
        # must not stop the message: the name is cleaned, the address is checked
        mid = self.message_id(r.outbox_id)
        values: dict[str, str] = {}
        unsub_header = b""
        if r.subscriber_id is not None and r.list_id is not None and self.list_message:
            token = self.links.tokens.make(_UNSUB, r.subscriber_id, r.list_id)
            url = f"{self.links.base}/u/{token}"
            values["unsubscribe_url"] = url
            mailto = Links.unsubscribe_mailto(self.unsubscribe_mailto, token)
            # RFC 8058: one-click unsubscribe by POST to the HTTPS URL; mailto for old clients.
            unsub_header = (b"List-Unsubscribe: <" + url.encode("ascii") + b">,\r\n <"
                            + mailto.encode("ascii") + b">\r\n"
                            b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
        used = self.used
        if used:
            if "name" in used:
                values["name"] = name
            if "first_name" in used or "greeting" in used:
                first = name.split(" ", 1)[0] if name else ""
                values["first_name"] = first
                values["greeting"] = greeting(first, self.language)
            if "email" in used:
                values["email"] = email
            if "organisation" in used:
                values["organisation"] = r.organisation
            if "browser_url" in used:
                values["browser_url"] = self.browser_url
            if r.subscriber_id is not None and ("preferences_url" in used
                                                or "unsubscribe_url" not in values):
                values["preferences_url"] = self.links.preferences(r.subscriber_id)
                values.setdefault("unsubscribe_url", values["preferences_url"])
            if "click_tag" in used:
                tag = self.links.tokens.click_tag(self.mailing_id, r.outbox_id)
                values["click_tag"] = (f"{r.outbox_id}.{tag}" if self.click_per_person
                                       else tag)
            if r.fields:
                values.update(r.fields)
        to = (encode_display_name(name) + " <" + email + ">") if name else email
        head = b"".join((
            self.static_top,
            b"To: ", to.encode("utf-8"), b"\r\n",
            b"Date: ", _date_header(), b"\r\n",
            b"Message-ID: <", mid.encode("ascii"), b">\r\n",
            unsub_header,
            b"X-Mailer-Outbox: ", str(r.outbox_id).encode("ascii"), b"\r\n",
        ))
        return self.body.fill(head, values), mid


def _html_value(value: str) -> bytes:
    return qp.splice(html.escape(value))


class _Body:
    """The MIME body as encoded literal pieces with slots for per-recipient values.

    Like ``personalise.FillTemplate`` (same placeholders), but for the whole message at
    once: one list copy and one join per recipient, each distinct value encoded once
    even where it appears in both parts, constant fields encoded once per mailing.
    """

    __slots__ = ("parts", "slots", "fields")

    def __init__(self) -> None:
        self.parts: list[bytes] = [b""]  # index 0: the per-recipient header block
        self.slots: list[tuple[int, str, bool]] = []
        self.fields: set[str] = set()

    def add_literal(self, data: bytes) -> None:
        self.parts.append(data)

    def add_source(self, source: str, *, html: bool) -> None:
        pieces = _SLOT_RE.split(source)
        for i, piece in enumerate(pieces):
            if i % 2:
                self.slots.append((len(self.parts), piece, html))
                self.parts.append(b"")
                self.fields.add(piece)
            elif piece:
                self.parts.append(qp.encode(piece))

    def prefill(self, field: str, value: str) -> None:
        keep = []
        for index, f, is_html in self.slots:
            if f == field:
                self.parts[index] = _html_value(value) if is_html else qp.splice(value)
            else:
                keep.append((index, f, is_html))
        self.slots = keep
        self.fields.discard(field)

    def fill(self, head: bytes, values: dict[str, str]) -> bytes:
        parts = self.parts.copy()
        parts[0] = head
        done: dict[tuple[str, bool], bytes] = {}
        for index, f, is_html in self.slots:
            key = (f, is_html)
            enc = done.get(key)
            if enc is None:
                v = values.get(f, "")
                enc = done[key] = _html_value(v) if is_html else qp.splice(v)
            parts[index] = enc
        return b"".join(parts)


def _ascii(value: str) -> bytes:
    return value.encode("ascii")


