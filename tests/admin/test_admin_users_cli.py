"""``mailer users add|list|set|password|token|tokens|revoke`` and the store behind them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from mailer.cli import _register, app
from mailer.domain.roles import PERMISSIONS, Action, Role, allowed
from mailer.errors import MailerError
from mailer.services import accounts
from mailer.store.db import transaction
from mailer.store.models import utcnow
from tests.conftest import TEST_SECRET


@dataclass
class Ran:
    exit_code: int
    output: str
    stdout: str


@pytest.fixture
def cli(workspace: Path, db_url: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    _register()
    monkeypatch.setenv("MAILER_DATABASE_URL", db_url)
    monkeypatch.setenv("MAILER_SECRET_KEY", TEST_SECRET)
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Ran:
        r = runner.invoke(app, ["--workspace", str(workspace), *args], input=input)
        if isinstance(r.exception, MailerError):  # as main() prints it: no traceback, exit 2
            return Ran(r.exception.exit_code, r.output + f"error: {r.exception}", r.stdout)
        if r.exception is not None and not isinstance(r.exception, SystemExit):
            raise r.exception
        return Ran(r.exit_code, r.output, r.stdout)

    return run


def test_permission_table() -> None:
    assert PERMISSIONS[Role.admin] == frozenset(Action)
    assert not allowed(Role.editor, Action.manage_users)
    assert allowed(Role.editor, Action.send_issues)
    assert not allowed(Role.coordinator, Action.send_issues)
    assert not allowed(Role.coordinator, Action.edit_issues)
    assert allowed(Role.coordinator, Action.manage_invitations)
    assert not allowed("boss", Action.view)


def test_first_admin_from_stdin_then_list_token_revoke(cli, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    r = cli("users", "list")
    assert "no users yet" in r.output
    r = cli("users", "add", "Anna@Example.org", "--role", "admin", "--name", "Anna",
            "--password-stdin", input="correct horse battery\n")
    assert r.exit_code == 0, r.output
    r = cli("users", "list")
    assert "Anna@example.org" in r.output and "admin" in r.output and "never" in r.output
    with transaction(engine) as s:
        user = accounts.get_user(s, "anna@example.org")
        assert user.password_hash.startswith("$argon2id$")
        assert "correct horse" not in user.password_hash
        assert accounts.authenticate(s, "ANNA@example.org", "correct horse battery",
                                     now=utcnow()) is not None
    # A token needs a name (the lists and revoking know it by it): a blank one is refused,
    # naming the option; no token is made.
    for blank in ("", "  "):
        r = cli("users", "token", "anna@example.org", "--name", blank)
        assert r.exit_code == 2 and "--name: give the token a name" in r.output, r.output
    assert cli("users", "token", "anna@example.org").exit_code == 2  # --name is required
    with transaction(engine) as s:
        assert accounts.list_tokens(s) == []
    r = cli("users", "token", "anna@example.org", "--name", "sync")
    assert r.exit_code == 0
    secret = r.stdout.strip().splitlines()[0]
    assert secret.startswith("mlr_")
    with transaction(engine) as s:
        p = accounts.token_principal(s, secret, now=utcnow())
        assert p is not None and p.role == Role.admin and p.via_token
        stored = [t.token_hash for t in accounts.list_tokens(s)]
        assert secret not in stored
    r = cli("users", "tokens")
    assert "sync" in r.output and secret not in r.output
    assert cli("users", "revoke", "1").exit_code == 0
    with transaction(engine) as s:
        assert accounts.token_principal(s, secret, now=utcnow()) is None


def test_add_refuses_bad_input_with_the_fix(cli) -> None:  # type: ignore[no-untyped-def]
    r = cli("users", "add", "x@example.org", "--role", "boss", "--password-stdin", input="a\n")
    assert r.exit_code == 2 and "use one of admin, editor, coordinator" in r.output
    r = cli("users", "add", "x@example.org", "--role", "editor", "--password-stdin",
            input="short\n")
    assert r.exit_code == 2 and "at least 12 characters" in r.output
    r = cli("users", "add", "not-an-address", "--role", "editor", "--password-stdin",
            input="long enough password\n")
    assert r.exit_code == 2 and "not a valid e-mail address" in r.output
    cli("users", "add", "x@example.org", "--role", "admin", "--password-stdin",
        input="long enough password\n")
    r = cli("users", "add", "X@example.org", "--role", "editor", "--password-stdin",
            input="long enough password\n")
    assert r.exit_code == 2 and "exists already" in r.output
    r = cli("users", "set", "x@example.org", "--deactivate")
    assert r.exit_code == 2 and "last active admin" in r.output


def test_sessions_expire_and_end_on_password_change(engine: Engine) -> None:
    from datetime import timedelta

    now = utcnow()
    with transaction(engine) as s:
        user = accounts.create_user(s, "e@example.org", role="editor", now=now,
                                    password="long enough password")
        token = accounts.start_session(s, user, now=now)
        assert accounts.session_principal(s, token, now=now + timedelta(minutes=90))
        # Idle for more than two hours after the last request: gone.
        assert accounts.session_principal(s, token, now=now + timedelta(hours=4)) is None
        token = accounts.start_session(s, user, now=now)
        for h in range(1, 12):  # busy all day: still in until the 12-hour limit
            assert accounts.session_principal(s, token, now=now + timedelta(hours=h))
        assert accounts.session_principal(s, token, now=now + timedelta(hours=12)) is None
        token = accounts.start_session(s, user, now=now)
        accounts.set_password(s, user, "a brand new password", now=now)
        assert accounts.session_principal(s, token, now=now) is None
