"""The yearly "do you continue?" page: its link is signed for one invitation and one year."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from mailer.config import Settings
from mailer.domain.registration import RegistrationHow
from mailer.schedule.reconfirm import run_due_reconfirmations
from mailer.store.db import transaction
from mailer.store.invitations import get_invitation
from mailer.store.registrations import get_subscriber, register
from mailer.tokens import Purpose
from mailer.web.app import create_app
from tests.invite_helpers import SLUG, RecordingMailer, invited, officials


def test_link_works_for_its_year_only(engine: Engine, settings: Settings) -> None:
    with transaction(engine) as s:
        row, subs = invited(s)
        register(s, row, subs["eva.ek@uppsala.se"], how=RegistrationHow.coordinator,
                 now=datetime(2023, 2, 1, tzinfo=UTC))
    with transaction(engine) as s:
        run_due_reconfirmations(s, SLUG, officials(), now=datetime(2023, 11, 15, 9, 30, tzinfo=UTC),
                                mailer=RecordingMailer())
        row = get_invitation(s, SLUG)
        sid, inv_id = get_subscriber(s, "eva.ek@uppsala.se").id, row.id
    app = create_app(settings, engine=engine)
    links = app.state.web.links
    client = TestClient(app)
    url = links.reconfirm(SLUG, 2024, sid, inv_id).removeprefix(settings.base_url)
    page = client.get(url)
    assert page.status_code == 200, page.text[:3000]
    assert client.get(url.replace("/2024/", "/2025/")).status_code == 404
    # a registration link's token is not an answer link's token
    register_token = links.tokens.make(Purpose.register, sid, inv_id)
    assert client.get(f"/reconfirm/{SLUG}/2024/{register_token}").status_code == 400
