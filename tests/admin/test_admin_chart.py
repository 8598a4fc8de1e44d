"""The dashboard's SVG chart: pure, no script, every series drawn, readable axes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

from mailer.web.admin.chart import Point, line_chart


def test_chart_draws_each_series_over_time() -> None:
    t0 = datetime(2023, 6, 15, 6, 0, tzinfo=UTC)
    points = [Point(t0 + timedelta(minutes=m), {"sent": m * 100, "queued": 1000 - m * 100,
                                                 "failed": m // 3, "skipped": 0})
              for m in range(11)]
    svg = line_chart(points, tz=ZoneInfo("Europe/Stockholm"), title="Nyhetsbrev <6>",
                     labels={"sent": "skickade"})
    root = ElementTree.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.find(f"{ns}title").text == "Nyhetsbrev <6>"  # type: ignore[union-attr]
    lines = root.findall(f"{ns}polyline")
    assert len(lines) == 4
    assert "script" not in svg and "skickade: 1000" in svg
    assert "08:00" in svg and "08:10" in svg  # local time on the axis
    assert line_chart(points[:1], tz=UTC, title="x") == ""


def test_a_short_mailing_has_distinct_times_on_its_axis() -> None:
    """A mailing done in 40 seconds: not "08:00 08:00 08:00" under the chart."""
    t0 = datetime(2023, 6, 15, 6, 0, 5, tzinfo=UTC)
    points = [Point(t0 + timedelta(seconds=s), {"sent": s, "queued": 40 - s})
              for s in range(0, 41, 10)]
    svg = line_chart(points, tz=ZoneInfo("Europe/Stockholm"), title="x")
    ns = "{http://www.w3.org/2000/svg}"
    axis = [t.text for t in ElementTree.fromstring(svg).findall(f"{ns}text")
            if t.text and ":" in t.text]
    assert axis == ["08:00:05", "08:00:25", "08:00:45"]
