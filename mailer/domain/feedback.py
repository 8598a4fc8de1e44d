"""What a message arriving at the bounce or sender mailbox says: bounce, complaint, request.

Pure: takes a parsed message, returns a ``Feedback`` value. The order of the tests matters
and follows what the message proves about itself:

1. RFC 5965 ARF (``multipart/report; report-type=feedback-report``): a complaint.
2. RFC 3464 DSN (``multipart/report; report-type=delivery-status``): Postfix, Exchange /
   Microsoft 365, Gmail and most modern servers. ``Action: delayed`` is a warning, not a
   bounce; ``delivered``/``relayed``/``expanded`` are success notices.
3. Auto-replies (RFC 3834 ``Auto-Submitted: auto-replied``, ``X-Autoreply``, Exchange's
   "Automatic reply", Swedish "Autosvar"/"Frånvaro") from a person's address: ignored,
   never a bounce. Postfix and Exim mark their own bounces auto-replied too, so a
   message from MAILER-DAEMON or postmaster is not taken for one.
4. An unsubscribe request (``unsubscribe <token>`` from List-Unsubscribe's mailto: form).
5. Non-standard bounces (Exim, qmail, older Exchange): ``flufl.bounce``'s detectors name
   the addresses; the enhanced status code is taken from the text where there is one.

A bounce names its recipient three ways, most trusted first: the VERP envelope address it
was sent back to (``bounces+<row>-<mac>@…``, checked by the caller), the ``X-Mailer-Outbox``
header of the returned original, and the address the report names.
"""

from __future__ import annotations

import email
import email.policy
import enum
import logging
import re
from dataclasses import dataclass
from email.message import EmailMessage, Message

from flufl.bounce import all_failures

# flufl.bounce logs every detector's exception with its traceback before raising it; we
# catch it in _heuristic and classify the message, so its log would only be noise.
logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)

OUTBOX_HEADER = "X-Mailer-Outbox"
_STATUS_RE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_CODE_RE = re.compile(r"(?<!\d)([245])\d\d(?!\d)")
_ADDR_RE = re.compile(r"[^\s<>\"';:,()\[\]]+@[^\s<>\"';:,()\[\]]+\.[A-Za-z]{2,}")
_TOKEN_RE = re.compile(r"\bunsubscribe\s+(\S+)", re.IGNORECASE)
_UNKNOWN_USER = re.compile(
    r"user unknown|unknown user|no such (user|mailbox|recipient)|does not exist|"
    r"recipient not found|invalid recipient|mailbox unavailable|address rejected|"
    r"RecipientNotFound|not our customer|account (is )?disabled|inactive account",
    re.IGNORECASE)
_DAEMON = re.compile(r"mailer-daemon|postmaster|mail delivery (system|subsystem)|"
                     r"microsoftexchange|mail administrator", re.IGNORECASE)
_AUTO_SUBJECT = re.compile(
    r"^\s*(out of (the )?office|automatic reply|auto(matic)?[- ]?reply|autoreply|autosvar|"
    r"automatiskt svar|frånvaro|frånvarande|abwesenheit|réponse automatique|vacation)",
    re.IGNORECASE)


class FeedbackKind(enum.StrEnum):
    bounce = "bounce"
    complaint = "complaint"
    unsubscribe = "unsubscribe"  # a mailto: unsubscribe request, token in ``token``
    auto_reply = "auto_reply"  # vacation and other automatic answers: ignored
    warning = "warning"  # delayed-delivery notices: not a bounce
    other = "other"  # anything else (a person writing back): left alone


class BounceClass(enum.StrEnum):
    hard = "hard"  # the address does not exist: suppress at once
    soft = "soft"  # full mailbox, temporary trouble: suppress after repeats
    policy = "policy"  # 5.7.x: refused because of us (reputation, auth): never the reader's


@dataclass(frozen=True, slots=True)
class Bounced:
    """One recipient a report says could not be reached."""

    address: str  # as the report names it, lower-cased ("" when only the row is known)
    status: str  # enhanced status code, e.g. "5.1.1"
    bounce_class: BounceClass
    diagnostic: str = ""


@dataclass(frozen=True, slots=True)
class Feedback:
    kind: FeedbackKind
    bounced: tuple[Bounced, ...] = ()
    outbox_ids: tuple[int, ...] = ()  # from X-Mailer-Outbox of the returned original
    addresses: tuple[str, ...] = ()  # complaint: the complaining recipients
    senders: tuple[str, ...] = ()  # envelope senders a report names (VERP addresses)
    token: str = ""  # unsubscribe request: the signed token
    detail: str = ""  # a short human reason (feedback type, subject…)


@dataclass(frozen=True, slots=True)
class BouncePolicy:
    """When a bounce suppresses its address (listmonk-like defaults).

    Hard bounces suppress at once; soft ones after ``soft_limit`` within ``soft_days``;
    policy refusals (5.7.x) never: they are about the sender, not the reader.
    """

    soft_limit: int = 3
    soft_days: int = 30

    def decide(self, bounce_class: BounceClass, soft_in_window: int) -> str | None:
        """The suppression reason this bounce calls for, or None.

        ``soft_in_window`` counts the soft bounces of the address within the window,
        this one included.
        """
        if bounce_class is BounceClass.hard:
            return "hard_bounce"
        if bounce_class is BounceClass.soft and soft_in_window >= self.soft_limit:
            return "soft_bounces"
        return None


