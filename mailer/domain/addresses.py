"""E-mail addresses: syntax check and normal form (no DNS), the case-insensitive key, the hash.

``normalise_address`` is the one place that decides whether a string is an address we
accept and what its stored form is; the importer, the web forms and the GDPR commands
all go through it so "Anna@Example.org" is the same person everywhere.
"""

from __future__ import annotations

import functools
import hashlib
import re
import sys
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES

from mailer.domain.findings import Msg, msg

# email-validator spends about two thirds of each call on the domain part (UTS-46/IDNA
# checks), which repeats across an import: a million people share a few hundred
# municipality domains. ``validate_email_domain_name`` is a pure function of its
# arguments and ``validate_email`` only reads the dict it returns, so memoising it
# changes no result (tests/test_import.py compares against the unpatched function).
# Invalid domains raise and are not cached, so they are checked afresh every time.
DOMAIN_CACHE_SIZE = 16_384


def _memoise_domain_validation() -> None:
    module = sys.modules.get("email_validator.validate_email")
    original = getattr(module, "validate_email_domain_name", None)
    if module is None or original is None or hasattr(original, "cache_info"):
        return  # another layout of the library: stay correct, just slower
    cached = functools.lru_cache(maxsize=DOMAIN_CACHE_SIZE)(original)
    cached.__wrapped_original__ = original  # type: ignore[attr-defined]
    module.validate_email_domain_name = cached  # type: ignore[attr-defined]


_memoise_domain_validation()


class AddressError(ValueError):
    """The text is not an e-mail address we can send to; ``str()`` says why."""


@dataclass(frozen=True, slots=True)
class Address:
    """An accepted address: its normal form (kept for sending) and its identity key."""

    email: str
    key: str


# The fast path for the common case, a plain ASCII address (``anna.svensson@hylte.se``):
# a dot-atom local part of RFC 5322 ``atext`` (email-validator's own DOT_ATOM_TEXT), one
# ``@``, and a domain of ASCII letters, digits, dots and hyphens. For such an address
# email-validator returns the local part as written (ASCII needs no NFC and no unquoting)
# joined to its normal form of the domain, which depends on the domain alone: the domain
# is checked once, through email-validator itself, and its normal form remembered.
# Everything else — Unicode, quotes, display names, IP literals, domains that are invalid
# or change more than their case (IDNA ``xn--``, a trailing dot), the mailbox names the RFCs
# make case-insensitive (``Postmaster``), anything near a length limit — goes to
# email-validator whole, so results and error messages are its own
# (tests/test_addresses_fast_path.py compares both on a corpus and on random strings).
_ATEXT = r"A-Za-z0-9_!#$%&'*+\-/=?^`{|}~"
_PLAIN_ASCII = re.compile(rf"([{_ATEXT}]+(?:\.[{_ATEXT}]+)*)@([A-Za-z0-9.\-]+)")
_PLAIN_MAX_LENGTH = 200  # email-validator's limits are 254 for the address (64 local)
_PLAIN_MAX_LOCAL = 64
_CASE_INSENSITIVE = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)
_plain_domains: dict[str, str | None] = {}  # domain as written -> its normal form, or None


def _plain_domain(domain: str) -> str | None:
    """The normal form of an ASCII domain that email-validator accepts and only lower-cases
    (None for any other, which then takes the library's whole path)."""
    try:
        return _plain_domains[domain]
    except KeyError:
        pass
    try:
        normal: str | None = validate_email(f"a@{domain}", check_deliverability=False).domain
    except EmailNotValidError:
        normal = None
    if normal != domain.lower():
        normal = None
    if len(_plain_domains) >= DOMAIN_CACHE_SIZE:
        _plain_domains.clear()
    _plain_domains[domain] = normal
    return normal


