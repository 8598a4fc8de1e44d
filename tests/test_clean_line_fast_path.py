"""``clean_line``'s fast path for printable text gives what the full rule gives."""

from __future__ import annotations

import random
import re
import unicodedata

from mailer.domain.subscriber_rows import organisation_key
from mailer.domain.text import clean_line

_INVISIBLE = re.compile("[\u202a-\u202e\u2066-\u2069\ufeff]")


def full_rule(text: str) -> str:
    """The rule without any shortcut: NFC, invisible controls out, controls to spaces."""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFC", text))
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch
                   for ch in text)
    return " ".join(text.split())


def test_every_code_point_alone_and_between_letters() -> None:
    # the whole BMP, and every 7th code point of the other planes (a test of seconds)
    for cp in [*range(0x10000), *range(0x10000, 0x110000, 7)]:
        ch = chr(cp)
        if 0xD800 <= cp <= 0xDFFF:
            continue  # lone surrogates cannot come from a decoded file
        for text in (ch, f"Å{ch}a", f" {ch}\u0301 "):
            assert clean_line(text) == full_rule(text), hex(cp)


def test_random_names() -> None:
    rng = random.Random(6)
    pieces = ["Åsa", "Örjan", "Ma", "rt", "a", "\u0308", "\u030a", "e\u0301", " ", "  ", "\t",
              "\u00a0", "\u2028", "\u202e", "\ufeff", "\x00", "\x85", "Ω", "\u2126", "ﬁ",
              "Ａ", "\u200d", "用户", "-", "(IT)", "kommun", "\u1100\u1161", "\u0344"]
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        assert clean_line(text) == full_rule(text), repr(text)


def test_organisation_key_is_remembered_and_unchanged() -> None:
    assert organisation_key("HYLTE  Kommun") == organisation_key("Hylte kommun")
    assert organisation_key("HYLTE  Kommun") is organisation_key("HYLTE  Kommun")
    assert organisation_key("") == ""
