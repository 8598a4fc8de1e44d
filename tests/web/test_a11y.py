"""Accessibility basics of every page, checked on the served HTML (no browser needed):
lang attribute, a label for every input, one h1 and no skipped heading levels, and the
default theme's colour pairs at WCAG 2 contrast >= 4.5:1."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.web.conftest import add_subscriber, csrf

CSS = Path(__file__).parents[2] / "mailer" / "web" / "static" / "style.css"


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.lang: str | None = None
        self.headings: list[int] = []
        self.inputs: list[dict[str, str | None]] = []
        self.labels: set[str] = set()
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.append(str(a["id"]))
        if tag == "html":
            self.lang = a.get("lang")
        elif re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        elif tag in ("input", "select", "textarea") and a.get("type") not in (
                "hidden", "submit", "button"):
            self.inputs.append(a)
        elif tag == "label" and a.get("for"):
            self.labels.add(str(a["for"]))


def check(html: str, where: str) -> None:
    p = Page()
    p.feed(html)
    assert p.lang in ("sv", "en"), where
    assert p.headings.count(1) == 1, f"{where}: {p.headings}"
    assert p.headings[0] == 1, where
    for prev, cur in zip(p.headings, p.headings[1:], strict=False):
        assert cur <= prev + 1, f"{where}: heading h{cur} after h{prev}"
    for inp in p.inputs:
        assert inp.get("id") in p.labels or inp.get("aria-label"), f"{where}: {inp}"
    assert len(p.ids) == len(set(p.ids)), f"{where}: duplicate ids"


def test_every_page_has_the_basics(client: TestClient, engine: Engine, app: FastAPI,
                                   lists: dict[str, int]) -> None:
    lid = lists["medborgardialog"]
    sid = add_subscriber(engine, "a@example.org", {lid: "unconfirmed",
                                                   lists["natverk-2023"]: "active"})
    links = app.state.web.links
    paths = ["/", "/subscribe/medborgardialog", "/subscribe/medborgardialog/thanks",
             "/subscribe/medborgardialog/embed", "/archive/medborgardialog",
             links.unsubscribe(sid, lid), links.preferences(sid), links.confirm(sid, lid),
             "/nothing", "/u/bad"]
    for lang in ("sv", "en"):
        for path in paths:
            r = client.get(path, params={"lang": lang})
            check(r.text, f"{path} ({lang})")
            assert f'<html lang="{lang}">' in r.text
    # Pages with errors shown.
    page = client.get("/subscribe/medborgardialog")
    r = client.post("/subscribe/medborgardialog", data={"csrf_token": csrf(page.text),
                                                        "email": "nope"})
    check(r.text, "subscribe with errors")
    page = client.get(links.preferences(sid))
    r = client.post(links.preferences(sid), data={"csrf_token": csrf(page.text),
                                                  "language": "xx", "name": "x" * 999})
    check(r.text, "preferences with errors")


def luminance(hex_colour: str) -> float:
    rgb = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_contrast_formula() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


def test_default_theme_contrast() -> None:
    css = CSS.read_text()
    colours = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})\s*;", css))
    pairs = re.search(r"contrast-pairs:(.*?)\*/", css, re.S).group(1).split()  # type: ignore[union-attr]
    assert len(pairs) >= 10
    for pair in pairs:
        fg, bg = pair.split("/")
        ratio = contrast(colours[fg], colours[bg])
        assert ratio >= 4.5, f"{pair}: {ratio:.2f}:1"
    # Every colour a rule uses for text must be in a checked pair.
    used_fg = set(re.findall(r"(?<![-\w])color:\s*var\(--([a-z-]+)\)", css))
    checked_fg = {p.split("/")[0] for p in pairs}
    assert used_fg <= checked_fg, used_fg - checked_fg
