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


def _asked(engine: Engine) -> tuple[int, int]:
    """Eva registered in February and asked in November whether she continues in 2024;
    returns her subscriber id and the invitation's."""
    with transaction(engine) as s:
        row, subs = invited(s)
        register(s, row, subs["eva.ek@uppsala.se"], how=RegistrationHow.coordinator,
                 now=datetime(2023, 2, 1, tzinfo=UTC))
    with transaction(engine) as s:
        run_due_reconfirmations(s, SLUG, officials(), now=datetime(2023, 11, 15, 9, 30, tzinfo=UTC),
                                mailer=RecordingMailer())
        return get_subscriber(s, "eva.ek@uppsala.se").id, get_invitation(s, SLUG).id


def test_link_works_for_its_year_only(engine: Engine, settings: Settings) -> None:
    sid, inv_id = _asked(engine)
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


def test_the_page_wears_the_newsletter_its_question_came_from(
        engine: Engine, settings: Settings) -> None:
    """In a workspace of several newsletters the page looks like the mail that asked."""
    from mailer.domain.brand import Brand
    from mailer.store.models import Mailing, MailingKind, MailingStatus

    sid, inv_id = _asked(engine)
    with transaction(engine) as s:
        s.add(Mailing(kind=MailingKind.confirmation, status=MailingStatus.done, subject="?",
                      html="", text="", source=f"invitation:{SLUG}:reconfirm:2024",
                      brand="natverk"))
    natverk = Brand(name="Nätverket för förtroendevalda", colour="#5b2a86")
    app = create_app(settings.model_copy(update={"brands": {"natverk": natverk}}),
                     engine=engine)
    url = app.state.web.links.reconfirm(SLUG, 2024, sid, inv_id).removeprefix(settings.base_url)
    page = TestClient(app).get(url)
    assert page.status_code == 200
    assert "/brand.css?b=natverk" in page.text and "Nätverket för förtroendevalda" in page.text
