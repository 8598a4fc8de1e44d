"""One-line text from outside (names, organisations, roles): control characters cleaned.

A name typed into a form, sent through the API or read from a CSV file may carry control
characters (a NUL, a vertical tab, an escape, a line break pasted from a spreadsheet,
C1 controls from a mis-decoded file) or invisible bidirectional overrides that make a
name display as something else. None of them belongs in a name, and in a mail header a
line break is an injection. ``clean_line`` is the one rule every input boundary applies
(web forms, the API, CSV imports, the admin) and the mail builder applies again, so a
value stored before this rule existed cannot stop a mailing either.
"""

from __future__ import annotations

import re
import unicodedata

# Cc (C0, DEL, C1), line/paragraph separators, and the bidi embedding, override and
# isolate controls plus the BOM. Zero-width joiners stay: some names and emoji need them.
_INVISIBLE = re.compile("[\u202a-\u202e\u2066-\u2069\ufeff]")


def has_control(text: str) -> bool:
    """True if ``text`` holds a character ``clean_line`` would remove or replace."""
    return bool(_INVISIBLE.search(text)) or any(
        unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in text)


def clean_line(text: str) -> str:
    """``text`` in NFC on one line: control characters become spaces, invisible bidi
    controls go, runs of white space become one space, ends trimmed."""
    if text.isprintable():
        # No Cc, Zl, Zp or Cf (the bidi controls and the BOM are Cf) in the text: if its
        # NFC form has none either, the removals below change nothing (Swedish names).
        nfc = text if text.isascii() else unicodedata.normalize("NFC", text)
        if nfc is text or nfc.isprintable():
            return " ".join(nfc.split())
    text = _INVISIBLE.sub("", unicodedata.normalize("NFC", text))
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch
                   for ch in text)
    return " ".join(text.split())