def classify_status(status: str, text: str = "") -> BounceClass:
    """Hard, soft or policy for an enhanced status code (RFC 3463) and its text.

    5.1.x (bad mailbox or domain), 5.2.1 (disabled) and 5.4.1/5.4.4 (Microsoft 365 and
    DNS: no such recipient or route) are hard. 5.7.x is the receiver refusing *us*
    (authentication, reputation, "550 5.7.515" for unauthenticated bulk mail): the
    reader did nothing wrong, so it is never held against them. 4.x.x and 5.2.2
    (mailbox full) are soft; another 5.x.x is hard only when the text says the user
    is unknown.
    """
    m = _STATUS_RE.search(status) or _STATUS_RE.search(text)
    if m is None:
        code = _CODE_RE.search(status + " " + text)
        klass = code.group(1) if code else "5"
        if klass == "4":
            return BounceClass.soft
        return BounceClass.hard if _UNKNOWN_USER.search(text) else BounceClass.soft
    klass, subject, detail = m.group(1), int(m.group(2)), int(m.group(3))
    if klass == "4" or klass == "2":
        return BounceClass.soft
    if subject == 7 or (subject == 1 and detail in (7, 8)):
        # 5.1.7/5.1.8: our sender address was refused, which says nothing of the reader
        return BounceClass.policy
    if subject == 1 or (subject == 2 and detail == 1) or (subject == 4 and detail in (1, 4)):
        return BounceClass.hard
    if subject == 2:
        return BounceClass.soft
    return BounceClass.hard if _UNKNOWN_USER.search(text) else BounceClass.soft


def status_of(status: str, text: str = "") -> str:
    """The enhanced status code in ``status`` or ``text``; derived from a basic code."""
    m = _STATUS_RE.search(status) or _STATUS_RE.search(text)
    if m:
        return ".".join(m.groups())
    code = _CODE_RE.search(status + " " + text)
    return f"{code.group(1)}.0.0" if code else "5.0.0"


def parse(data: bytes) -> EmailMessage:
    """A message from raw bytes, as every reader of the inbox parses it."""
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def read_feedback(msg: Message) -> Feedback:
    """Classify one inbound message (see the module's docstring for the order)."""
    ctype = msg.get_content_type()
    report = (msg.get_param("report-type") or "") if ctype == "multipart/report" else ""
    report = str(report).lower()
    if report == "feedback-report" or _part(msg, "message/feedback-report") is not None:
        return _complaint(msg)
    if report == "delivery-status" or _part(msg, "message/delivery-status") is not None:
        return _dsn(msg)
    if _is_auto_reply(msg) and not _from_daemon(msg):
        return Feedback(FeedbackKind.auto_reply, detail=str(msg.get("Subject", "")))
    token = _unsubscribe_token(msg)
    if token:
        return Feedback(FeedbackKind.unsubscribe, token=token)
    return _heuristic(msg)


def _part(msg: Message, ctype: str) -> Message | None:
    for part in msg.walk():
        if part.get_content_type() == ctype:
            return part
    return None


def _text(part: Message) -> str:
    """The decoded text of a non-multipart part ('' for anything else)."""
    if part.is_multipart():
        return ""
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        charset = part.get_content_charset() or "utf-8"
        try:
            return payload.decode(charset, errors="replace")
        except LookupError:
            return payload.decode("utf-8", errors="replace")
    return str(part.get_payload())


def _field_blocks(part: Message) -> list[Message]:
    """The header blocks of a message/delivery-status or message/feedback-report part."""
    payload = part.get_payload()
    if isinstance(payload, list) and all(isinstance(p, Message) for p in payload):
        return list(payload)
    text = _text(part)
    blocks = [b for b in re.split(r"\r?\n\s*\r?\n", text.strip()) if b.strip()]
    return [email.message_from_string(b + "\n", policy=email.policy.compat32) for b in blocks]


def _original(msg: Message) -> Message | None:
    """The returned original message or its headers (message/rfc822, text/rfc822-headers)."""
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/global"):
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                return inner[0]
        if ctype in ("text/rfc822-headers", "message/rfc822-headers",
                     "message/global-headers"):
            return email.message_from_string(_text(part).strip() + "\n\n",
                                             policy=email.policy.compat32)
    return None


def _outbox_ids(original: Message | None) -> tuple[int, ...]:
    if original is None:
        return ()
    ids = []
    for value in original.get_all(OUTBOX_HEADER, []):
        s = str(value).strip()
        if s.isdigit() and len(s) < 19:
            ids.append(int(s))
    return tuple(ids)


def _address(value: object) -> str:
    """The address of a DSN recipient field: ``rfc822; Anna@Example.se`` → anna@example.se."""
    s = str(value or "").strip()
    if ";" in s:
        s = s.split(";", 1)[1]
    s = s.strip().strip("<>").strip()
    return s.lower() if "@" in s else ""


