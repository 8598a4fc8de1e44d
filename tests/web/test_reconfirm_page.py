"""The yearly "do you continue?" page: its link is signed for one invitation and one year."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from mailer.config import Settings
from mailer.domain.registration import RegistrationHow, RegistrationStatus
from mailer.schedule.reconfirm import run_due_reconfirmations
from mailer.store.db import transaction
from mailer.store.invitations import get_invitation
from mailer.store.models import ReconfirmAnswer, Reconfirmation, RegistrationRow
from mailer.store.registrations import get_subscriber, register
from mailer.tokens import Purpose
from mailer.web.app import create_app
from tests.invite_helpers import ISSUE, SLUG, RecordingMailer, invited, officials
from tests.web.conftest import csrf


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


def _page(engine: Engine, settings: Settings, app: FastAPI, now: datetime) -> str:
    """Eva's answer page at ``now``, with the invitation's issue.yaml in the workspace (its
    answer-by date, 15 December 2023, comes from there)."""
    folder = settings.workspace / "issues" / SLUG
    folder.mkdir(parents=True)
    shutil.copy(ISSUE, folder / "issue.yaml")
    sid, inv_id = _asked(engine)
    app.state.web.now = lambda: now
    return str(app.state.web.links.reconfirm(SLUG, 2024, sid, inv_id)
               .removeprefix(settings.base_url))


def _eva(engine: Engine) -> tuple[ReconfirmAnswer | None, str | None, RegistrationRow]:
    with transaction(engine) as s:
        eva = get_subscriber(s, "eva.ek@uppsala.se")
        rec = s.scalar(select(Reconfirmation).where(Reconfirmation.subscriber_id == eva.id))
        reg = s.scalar(select(RegistrationRow).where(RegistrationRow.subscriber_id == eva.id))
        assert rec is not None and reg is not None
        s.expunge(reg)
        return rec.answer, rec.answered_via, reg


def test_after_the_answer_by_day_the_page_takes_no_answer(
        engine: Engine, settings: Settings, app: FastAPI, client: TestClient) -> None:
    """The page said answers could be changed until the answer-by date, yet a "no" on
    16 December was recorded and freed Eva's seat."""
    url = _page(engine, settings, app, datetime(2023, 12, 15, 22, 0, tzinfo=UTC))
    opened_in_time = client.get(url)  # Stockholm: 23:00 on the answer-by day
    assert 'name="answer"' in opened_in_time.text
    app.state.web.now = lambda: datetime(2023, 12, 16, 9, 0, tzinfo=UTC)
    page = client.get(url)
    assert page.status_code == 200
    assert "Svarstiden gick ut den 15 december 2023" in page.text
    assert 'name="answer"' not in page.text
    done = client.post(url, data={"csrf_token": csrf(opened_in_time.text), "answer": "no"})
    assert done.status_code == 200 and "Svarstiden gick ut" in done.text
    assert "Din plats är nu ledig" not in done.text
    answer, _, reg = _eva(engine)
    assert answer is None and reg.status is RegistrationStatus.registered
    english = client.get(url + "?lang=en")
    assert "The time to answer passed on 15 December 2023" in english.text


def test_the_answer_day_itself_still_counts(engine: Engine, settings: Settings, app: FastAPI,
                                            client: TestClient) -> None:
    url = _page(engine, settings, app, datetime(2023, 12, 15, 20, 0, tzinfo=UTC))
    page = client.get(url)
    assert "Svara senast 15 december 2023." in page.text and 'name="answer"' in page.text
    r = client.post(url, data={"csrf_token": csrf(page.text), "answer": "yes"})
    assert r.status_code == 200, r.text[:3000]
    assert _eva(engine)[0] is ReconfirmAnswer.yes


def test_no_then_yes_on_the_web_is_a_registration_through_the_form(
        engine: Engine, settings: Settings, app: FastAPI, client: TestClient) -> None:
    """Eva answers "no", then "yes" on the page: her registration came back as made by
    "coordinator", though nobody but she did anything."""
    url = _page(engine, settings, app, datetime(2023, 11, 20, 9, 0, tzinfo=UTC))
    token = csrf(client.get(url).text)
    client.post(url, data={"csrf_token": token, "answer": "no"})
    assert _eva(engine)[2].status is RegistrationStatus.cancelled
    client.post(url, data={"csrf_token": token, "answer": "yes"})
    answer, via, reg = _eva(engine)
    assert (answer, via) == (ReconfirmAnswer.yes, "web")
    assert (reg.status, reg.how) == (RegistrationStatus.registered, RegistrationHow.form)
