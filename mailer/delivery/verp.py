"""VERP envelope senders: ``bounces+<row>-<mac>@domain`` names the outbox row of a bounce.

A bounce goes back to the envelope sender (Return-Path), so giving every copy its own
sender lets us know which row bounced even when the DSN is mangled or names a forwarded
address. The MAC (HMAC-SHA256 with the workspace secret, 10 base32 characters) keeps
strangers from suppressing people by mailing forged bounces to made-up row numbers. New
addresses are made with the workspace's newest key; addresses made with any older key of
the same list (``Settings.signing_keys``: ``mailer secret rotate`` keeps the earlier
ones) are still read, so a bounce that comes back after a rotation finds its row. The
domain stays the bounce address's own, so SPF and DMARC alignment (Return-Path in the
From's organisational domain) hold.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from email.message import Message
from email.utils import getaddresses

# Headers in which a receiving MTA records the envelope recipient, most reliable first.
ENVELOPE_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To")


class Verp:
    """Makes and reads the VERP addresses of one bounce mailbox."""

    def __init__(self, bounce_address: str, secrets: str | Sequence[str]) -> None:
        """``secrets``: one key, or the workspace's keys oldest first (the last one makes
        new addresses; every one of them is accepted when reading)."""
        local, sep, domain = bounce_address.strip().rpartition("@")
        if not sep or not local or not domain or "+" in local:
            raise ValueError(f"MAILER_BOUNCE_ADDRESS: {bounce_address!r} is not a plain "
                             "address such as bounces@news.example.org (no '+' tag)")
        self.local = local
        self.domain = domain.lower()
        keys = [secrets] if isinstance(secrets, str) else list(secrets)
        if not keys:
            raise ValueError("VERP needs at least one secret key")
        self._key = keys[-1].encode("utf-8")
        # newest first: a current address is checked against one key only
        self._keys = [k.encode("utf-8") for k in reversed(dict.fromkeys(keys))]
        self._re = re.compile(rf"^{re.escape(local)}\+(\d{{1,18}})-([a-z2-7]{{10}})@"
                              rf"{re.escape(self.domain)}$", re.IGNORECASE)

    @staticmethod
    def _mac_with(key: bytes, row: int) -> str:
        digest = hmac.new(key, f"verp:{row}".encode("ascii"), hashlib.sha256).digest()
        return base64.b32encode(digest).decode("ascii")[:10].lower()

    def address(self, row: int) -> str:
        """The envelope sender for outbox row ``row``."""
        return f"{self.local}+{row}-{self._mac_with(self._key, row)}@{self.domain}"

    def row_of(self, address: str) -> int | None:
        """The outbox row an address names, or None (not ours, or a forged MAC)."""
        m = self._re.match(address.strip().strip("<>"))
        if m is None:
            return None
        row, mac = int(m.group(1)), m.group(2).lower()
        return row if any(hmac.compare_digest(self._mac_with(k, row), mac)
                          for k in self._keys) else None

    def rows_in(self, msg: Message) -> list[int]:
        """The rows named by the envelope-recipient headers of an arriving message."""
        found: list[int] = []
        for header in ENVELOPE_HEADERS:
            for _, addr in getaddresses([str(v) for v in msg.get_all(header, [])]):
                row = self.row_of(addr)
                if row is not None and row not in found:
                    found.append(row)
        return found


def rows_of(verp: Verp | None, addresses: Iterable[str]) -> list[int]:
    """Rows named by plain addresses (e.g. an ARF report's Original-Mail-From)."""
    if verp is None:
        return []
    return [r for r in (verp.row_of(a) for a in addresses) if r is not None]
