"""The accounts service on its own: logins and their limits, password changes, the team."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from mailer.services import accounts
from mailer.store.db import transaction
from mailer.web.ratelimit import SlidingWindowLimiter
from tests.admin.conftest import EMAILS, PASSWORD

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_log_in_gives_a_session_or_one_answer_for_every_failure(engine: Engine,
                                                                team: dict[str, int]) -> None:
    with transaction(engine) as s:
        token = accounts.log_in(s, EMAILS["editor"].upper(), PASSWORD, now=NOW, ip="10.0.0.1")
        assert token is not None
        who = accounts.session_principal(s, token, now=NOW + timedelta(minutes=5))
        assert who is not None and who.user_id == team["editor"] and not who.via_token
        assert accounts.log_in(s, EMAILS["editor"], "wrong password!", now=NOW) is None
        assert accounts.log_in(s, "nobody@example.org", PASSWORD, now=NOW) is None
        accounts.update_user(s, accounts.get_user(s, EMAILS["coordinator"]), active=False,
                             now=NOW)
        assert accounts.log_in(s, EMAILS["coordinator"], PASSWORD, now=NOW) is None


def test_login_limits_count_per_address_and_per_account() -> None:
    per_ip, per_account = SlidingWindowLimiter(3, 60), SlidingWindowLimiter(2, 60)

    def attempt(ip: str, email: str, at: float = 0.0) -> bool:
        return accounts.login_allowed(per_ip, per_account, ip=ip, email=email, now=at)

    assert [attempt("10.0.0.1", "a@example.org") for _ in range(3)] == [True, True, False]
    # Another address, same account: the account's limit holds (case ignored).
    assert attempt("10.0.0.2", "A@example.org") is False
    assert attempt("10.0.0.2", "b@example.org") is True
    assert attempt("10.0.0.1", "a@example.org", at=61) is True  # the window has moved on


def test_own_password_change_names_the_field_at_fault(engine: Engine,
                                                      team: dict[str, int]) -> None:
    with transaction(engine) as s:
        me = accounts.Principal.of(accounts.get_user(s, EMAILS["editor"]))
        keep = accounts.start_session(s, accounts.get_user(s, EMAILS["editor"]), now=NOW)
        other = accounts.start_session(s, accounts.get_user(s, EMAILS["editor"]), now=NOW)

        def change(current: str, new: str, repeat: str) -> dict[str, str]:
            return accounts.change_own_password(s, me, current=current, new=new,
                                                repeat=repeat, now=NOW, keep_session=keep)

        assert change("not my password", "a brand new passphrase", "a brand new passphrase") \
            == {"current": "wrong"}
        assert change(PASSWORD, "a brand new passphrase", "a brand new pasphrase") \
            == {"repeat": "mismatch"}
        assert "at least 12 characters" in change(PASSWORD, "short", "short")["new"]
        assert change(PASSWORD, "a brand new passphrase", "a brand new passphrase") == {}
        assert accounts.session_principal(s, keep, now=NOW) is not None
        assert accounts.session_principal(s, other, now=NOW) is None
        assert accounts.authenticate(s, EMAILS["editor"], "a brand new passphrase",
                                     now=NOW) is not None


def test_an_admin_reset_and_the_team_page(engine: Engine, team: dict[str, int]) -> None:
    with transaction(engine) as s:
        email, password = accounts.reset_password(s, team["coordinator"], now=NOW)
        assert email == EMAILS["coordinator"] and len(password) >= accounts.MIN_PASSWORD
        assert accounts.authenticate(s, email, password, now=NOW) is not None
        made = accounts.create_api_token(s, accounts.get_user(s, email), name="sync", now=NOW)
        people = accounts.team(s)
        assert sorted(u.email for u in people.users) == sorted(EMAILS.values())
        assert [t.id for t in people.tokens[team["coordinator"]]] == [made.id]
        assert team["admin"] not in people.tokens