def _dsn(msg: Message) -> Feedback:
    part = _part(msg, "message/delivery-status")
    bounced: list[Bounced] = []
    delayed = False
    for block in _field_blocks(part)[1:] if part is not None else []:
        action = str(block.get("Action", "")).strip().lower()
        address = _address(block.get("Final-Recipient")) or _address(
            block.get("Original-Recipient"))
        status = str(block.get("Status", "")).strip()
        diagnostic = " ".join(str(block.get("Diagnostic-Code", "")).split())
        if action == "delayed":
            delayed = True
            continue
        if action and action != "failed":
            continue  # delivered, relayed, expanded: success notices
        if not status and not diagnostic:
            continue
        diag_text = diagnostic.split(";", 1)[-1].strip()
        bounced.append(Bounced(address=address, status=status_of(status, diag_text),
                               bounce_class=classify_status(status, diag_text),
                               diagnostic=diag_text[:500]))
    ids = _outbox_ids(_original(msg))
    if not bounced:
        return Feedback(FeedbackKind.warning if delayed else FeedbackKind.other,
                        outbox_ids=ids, detail="delivery delayed" if delayed else "")
    return Feedback(FeedbackKind.bounce, bounced=tuple(bounced), outbox_ids=ids)


def _complaint(msg: Message) -> Feedback:
    part = _part(msg, "message/feedback-report")
    fields = _field_blocks(part)[0] if part is not None and _field_blocks(part) else None
    feedback_type = str(fields.get("Feedback-Type", "abuse")).strip().lower() if fields \
        else "abuse"
    addresses = []
    if fields is not None:
        addresses += [a for a in (_address(v) for v in fields.get_all("Original-Rcpt-To", []))
                      if a]
    original = _original(msg)
    if not addresses and original is not None:
        addresses += [m.lower() for m in _ADDR_RE.findall(str(original.get("To", "")))]
    senders = tuple(a for a in (_address(v) for v in fields.get_all("Original-Mail-From", []))
                    if a) if fields is not None else ()
    return Feedback(FeedbackKind.complaint, outbox_ids=_outbox_ids(original),
                    addresses=tuple(dict.fromkeys(addresses)), senders=senders,
                    detail=feedback_type)


def _is_auto_reply(msg: Message) -> bool:
    auto = str(msg.get("Auto-Submitted", "")).strip().lower()
    if auto.startswith("auto-replied"):
        return True
    if any(msg.get(h) for h in ("X-Autoreply", "X-Autorespond", "X-Autoresponder")):
        return True
    if str(msg.get("Precedence", "")).strip().lower() == "auto_reply":
        return True
    return bool(_AUTO_SUBJECT.match(str(msg.get("Subject", ""))))


def _from_daemon(msg: Message) -> bool:
    """Sent by a mail system rather than a person (Exim and Postfix mark bounces
    auto-replied, as RFC 3834 asks, so that header alone does not tell them apart)."""
    return bool(_DAEMON.search(str(msg.get("From", ""))))


def _unsubscribe_token(msg: Message) -> str:
    m = _TOKEN_RE.search(str(msg.get("Subject", "")))
    if m is None and not msg.is_multipart():
        first = _text(msg).strip().splitlines()[:1]
        m = _TOKEN_RE.search(first[0]) if first else None
    return m.group(1) if m else ""


def _heuristic(msg: Message) -> Feedback:
    try:
        temporary, permanent = all_failures(msg)
    except Exception as exc:  # noqa: BLE001 - a detector tripping over malformed mail
        # flufl.bounce's detectors index into headers they assume are there (an empty or
        # From-less message raises IndexError in the Yale detector): such a message is
        # not a bounce we can read, so it is "other", with the reason (tests/test_fuzz.py).
        return Feedback(FeedbackKind.other,
                        detail=f"unreadable as a bounce ({type(exc).__name__})")
    if not temporary and not permanent:
        return Feedback(FeedbackKind.other, detail=str(msg.get("Subject", "")))
    body = "\n".join(_text(p) for p in msg.walk() if p.get_content_maintype() == "text")
    bounced = []
    for raw, permanent_failure in [(a, False) for a in temporary] + [(a, True) for a in
                                                                      permanent]:
        address = (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw))
        address = address.strip().strip("<>").lower()
        near = _near(body, address)
        status = status_of("", near) if _STATUS_RE.search(near) or _CODE_RE.search(near) \
            else ("5.0.0" if permanent_failure else "4.0.0")
        klass = classify_status(status, near)
        if not permanent_failure and klass is BounceClass.hard and not _STATUS_RE.search(near):
            klass = BounceClass.soft
        bounced.append(Bounced(address=address, status=status, bounce_class=klass,
                               diagnostic=" ".join(near.split())[:500]))
    return Feedback(FeedbackKind.bounce, bounced=tuple(bounced),
                    outbox_ids=_outbox_ids(_original(msg)))


def _near(body: str, address: str) -> str:
    """The few lines after ``address`` in a bounce's text, where the reason stands."""
    i = body.lower().find(address)
    if i < 0:
        return body[:600]
    return body[i:i + 600]
