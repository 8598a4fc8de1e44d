"""Quoted-printable (RFC 2045) that is safe to splice and needs no SMTP dot-stuffing.

``encode`` differs from ``quopri``/``binascii.b2a_qp`` in two ways that matter for a
byte template filled per recipient: its output never has a line starting with "." (we
write ``=2E`` there, so the DATA stream needs no dot-stuffing pass, RFC 5321 4.5.2),
and its lines always end in CRLF. ``splice`` wraps a per-recipient value in soft line
breaks so it can sit between two separately encoded literal segments without a
placeholder or an ``=XX`` escape ever being split, and without a line exceeding 76.
"""

from __future__ import annotations

import re

MAX_LINE = 76
_SAFE = frozenset(range(33, 127)) - {ord("=")}
_WS = frozenset(b" \t")
_ESC = [f"={b:02X}".encode("ascii") for b in range(256)]
# A value that can go in as it is: printable ASCII without "=" (URLs, most names).
_PLAIN_VALUE = re.compile(rb"[!-<>-~ ]*")
_CHUNK = MAX_LINE - 1


def _encode_line(line: bytes, out: list[bytes]) -> None:
    """Encode one hard line (no line break inside) and append its wrapped pieces."""
    cur: list[bytes] = []
    width = 0
    n = len(line)
    for i, b in enumerate(line):
        if b in _SAFE and not (b == 0x2E and width == 0):
            tok = line[i:i + 1]
        elif b in _WS and i != n - 1:
            tok = line[i:i + 1]
        else:
            tok = _ESC[b]
        # Keep room for the "=" of a soft break (RFC 2045: at most 76 characters).
        if width + len(tok) > MAX_LINE - 1:
            out.append(b"".join(cur) + b"=\r\n")
            cur, width = [], 0
            if b == 0x2E:
                tok = _ESC[b]
        cur.append(tok)
        width += len(tok)
    out.append(b"".join(cur))


def encode(text: str) -> bytes:
    """Quoted-printable UTF-8 with CRLF line breaks; no line starts with '.'."""
    data = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    out: list[bytes] = []
    lines = data.split(b"\n")
    for i, line in enumerate(lines):
        _encode_line(line, out)
        if i != len(lines) - 1:
            out.append(b"\r\n")
    return b"".join(out)


def splice(value: str) -> bytes:
    """A value between two literal segments: its own lines, joined by soft breaks."""
    raw = value.encode("utf-8")
    if _PLAIN_VALUE.fullmatch(raw):  # the common case: no per-character work
        if len(raw) <= _CHUNK:
            if not raw.startswith(b"."):
                return b"=\r\n" + raw + b"=\r\n"
        else:
            chunks = [raw[i:i + _CHUNK] for i in range(0, len(raw), _CHUNK)]
            if not any(c.startswith(b".") for c in chunks):
                return b"=\r\n" + b"=\r\n".join(chunks) + b"=\r\n"
    return b"=\r\n" + encode(value.replace("\r", " ").replace("\n", " ")) + b"=\r\n"
