"""The flagship in Debian's headless Chromium: no horizontal overflow at 375 and 640 px."""

from __future__ import annotations

import pytest

from mailer.authoring import load_valid
from mailer.authoring.examples import flagship_path
from mailer.render.engine import RenderOptions
from mailer.render.newsletter import render_issue
from mailer.render.sample import personalise, sample_values
from tests.browser_support import launch_chromium, screenshot


@pytest.mark.browser
def test_flagship_fits_mobile_and_desktop() -> None:
    rendered = render_issue(load_valid(flagship_path()),
                            RenderOptions(asset_base_url="https://nyhetsbrev.example.org/media"))
    html, _ = personalise(rendered, sample_values("https://nyhetsbrev.example.org",
                                                  language=rendered.language))
    with launch_chromium() as browser:
        for width in (375, 640):
            page = browser.new_page(viewport={"width": width, "height": 900})
            # Block every request: the mail must render without fetching anything.
            page.route("**/*", lambda route: route.abort())
            page.set_content(html, wait_until="load")
            scroll = page.evaluate("document.documentElement.scrollWidth")
            shot = screenshot(page, f"newsletter-nr6-2023-{width}px.png", full_page=True)
            assert scroll <= width, f"horizontal overflow at {width}px: {scroll}px"
            assert page.evaluate("document.documentElement.lang") == "sv"
            # Every card's text stays inside the viewport too.
            widest = page.evaluate(
                "Math.max(...[...document.querySelectorAll('body *')]"
                ".map(e => e.getBoundingClientRect().right))")
            assert widest <= width + 0.5, f"an element ends at {widest}px at {width}px"
            assert len(shot) > 10_000
            page.close()
