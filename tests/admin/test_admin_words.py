"""The admin gives the admin's advice, not the command line's: a service's message whose
way out is a CLI option ("--name", "--late", "--dry-run --now") carries the admin's own
words (``Msg.with_admin``), and the admin's pages show those."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from mailer.cli import COMMANDS
from mailer.services.lists import create_list
from mailer.store.db import transaction
from tests.admin.conftest import EMAILS, csrf, login, post_form
from tests.admin.test_admin_invitations import network  # noqa: F401 (a fixture)
from tests.invite_helpers import SLUG

AFTER = datetime(2023, 2, 16, 9, 0, tzinfo=UTC)  # the deadline was 2023-02-15 23:59
#: The command line's advice: an option, or a command of the ``mailer`` program.
CLI_WORDS = re.compile(r"(?<![\w-])--[a-z]|\bmailer (?:" + "|".join(sorted(COMMANDS)) + r")\b")
#: Where a message the admin may show is written (its issue editor is authoring/'s).
LAYERS = ("services", "store", "domain", "authoring")
ROOT = Path(__file__).resolve().parents[2] / "mailer"

#: Messages whose way out only the command line has (neither the admin nor the API), and
#: why (by the start of the message's text): both web edges may show them as they are.
COMMAND_LINE_ONLY: dict[str, tuple[str, ...]] = {
    # adding a colleague to an invitation is the command line's (inviting is everyone's);
    # so are cancelling and transferring a seat
    "services/invitations.py": ("no subscriber %(email)r; give --name to add them as a "
                                "colleague",),
    "store/registrations.py": ("no subscriber %(email)r; add them with --name",),
    "store/invitations.py": ("no invitation %(slug)r in the database",
                             "no list %(slug)r; see mailer lists"),  # record_invitees
    "store/registration_import.py": ("this file is for", "not a known subscriber"),
    # --rejected PATH: only the command line writes rejected rows where it is told
    "store/importer.py": ("cannot write the rejected rows",),
    "store/parallel.py": ("a worker process that checks rows",),
    # user accounts, podcasts and new issues are made on the command line
    "store/accounts.py": ("no user ",),
    "services/podcast.py": ("choose the episodes", "--latest must be"),
    "authoring/podcast.py": ("%(url)s: episode %(episode)s is not in the feed",),
    "authoring/scaffold.py": ("--month ", " already exists; choose another --year"),
    # the database is set up by whoever runs the server
    "store/db.py": ("the database is stamped", "no mailer database at ",
                    "the database has tables but no migration stamp",
                    "the database is at migration"),
    # the web edges name only issue folders that exist and do not call load_valid
    "authoring/load.py": (" does not exist; give an issue folder",
                          " problem(s); fix them and run: mailer issue check"),
    # names where the text came from, not a way out
    "domain/content.py": ("still the example text %(text)r from mailer issue new",),
}


def allowed(*more: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """``COMMAND_LINE_ONLY`` and an edge's own allowances, per file."""
    out = dict(COMMAND_LINE_ONLY)
    for extra in more:
        for path, starts in extra.items():
            out[path] = out.get(path, ()) + starts
    return out


#: Messages with the command line's advice that the admin may show as they are.
CLI_WORDS_ALLOWED = allowed({
    # the admin neither cancels nor transfers a seat: the command line is the way
    "domain/registration.py": ("%(taken)s (held by %(who)s); cancel or transfer",),
})


def carried(tree: ast.AST, methods: tuple[str, ...]) -> set[int]:
    """The ids of the ``msg()``/``msgn()`` calls in ``tree`` that carry another edge's words
    through one of ``methods`` (``msg(…).with_admin(…).with_api(…)``: each of the chain)."""
    found = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) \
                and n.func.attr in methods:
            base = n.func.value
            while isinstance(base, ast.Call) and isinstance(base.func, ast.Attribute) \
                    and base.func.attr.startswith("with_"):
                base = base.func.value
            found.add(id(base))
    return found


