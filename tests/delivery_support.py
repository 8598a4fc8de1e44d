"""Helpers for the delivery tests and benchmark: subscribers in bulk, a flagship-sized
mailing, and the one recording stand-in for delivery's invitation mailer."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, insert, select

from mailer.render.types import RenderedMailing
from mailer.services.lists import create_list
from mailer.store.db import transaction
from mailer.store.models import Organisation, Subscriber, Subscription, SubscriptionStatus

SEED = Path("/work/shared/seeds/newsletter-nr6-2023.txt")
SWEDISH = ("Medborgardialog i Hylte, Uppsala och Örnsköldsvik: så når vi unga och äldre. "
           "Sista anmälningsdag är den 16 juni 2023, kl. 10:00 – 15:00. Kostnad: 900 kr.")


def synthetic_rendered(size: int = 52_000) -> RenderedMailing:
    """A stand-in for the rendered flagship issue: ~52 KB of HTML with Swedish text."""
    body = SEED.read_text(encoding="utf-8") if SEED.exists() else SWEDISH * 40
    paras = [p.strip() for p in body.split("\n\n") if p.strip()] or [SWEDISH]
    head = ('<!doctype html><html lang="sv"><head><meta charset="utf-8">'
            "<title>Nyhetsbrev nr 6 2023</title><style>td{font-family:Arial}</style></head>"
            '<body style="margin:0;padding:0;background:#f4f4f4">'
            '<div style="display:none">Medborgardialog – nyheter från nätverken</div>'
            "<p>Hej %%first_name%%!</p>")
    foot = ('<p><a href="%%browser_url%%">Visa i webbläsaren</a> · '
            '<a href="%%preferences_url%%">Inställningar</a> · '
            '<a href="%%unsubscribe_url%%">Avregistrera dig</a></p></body></html>')
    chunks, n, i = [head], len(head) + len(foot), 0
    while n < size:
        p = paras[i % len(paras)]
        block = ('<table role="presentation" width="100%" cellpadding="0" cellspacing="0">'
                 '<tr><td style="padding:16px 24px;font-size:16px;line-height:24px;'
                 f'color:#222222">{p}</td></tr></table>\n')
        chunks.append(block)
        n += len(block)
        i += 1
    chunks.append(foot)
    text = ("Hej %%first_name%%!\n\n" + "\n\n".join(paras) + "\n\n.\n.punkt först\n"
            "Avregistrera dig: %%unsubscribe_url%%\nInställningar: %%preferences_url%%\n")
    return RenderedMailing(subject="Nyhetsbrev nr 6 2023 – medborgardialog i Sverige",
                           html="".join(chunks), text=text, language="sv",
                           preheader="Medborgardialog – nyheter från nätverken")


def add_subscribers(engine: Engine, n: int, *, slug: str = "medborgardialog",
                    domain: str = "example.test") -> int:
    """Create a list with ``n`` active subscribers (bulk insert); returns the list id."""
    now = datetime.now(UTC)
    with transaction(engine) as s:
        lst = create_list(s, slug, "Medborgardialog", language="sv")
        org = s.scalar(select(Organisation).where(Organisation.name_key == "hylte kommun"))
        if org is None:
            org = Organisation(name="Hylte kommun", name_key="hylte kommun")
            s.add(org)
            s.flush()
        names = ["Åsa Öberg", "Per Svensson", "Märta Ärlig", "Anna-Lena Berg", "Jöns"]
        rows = [{"email": f"person{i}@{domain}", "email_key": f"person{i}@{domain}",
                 "name": names[i % len(names)], "organisation_id": org.id if i % 2 else None,
                 "role": "", "language": "sv", "attributes": {}, "created_at": now,
                 "updated_at": now} for i in range(n)]
        for i in range(0, n, 2000):
            s.execute(insert(Subscriber), rows[i:i + 2000])
        ids = list(s.scalars(select(Subscriber.id).where(Subscriber.email.like(f"%@{domain}"))))
        subs = [{"subscriber_id": sid, "list_id": lst.id, "status": SubscriptionStatus.active,
                 "source": "test", "created_at": now, "updated_at": now} for sid in ids]
        for i in range(0, len(subs), 2000):
            s.execute(insert(Subscription), subs[i:i + 2000])
        return lst.id
