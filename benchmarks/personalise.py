"""Render the flagship once, then personalise it per recipient; print the costs.

    python benchmarks/personalise.py [--recipients 20000]

Prints the one-off render time (Jinja2 → MJML → HTML, plus text) and the microseconds
per recipient for producing that recipient's HTML and text, including signing the
unsubscribe and preference tokens. Budget: 50 µs per recipient. Exits 1 over budget.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mailer.authoring import load_valid  # noqa: E402
from mailer.authoring.examples import flagship_path  # noqa: E402
from mailer.links import Links  # noqa: E402
from mailer.render.engine import RenderOptions  # noqa: E402
from mailer.render.newsletter import render_issue  # noqa: E402
from mailer.render.personalise import html_template, text_template  # noqa: E402
from mailer.tokens import Tokens  # noqa: E402

BUDGET_US = 50.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    issue = load_valid(flagship_path())
    options = RenderOptions(asset_base_url="https://nyhetsbrev.example.org/media/nr6")
    render_issue(issue, options)  # warm the template cache once, as a running worker has it
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        rendered = render_issue(issue, options)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    html_t, text_t = html_template(rendered.html), text_template(rendered.text)
    split_ms = (time.perf_counter() - t0) * 1000

    links = Links("https://nyhetsbrev.example.org", Tokens("benchmark-secret-key-0123456789abcdef"))
    people = [(i, f"Förnamn Efternamn {i}", f"person{i}@kommun.example.se")
              for i in range(1, args.recipients + 1)]
    list_id, mailing_id = 3, 42
    browser_url = links.view(mailing_id)
    per_round = []
    size = 0
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        for sid, name, addr in people:
            values = {
                "name": name,
                "email": addr,
                "unsubscribe_url": links.unsubscribe(sid, list_id),
                "preferences_url": links.preferences(sid),
                "browser_url": browser_url,
            }
            html = html_t.fill(values)
            text = text_t.fill(values)
            size = len(html) + len(text)
        per_round.append((time.perf_counter() - t0) / len(people) * 1e6)
    best, median = min(per_round), statistics.median(per_round)
    print(f"flagship: {len(rendered.html.encode()) / 1024:.1f} KB HTML, "
          f"{len(rendered.text.encode()) / 1024:.1f} KB text, last copy {size} chars")
    print(f"one-off render (Jinja2 → MJML → HTML + text): best {min(times) * 1000:.0f} ms, "
          f"first-time split into fill templates {split_ms:.2f} ms")
    print(f"per recipient (2 signed tokens + HTML + text fill), {args.recipients} recipients × "
          f"{args.rounds} rounds: best {best:.1f} µs, median {median:.1f} µs "
          f"(budget {BUDGET_US:.0f} µs)")
    ok = median <= BUDGET_US
    print("within budget" if ok else "OVER BUDGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
