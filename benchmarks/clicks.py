"""What click statistics cost per recipient: building each copy of the flagship issue
with and without tracked links, in the same run.

    python benchmarks/clicks.py [--recipients 20000] [--rounds 5]

The links are rewritten once per mailing (``MessageTemplate.for_mailing``); per copy the
only extra work is one keyed hash (the copy's tag) spliced into each tracked link. Prints
microseconds per copy for both and their ratio (tracked / untracked), plus the one-off
rewrite time; exits 1 if tracking costs more than 1.5 × the untracked build.
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
from mailer.config import Sender  # noqa: E402
from mailer.delivery.message import MessageTemplate, Recipient  # noqa: E402
from mailer.links import Links, trackable_links  # noqa: E402
from mailer.render.engine import RenderOptions  # noqa: E402
from mailer.render.newsletter import render_issue  # noqa: E402
from mailer.store.models import Mailing, MailingKind  # noqa: E402
from mailer.store.models.delivery import MailingHeaders  # noqa: E402
from mailer.tokens import Tokens  # noqa: E402

BASE = "https://nyhetsbrev.example.org"
LIMIT = 1.5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    rendered = render_issue(load_valid(flagship_path()),
                            RenderOptions(asset_base_url=f"{BASE}/media/nr6"))
    links = Links(BASE, Tokens("benchmark-secret-key-0123456789abcdef"))
    sender = Sender("nyhetsbrev@example.org", "SKR Demokratisektionen")
    targets = trackable_links(rendered.html, BASE)

    def template(tracked: bool) -> tuple[MessageTemplate, float]:
        headers: MailingHeaders = {"list_slug": "medborgardialog", "list_name": "Medborgardialog",
                                   "mid_salt": "abcd1234"}
        if tracked:
            headers["click_links"] = targets
        m = Mailing(id=42, kind=MailingKind.newsletter, subject=rendered.subject,
                    html=rendered.html, text=rendered.text, language="sv", list_ids=[3],
                    headers=headers)
        t0 = time.perf_counter()
        t = MessageTemplate.for_mailing(m, sender=sender, links=links)
        return t, time.perf_counter() - t0

    plain, plain_once = template(False)
    tracked, tracked_once = template(True)
    people = [Recipient(i, f"person{i}@kommun.example.se", f"Förnamn Efternamn {i}", i, 3)
              for i in range(1, args.recipients + 1)]
    results: dict[str, list[float]] = {"untracked": [], "tracked": []}
    for _ in range(args.rounds):  # interleaved, so load on the machine hits both alike
        for name, t in (("untracked", plain), ("tracked", tracked)):
            t0 = time.perf_counter()
            for r in people:
                t.build(r)
            results[name].append((time.perf_counter() - t0) / len(people) * 1e6)
    base, with_clicks = (statistics.median(results[k]) for k in ("untracked", "tracked"))
    ratio = with_clicks / base
    sample = tracked.build(people[0]).data
    assert sample.count(f"{BASE}/l/".encode()) >= len(targets)
    print(f"flagship: {len(targets)} tracked link targets, {len(sample) / 1024:.1f} KB per copy")
    print(f"one-off template build: untracked {plain_once * 1000:.1f} ms, "
          f"tracked {tracked_once * 1000:.1f} ms (rewrite and sign {len(targets)} links)")
    print(f"per copy, {args.recipients} recipients × {args.rounds} rounds (median): "
          f"untracked {base:.1f} µs, tracked {with_clicks:.1f} µs, ratio {ratio:.2f}")
    ok = ratio <= LIMIT
    print("within limit" if ok else f"OVER LIMIT ({LIMIT}×)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
