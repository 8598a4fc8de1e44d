"""Reading what comes back: DSNs in the shapes real servers send, ARF, auto-replies."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer.domain.feedback import (
    BounceClass,
    FeedbackKind,
    classify_status,
    parse,
    read_feedback,
    status_of,
)

SAMPLES = Path(__file__).parent / "feedback_samples"


def sample(name: str, addr: str = "anna@kommun.example", row: int = 41) -> bytes:
    text = (SAMPLES / name).read_text(encoding="utf-8")
    text = text.replace("{ADDR}", addr).replace("{USER}", addr.split("@")[0])
    return text.replace("{ROW}", str(row)).replace("{MAC}", "abcd1234").encode("utf-8")


def test_postfix_dsn_is_a_hard_bounce_of_the_row_it_returns():
    fb = read_feedback(parse(sample("postfix_dsn.eml")))
    assert fb.kind is FeedbackKind.bounce
    assert [(b.address, b.status, b.bounce_class) for b in fb.bounced] == [
        ("anna@kommun.example", "5.1.1", BounceClass.hard)]
    assert fb.outbox_ids == (41,)


def test_microsoft_365_ndr_recipient_not_found_is_hard():
    fb = read_feedback(parse(sample("exchange_ndr.eml", "bo@region.example", 7)))
    assert fb.kind is FeedbackKind.bounce
    (b,) = fb.bounced
    assert (b.address, b.status, b.bounce_class) == ("bo@region.example", "5.1.10",
                                                     BounceClass.hard)
    assert "RecipientNotFound" in b.diagnostic
    assert fb.outbox_ids == (7,)


def test_exim_plain_text_mailbox_full_is_soft():
    fb = read_feedback(parse(sample("exim_plain.eml", "cecilia@foretag.example")))
    assert fb.kind is FeedbackKind.bounce
    (b,) = fb.bounced
    assert (b.address, b.status, b.bounce_class) == ("cecilia@foretag.example", "5.2.2",
                                                     BounceClass.soft)


def test_dmarc_refusal_is_our_problem_not_the_readers():
    fb = read_feedback(parse(sample("gmail_policy.eml", "dan@gmail.com")))
    (b,) = fb.bounced
    assert b.bounce_class is BounceClass.policy and b.status == "5.7.26"


def test_arf_report_is_a_complaint_naming_recipient_and_row():
    fb = read_feedback(parse(sample("arf_complaint.eml", "eva@hotmail.com", 99)))
    assert fb.kind is FeedbackKind.complaint
    assert fb.addresses == ("eva@hotmail.com",)
    assert fb.outbox_ids == (99,)
    assert fb.detail == "abuse"


def test_vacation_reply_in_swedish_is_ignored_not_a_bounce():
    fb = read_feedback(parse(sample("auto_reply.eml")))
    assert fb.kind is FeedbackKind.auto_reply
    assert fb.bounced == ()


def test_mailto_unsubscribe_request_carries_its_token():
    raw = (b"From: anna@kommun.example\r\nTo: nyhetsbrev@news.example.org\r\n"
           b"Subject: unsubscribe abc.DEF-123\r\n\r\n")
    fb = read_feedback(parse(raw))
    assert fb.kind is FeedbackKind.unsubscribe and fb.token == "abc.DEF-123"


def test_delayed_dsn_is_a_warning():
    raw = sample("postfix_dsn.eml").replace(b"Action: failed", b"Action: delayed").replace(
        b"Status: 5.1.1", b"Status: 4.4.1")
    assert read_feedback(parse(raw)).kind is FeedbackKind.warning


def test_a_person_writing_back_is_left_alone():
    raw = (b"From: anna@kommun.example\r\nTo: nyhetsbrev@news.example.org\r\n"
           b"Subject: Tack for nyhetsbrevet\r\n\r\nMycket bra nummer!\r\n")
    assert read_feedback(parse(raw)).kind is FeedbackKind.other


@pytest.mark.parametrize(("status", "text", "klass"), [
    ("5.1.1", "", BounceClass.hard),
    ("5.1.10", "", BounceClass.hard),
    ("5.2.2", "mailbox full", BounceClass.soft),
    ("5.2.1", "mailbox disabled", BounceClass.hard),
    ("4.2.2", "", BounceClass.soft),
    ("5.7.515", "Access denied, sending domain does not meet the required authentication",
     BounceClass.policy),
    ("5.7.1", "rejected due to reputation", BounceClass.policy),
    ("", "550 no such user here", BounceClass.hard),
    ("", "421 try again later", BounceClass.soft),
    ("5.0.0", "something odd", BounceClass.soft),
])
def test_status_classes(status: str, text: str, klass: BounceClass):
    assert classify_status(status, text) is klass


def test_status_of_derives_from_basic_code():
    assert status_of("", "550 Requested action not taken") == "5.0.0"
    assert status_of("", "452 4.2.2 Over quota") == "4.2.2"


def test_arf_names_the_verp_sender_and_verp_reads_it_back():
    from mailer.delivery.verp import Verp

    verp = Verp("bounces@news.example.org", "s3cret")
    raw = sample("arf_complaint.eml", "eva@hotmail.com", 99).replace(
        b"bounces+99-abcd1234@", verp.address(99).split("@")[0].encode() + b"@")
    fb = read_feedback(parse(raw))
    assert [verp.row_of(a) for a in fb.senders] == [99]


def test_verp_refuses_forged_and_foreign_addresses():
    from mailer.delivery.verp import Verp

    verp = Verp("bounces@news.example.org", "s3cret")
    good = verp.address(12345)
    assert good.startswith("bounces+12345-") and good.endswith("@news.example.org")
    assert verp.row_of(good) == 12345 and verp.row_of(good.upper()) == 12345
    assert verp.row_of(good.replace("12345", "12346")) is None
    assert verp.row_of("bounces+12345-aaaaaaaaaa@news.example.org") is None
    assert verp.row_of(good.replace("news.example.org", "evil.example")) is None
    assert Verp("bounces@news.example.org", "other").row_of(good) is None
    msg = parse(f"Delivered-To: {good}\r\nTo: someone@else\r\n\r\n".encode())
    assert verp.rows_in(msg) == [12345]
    with pytest.raises(ValueError, match="MAILER_BOUNCE_ADDRESS"):
        Verp("bounces+x@news.example.org", "s")