def _plain_address(text: str) -> str | None:
    """email-validator's normal form of ``text`` if it is a plain ASCII address, else None."""
    if len(text) > _PLAIN_MAX_LENGTH:
        return None
    m = _PLAIN_ASCII.fullmatch(text)
    if m is None:
        return None
    local, domain = m.groups()
    if len(local) > _PLAIN_MAX_LOCAL or local.lower() in _CASE_INSENSITIVE:
        return None
    normal = _plain_domain(domain)
    return None if normal is None else f"{local}@{normal}"


def normalise_address(raw: str) -> Address:
    """Check the syntax of ``raw`` (no DNS look-up) and return its normal form and key.

    The normal form is email-validator's: Unicode NFC, the domain lower-cased (and
    IDNA-checked), the local part kept as written. The key is the normal form
    lower-cased: we treat the local part as case-insensitive, as every real mailbox
    provider does, so ``Anna.Svensson@…`` and ``anna.svensson@…`` are one subscriber.
    """
    text = raw.strip()
    if not text:
        raise AddressError(msg("no e-mail address"))
    plain = _plain_address(text)
    if plain is not None:
        return Address(plain, plain.lower())
    try:
        valid = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise AddressError(validator_message(exc)) from None
    return Address(valid.normalized, valid.normalized.lower())


# email-validator's messages that end in the characters it refused ("…: SPACE, ','."):
# the same text with the characters as a value, so errors.po can translate it.
_REFUSED_CHARACTERS = (
    msg("The email address contains invalid characters before the @-sign: %(chars)s."),
    msg("The part after the @-sign contains invalid characters: %(chars)s."),
)
# How it names the invisible ones (unicodedata names), in words errors.po translates.
_CHARACTER_NAMES = {"SPACE": msg("space"), "NO-BREAK SPACE": msg("no-break space"),
                    "CHARACTER TABULATION": msg("tab"),
                    "ZERO WIDTH SPACE": msg("zero-width space")}


def validator_message(exc: EmailNotValidError) -> Msg:
    """email-validator's own English as a message to translate: the common ones have a
    Swedish text in errors.po, those naming refused characters too ("SPACE": "mellanslag")."""
    text = str(exc)
    for template in _REFUSED_CHARACTERS:
        head = template.msgid.removesuffix("%(chars)s.")
        if text.startswith(head) and text.endswith("."):
            chars = text[len(head):-1].split(", ")
            return Msg(template.msgid, {"chars": [_CHARACTER_NAMES.get(c, c) for c in chars]})
    return Msg(text, {})


def email_key(raw: str) -> str:
    """The identity key for ``raw``; for text that is not a valid address, its lower case.

    Used to look people up (``mailer subscribers show ANNA@EXAMPLE.ORG``), where a
    mistyped address should simply find nobody rather than fail.
    """
    try:
        return normalise_address(raw).key
    except AddressError:
        return raw.strip().lower()


#: Providers that ignore dots in the local part (and their other domain names).
DOTLESS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


def mailbox_key(raw: str) -> str:
    """The mailbox ``raw`` delivers to, as far as we can tell without asking the server:
    the identity key without a ``+tag`` in the local part, and for Gmail without dots
    (``Victim.2+x@GoogleMail.com`` -> ``victim2@gmail.com``). Only for limits that must
    not be dodged by writing one mailbox many ways (never as a subscriber's identity:
    ``anna+news@`` and ``anna@`` stay two subscribers, as they asked)."""
    key = email_key(raw)
    local, at, domain = key.rpartition("@")
    if not at:
        return key
    local = local.split("+", 1)[0] or local
    if domain in DOTLESS:
        domain = DOTLESS[domain]
        local = local.replace(".", "") or local
    return f"{local}@{domain}"


# Consent records outlive an erased subscriber; they keep this hash instead of the
# address. The salt is fixed (not the secret key) so the hash stays comparable after a
# key rotation: it lets us answer "did this address consent, and when?" for an address
# someone shows us, without storing the address.
HASH_SALT = b"mailer:"


def email_hash(key: str) -> str:
    """Hex SHA-256 of an identity key (see :func:`email_key`), as kept in the consent log."""
    return hashlib.sha256(HASH_SALT + key.encode("utf-8")).hexdigest()
