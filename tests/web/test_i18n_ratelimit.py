"""Language choice, the Swedish catalogue's coverage, and the sliding-window limiter."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mailer.web.i18n import choose_language, message_ids, parse_accept_language, translations
from mailer.web.ratelimit import SlidingWindowLimiter

WEB = Path(__file__).parents[2] / "mailer" / "web"


def test_every_message_has_a_swedish_text() -> None:
    # The admin pages keep their texts in admin.po (tests/admin/test_admin_i18n.py).
    sources = [p for p in WEB.rglob("*") if p.suffix in (".py", ".html", ".j2", ".xml")
               and "admin" not in p.relative_to(WEB).parts]
    sources.append(WEB.parent / "services" / "notifications.py")  # the web's mails
    ids = message_ids(sources)
    assert len(ids) > 80
    from babel.messages.pofile import read_po

    with (WEB.parent / "locale" / "sv" / "web.po").open("rb") as fh:
        po = {m.id: m.string for m in read_po(fh) if m.id}
    assert sorted(i for i in ids if not po.get(i)) == []
    sv = translations("sv")
    # Placeholders survive translation.
    for i in ids:
        assert set(re.findall(r"%\(\w+\)s", i)) == set(re.findall(r"%\(\w+\)s", sv.gettext(i))), i


def test_accept_language() -> None:
    assert parse_accept_language("en-GB,en;q=0.9,sv;q=0.8") == ["en", "en", "sv"]
    assert parse_accept_language("sv;q=0.5, en;q=0.9") == ["en", "sv"]
    assert parse_accept_language("de;q=0, *;q=0.1") == ["*"]
    assert parse_accept_language("en;q=abc") == []
    assert parse_accept_language(None) == []


@pytest.mark.parametrize(("explicit", "subscriber", "accept", "expected"), [
    (None, None, None, "sv"),
    ("en", "sv", "sv", "en"),
    ("xx", "en", None, "en"),
    (None, "en", "sv", "en"),
    (None, None, "en-US,en", "en"),
    (None, None, "de-DE, fr", "sv"),
    (None, None, "nb-NO, en;q=0.5", "sv"),
])
def test_choose_language(explicit: str | None, subscriber: str | None, accept: str | None,
                         expected: str) -> None:
    assert choose_language(explicit, subscriber, accept) == expected


def test_sliding_window() -> None:
    limiter = SlidingWindowLimiter(3, 60.0)
    assert [limiter.hit("ip", t) for t in (0, 1, 2, 3)] == [True, True, True, False]
    assert limiter.hit("other", 3)
    assert not limiter.hit("ip", 59.9)
    assert limiter.hit("ip", 60.0)  # the hit at 0 has left the window
    assert not limiter.hit("ip", 60.5)


def test_limiter_memory_is_bounded() -> None:
    limiter = SlidingWindowLimiter(1, 10.0, max_keys=100)
    for i in range(1000):
        limiter.hit(f"k{i}", float(i) / 100)
    assert len(limiter._hits) <= 100
    with pytest.raises(ValueError):
        SlidingWindowLimiter(0, 1)
