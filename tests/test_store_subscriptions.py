"""Subscriptions store on both databases: subscribe, confirm, unsubscribe, preferences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from mailer.domain.addresses import email_hash
from mailer.errors import MailerError
from mailer.services.lists import create_list
from mailer.store.db import transaction
from mailer.store.models import ConsentEvent, Organisation, Subscriber, SubscriptionStatus
from mailer.store.subscriptions import (
    InvalidEmail,
    Preferences,
    SubscribeOutcome,
    confirm,
    get_subscription,
    normalise_email,
    set_preferences,
    subscribe,
    unsubscribe,
)

T0 = datetime(2023, 6, 1, 8, 0, tzinfo=UTC)


def test_subscribe_confirm_unsubscribe(engine: Engine) -> None:
    with transaction(engine) as s:
        lst = create_list(s, "md", "Medborgardialog")
        r = subscribe(s, " Anna@Hylte.SE ", lst.id, double_opt_in=True, now=T0,
                      ip="192.0.2.1", wording="W", name="Anna")
        assert r.outcome == SubscribeOutcome.pending
        again = subscribe(s, "anna@hylte.se", lst.id, double_opt_in=True, now=T0, ip=None,
                          wording="W", name="Eve")
        assert again.outcome == SubscribeOutcome.pending
        assert again.subscriber_id == r.subscriber_id
        sub_row = s.get(Subscriber, r.subscriber_id)
        assert sub_row is not None and sub_row.name == "Anna"  # never overwritten by a form
        assert sub_row.email == "Anna@hylte.se" and sub_row.email_key == "anna@hylte.se"
    with transaction(engine) as s:
        sub = confirm(s, r.subscriber_id, lst.id, now=T0 + timedelta(hours=1), ip="192.0.2.2",
                      wording="W")
        assert sub is not None and sub.status == SubscriptionStatus.active
        assert sub.confirmed_at == T0 + timedelta(hours=1)
        assert confirm(s, r.subscriber_id, lst.id, now=T0, ip=None, wording="W") is not None
        assert subscribe(s, "ANNA@hylte.se", lst.id, double_opt_in=True, now=T0, ip=None,
                         wording="W").outcome == SubscribeOutcome.already_active
    with transaction(engine) as s:
        subscriber = s.get(Subscriber, r.subscriber_id)
        assert subscriber is not None
        changed = unsubscribe(s, subscriber, None, now=T0 + timedelta(days=1), ip=None,
                              source="test")
        assert changed == [lst.id]
        assert unsubscribe(s, subscriber, None, now=T0, ip=None, source="test") == []
        # An old confirmation link does not revive an ended subscription.
        assert confirm(s, r.subscriber_id, lst.id, now=T0, ip=None, wording="W") is None
        events = list(s.scalars(select(ConsentEvent).order_by(ConsentEvent.id)))
        assert [e.action for e in events] == ["subscribe", "subscribe", "confirm", "unsubscribe"]
        assert {e.email_hash for e in events} == {email_hash("anna@hylte.se")}
        assert events[2].ip == "192.0.2.2" and events[2].at == T0 + timedelta(hours=1)


def test_single_opt_in(engine: Engine) -> None:
    with transaction(engine) as s:
        lst = create_list(s, "sem", "Seminarier", double_opt_in=False)
        r = subscribe(s, "per@uppsala.se", lst.id, double_opt_in=False, now=T0, ip=None,
                      wording="W")
        assert r.outcome == SubscribeOutcome.activated
        sub = get_subscription(s, r.subscriber_id, lst.id)
        assert sub is not None and sub.status == SubscriptionStatus.active


def test_invalid_addresses() -> None:
    for bad in ("", "a", "a@b", "x@@example.org", "a@example.org\r\nBcc: x@y.z", "a" * 400):
        with pytest.raises(InvalidEmail):
            normalise_email(bad)
    assert normalise_email("  per@Uppsala.SE ") == "per@uppsala.se"


def test_preferences(engine: Engine) -> None:
    with transaction(engine) as s:
        a = create_list(s, "a", "A")
        b = create_list(s, "b", "B")
        hidden = create_list(s, "h", "H", public=False)
        r = subscribe(s, "x@example.org", a.id, double_opt_in=True, now=T0, ip=None,
                      wording="W")
        subscriber = s.get(Subscriber, r.subscriber_id)
        assert subscriber is not None
        set_preferences(s, subscriber, Preferences(frozenset({b.id}), "en", " X  Y ",
                                                   "Hylte  kommun"),
                        now=T0, ip="192.0.2.9", wordings={b.id: "about B"})
        # a's sign-up waits for its confirmation link: not chosen is not "ended" (only an
        # active subscription, a ticked box, is ended by leaving it out)
        assert get_subscription(s, subscriber.id, a.id).status == "unconfirmed"  # type: ignore[union-attr]
        assert get_subscription(s, subscriber.id, b.id).status == "active"  # type: ignore[union-attr]
        assert (subscriber.name, subscriber.language) == ("X Y", "en")
        set_preferences(s, subscriber, Preferences(frozenset({b.id}), "sv", "X Y",
                                                   "HYLTE KOMMUN"), now=T0, ip=None,
                        wordings={})
        assert s.scalar(select(func.count()).select_from(Organisation)) == 1
        with pytest.raises(MailerError, match="not open"):
            set_preferences(s, subscriber, Preferences(frozenset({hidden.id}), "sv", "", ""),
                            now=T0, ip=None, wordings={})
        with pytest.raises(MailerError, match="language"):
            set_preferences(s, subscriber, Preferences(frozenset(), "de", "", ""),
                            now=T0, ip=None, wordings={})
        wording = s.scalar(select(ConsentEvent.wording).where(ConsentEvent.list_id == b.id))
        assert wording == "about B"
