"""Every admin page in Swedish: a walk from the dashboard along every link finds no common
English word in what a user reads (text, labels, buttons, titles, placeholders)."""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from urllib.parse import urlsplit

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from mailer.authoring.examples import FLAGSHIP, flagship_path
from mailer.config import Settings
from mailer.domain.content import ITEM_TYPES, Contact, Image, Issue, Link, Section
from mailer.services.lists import create_list
from mailer.store.db import transaction
from mailer.store.models import Subscriber, Subscription
from tests.admin.conftest import EMAILS, login, post_form
from tests.admin.test_admin_invitations import network  # noqa: F401  (a fixture)
from tests.smtp_server import SmtpServer

#: Common English words that are not also Swedish words.
ENGLISH = {
    "the", "and", "warning", "warnings", "error", "errors", "required", "passed", "please",
    "your", "with", "from", "this", "that", "click", "cancel", "delete", "remove", "save",
    "send", "subscribers", "subscriber", "issue", "issues", "dashboard", "preview",
    "schedule", "scheduled", "sent", "failed", "invited", "registered", "reminder",
    "reminders", "deadline", "unsubscribe", "unsubscribed", "confirm", "confirmed", "should",
    "would", "must", "cannot", "which", "there", "here", "when", "where", "what", "been",
    "have", "has", "will", "into", "about", "more", "less", "item", "items", "section",
    "title", "summary", "link", "date", "week", "weeks", "days", "hours", "left", "found",
    "none", "empty", "edit", "close", "back", "next", "new", "login", "logout", "password",
    "account", "users", "user", "role", "people", "yet", "only", "any", "each",
    "every", "not", "now", "show", "add", "move", "up", "down", "lists", "mailing",
    "mailings", "queued", "skipped", "sending", "paused", "cancelled", "done", "missed",
    "seats", "expected", "active", "search", "export", "import", "changes", "problems",
}
#: The YAML field names an editor types; Swedish messages quote them (``lägg till title:``).
FIELD_NAMES = {name for model in (*ITEM_TYPES.values(), Issue, Section, Link, Image, Contact)
               for name in model.model_fields} | {"kind"}
#: English in the example issue's own content (a method's name), not in our wording.
CONTENT = ("Walk and Talk",)
SHOWN_ATTRIBUTES = ("title", "aria-label", "placeholder", "alt", "value")


class _Visible(HTMLParser):
    """The words a user reads: text outside script/style/code, and shown attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.links: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("script", "style", "code", "pre", "textarea"):
            self._skip += 1
        if tag == "a" and a.get("href"):
            self.links.append(str(a["href"]))
        if tag == "input" and a.get("type") not in ("submit", "button"):
            a.pop("value", None)  # a field's content is data, a button's value is a label
        if tag in ("option", "button"):
            a.pop("value", None)  # sent with the form, never shown
        self.parts.extend(str(a[k]) for k in SHOWN_ATTRIBUTES if a.get(k))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "code", "pre", "textarea") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def english_words(html: str) -> tuple[set[str], list[str]]:
    parser = _Visible()
    parser.feed(html)
    text = " ".join(parser.parts)
    for phrase in CONTENT:
        text = text.replace(phrase, " ")
    # Data, not wording: addresses, links, file paths, and the YAML field names an
    # editor types (``subject:``, ``title:``) that Swedish messages quote on purpose.
    text = re.sub(r"\S+@\S+|https?://\S+|\S*/\S*|\b[a-z]+_[a-z_]+\b", " ", text)
    text = re.sub(rf"\b({'|'.join(sorted(FIELD_NAMES))}):", " ", text)
    words = {w.lower() for w in re.findall(r"[A-Za-zÅÄÖåäö]+", text)}
    return words & ENGLISH, parser.links


def test_every_admin_page_is_swedish(client: TestClient, team: dict[str, int],
                                     network: dict[str, int],  # noqa: F811
                                     settings: Settings, engine: Engine,
                                     smtp_server: SmtpServer) -> None:
    shutil.copytree(flagship_path(), settings.workspace / "issues" / FLAGSHIP)
    broken = settings.workspace / "issues" / "2023-nr07-september"
    broken.mkdir()
    (broken / "issue.yaml").write_text(
        "kind: newsletter\nname: X\nnumber: 7\nyear: 2023\nsections:\n  - title: Evenemang\n"
        "    items:\n      - type: event\n        title: Demokratidagen\n"
        "        date: 2020-01-01\n        place: Stockholm\n        summary: Kom!\n",
        encoding="utf-8")
    with transaction(engine) as s:
        lst = create_list(s, "medborgardialog", "Nyhetsbrev om medborgardialog")
        sub = Subscriber(email="anna@hylte.se", email_key="anna@hylte.se", name="Anna")
        s.add(sub)
        s.flush()
        s.add(Subscription(subscriber_id=sub.id, list_id=lst.id, status="active"))
    login(client, EMAILS["admin"])  # no language chosen: Swedish by default
    r = post_form(client, f"/admin/issues/{FLAGSHIP}", f"/admin/issues/{FLAGSHIP}/schedule",
                  {"lists": "medborgardialog", "confirm": "1", "at": "2030-06-15T08:00"})
    assert r.status_code == 303, r.text
    seen: set[str] = set()
    queue = ["/admin"]
    found: dict[str, set[str]] = {}
    while queue:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        page = client.get(url)
        assert page.status_code == 200, (url, page.status_code)
        assert '<html lang="sv">' in page.text, url
        words, links = english_words(page.text)
        if words:
            found[url] = words
        for href in links:
            parts = urlsplit(href)
            path = parts.path
            if parts.netloc or not path.startswith("/admin") or "lang=" in parts.query:
                continue
            if re.search(r"\.(csv|json|html|txt)$|/media/|/version$|/import/", path):
                continue  # files and the previewed mail, not admin pages
            target = path + (f"?{parts.query}" if parts.query else "")
            if target not in seen and len(seen) + len(queue) < 80:
                queue.append(target)
    assert found == {}, "\n".join(f"{u}: {sorted(w)}" for u, w in found.items())
    # The walk saw the pages that matter, the check messages among them.
    for must in ("/admin/issues", f"/admin/issues/{FLAGSHIP}", "/admin/issues/2023-nr07-september",
                 "/admin/lists", "/admin/lists/medborgardialog", "/admin/mailings",
                 "/admin/invitations", "/admin/users", "/admin/account"):
        assert must in seen, (must, sorted(seen))
    broken_page = client.get("/admin/issues/2023-nr07-september").text
    assert "Avsnittet ”Evenemang”, punkten ”Demokratidagen”" in broken_page
    assert "1 fel" in broken_page and "1 varning" in broken_page
    assert "1 varningar" not in broken_page
    # The preview frame of an issue with errors lists them in Swedish too.
    preview = client.get("/admin/issues/2023-nr07-september/preview.html").text
    assert "<html lang='sv'>" in preview and "1 fel" in preview
    assert "Ämnesrad: måste fyllas i" in preview and "is required" not in preview


def test_the_word_list_catches_english() -> None:
    words, _ = english_words("<p>1 warnings: the event has passed</p><code>the</code>"
                             '<input value="Skicka"><button title="Save">x</button>')
    assert words == {"warnings", "the", "has", "passed", "save"}