def messages_without(methods: tuple[str, ...], words: re.Pattern[str],
                     allowed: dict[str, tuple[str, ...]],
                     layers: tuple[str, ...] = LAYERS) -> list[str]:
    """``msg()``/``msgn()`` calls in ``layers`` whose text matches ``words`` (the command
    line's advice) and that carry no words of their own through ``methods``."""
    found = []
    for layer in layers:
        for path in sorted((ROOT / layer).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            wrapped = carried(tree, methods)
            rel = path.relative_to(ROOT).as_posix()
            for node in ast.walk(tree):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                        and node.func.id in ("msg", "msgn")) or id(node) in wrapped:
                    continue
                text = " ".join(a.value for a in node.args
                                if isinstance(a, ast.Constant) and isinstance(a.value, str))
                if words.search(text) and not any(
                        text.startswith(ok) for ok in allowed.get(rel, ())):
                    found.append(f"{rel}:{node.lineno}: {text[:100]}")
    return found


def _unwrapped_cli_messages() -> list[str]:
    """``msg()``/``msgn()`` calls in services/, store/, domain/ and authoring/ (they reach
    the admin) whose text names a CLI option or a ``mailer`` command and that carry no
    admin wording."""
    return messages_without(("with_admin", "with_web"), CLI_WORDS, CLI_WORDS_ALLOWED)


def test_every_message_with_cli_advice_has_the_admins_words() -> None:
    assert _unwrapped_cli_messages() == [], (
        "give these the admin's words with .with_admin(msg(...)), or allow them above "
        "with the reason")


@pytest.mark.parametrize(("lang", "words"), [("en", "the name must not be empty"),
                                            ("sv", "namnet får inte vara tomt")])
def test_an_empty_list_name_is_named_at_its_field_in_the_admins_words(
        client: TestClient, team: dict[str, int], lang: str, words: str) -> None:
    login(client, EMAILS["admin"], lang=lang)
    r = post_form(client, "/admin/lists", "/admin/lists",
                  {"slug": "tom", "name": "   ", "language": "sv"})
    assert r.status_code == 422, r.text
    assert f'<p class="error" id="name-error">{words}</p>' in r.text
    assert "--name" not in r.text


def test_after_the_deadline_the_admin_is_told_what_it_can_do(
        client: TestClient, app: FastAPI, team: dict[str, int],
        network: dict[str, int]) -> None:  # noqa: F811
    app.state.web.now = lambda: AFTER
    login(client, EMAILS["coordinator"], lang="en")
    # A reminder confirmed on a page opened before the deadline, sent after it.
    page = client.get(f"/admin/invitations/{SLUG}/remind")
    r = client.post(f"/admin/invitations/{SLUG}/remind",
                    data={"csrf_token": csrf(page.text), "confirm": "1", "expected": "0"})
    assert r.status_code == 400, r.text
    assert ("cannot send reminders: the registration deadline 2023-02-15 23:59 "
            "(Europe/Stockholm) has passed. If the invitation is still open, move "
            "registration.deadline in its issue.yaml") in r.text
    assert "--dry-run" not in r.text and "--now" not in r.text
    # Someone registered by hand after the deadline, without ticking the box.
    r = post_form(client, f"/admin/invitations/{SLUG}", f"/admin/invitations/{SLUG}/registrations",
                  {"email": "anna.andersson@hylte.se"})
    assert r.status_code == 422, r.text
    assert "tick &#39;Accept after the deadline&#39; to register someone on purpose" in r.text
    assert "--late" not in r.text and "mailer registrations" not in r.text


@pytest.mark.parametrize(("lang", "words"), [
    ("en", "Remove it on the Suppressions page first if it works again"),
    ("sv", "Ta först bort spärren under Spärrar om adressen fungerar igen")])
def test_an_import_of_a_suppressed_address_names_the_suppressions_page(
        client: TestClient, team: dict[str, int], engine: Engine, lang: str,
        words: str) -> None:
    """The command line says 'mailer suppressions remove EMAIL'; the admin's import report
    names the admin's page, in the reader's language."""
    with transaction(engine) as s:
        create_list(s, "medborgardialog", "Nyhetsbrev om medborgardialog")
    login(client, EMAILS["editor"], lang=lang)
    r = post_form(client, "/admin/suppressions", "/admin/suppressions",
                  {"email": "anna@hylte.se", "note": "bad mailbox"})
    assert r.status_code == 303
    page = client.get("/admin/lists/medborgardialog")
    r = client.post("/admin/lists/medborgardialog/import",
                    data={"csrf_token": csrf(page.text)},
                    files={"file": ("people.csv", b"email;name\nanna@hylte.se;Anna\n"
                                    b"bo@uppsala.se;Bo\n", "text/csv")})
    assert r.status_code == 422  # one row rejected, the other imported
    assert words in r.text, r.text
    assert "mailer suppressions" not in r.text
