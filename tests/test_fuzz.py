"""Fuzzing (hypothesis, bounded and derandomised for CI) of what reads outside input: the
CSV reader and row parser, the issue.yaml loader, the signed-token parser and the bounce /
complaint reader. Bad input may only ever give our own errors with a reason, never a
traceback (issue 13, "Tests that prove it")."""

from __future__ import annotations

import email
import email.policy
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from itsdangerous import Signer, TimestampSigner

from mailer.authoring.load import load_document
from mailer.domain.feedback import Feedback, read_feedback
from mailer.domain.subscriber_rows import HeaderError, RowError, map_columns, parse_row
from mailer.domain.text import clean_line, has_control
from mailer.errors import MailerError
from mailer.store.csv_input import rows_of, sniff_bytes
from mailer.tokens import EXPIRING, BadToken, Purpose, Tokens

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])
SAMPLES = sorted((Path(__file__).parent / "feedback_samples").glob("*.eml"))
KEY = "fuzzing-key-0123456789"

# Text that looks like CSV: delimiters, quotes, line breaks, BOMs, NULs, accents.
csv_alphabet = st.sampled_from(list("ab@.;,\t\"'\r\n =+-xyzåäöÅ\x00\x1b\u202e\ufeff1"))
csv_text = st.text(csv_alphabet, max_size=300)
header_line = st.sampled_from(["email;name\n", "E-post,Namn,Organisation\n", "email\n",
                               "namn;e-postadress;kommunkod;roll;språk\n", ""])


def _read_csv(data: bytes) -> None:
    try:
        fmt = sniff_bytes(data, "fuzz.csv")
        header, rows = rows_of(data, "fuzz.csv", fmt)
        columns = map_columns(header)
        for line, _, values in rows:
            try:
                parse_row(values, columns, line)
            except RowError as exc:
                assert str(exc)
    except (MailerError, HeaderError) as exc:
        assert str(exc)


@FUZZ
@given(header=header_line, body=csv_text, encoding=st.sampled_from(["utf-8", "cp1252",
                                                                    "utf-16"]))
def test_csv_reader_never_crashes(header: str, body: str, encoding: str) -> None:
    _read_csv((header + body).encode(encoding, errors="replace"))


@FUZZ
@given(st.binary(max_size=400))
def test_csv_reader_on_raw_bytes(data: bytes) -> None:
    _read_csv(b"email;name\n" + data)


yaml_alphabet = st.sampled_from(list("kind: newsletter\n title-:[]{}#&*!|>'\"%@`,?0123 \t")
                                + ["items:", "sections:", "number: ", "date: 2023-06-01",
                                   "\n  - ", "!!python/object:os.system", "<<: *a", "&a "])


@FUZZ
@given(st.lists(yaml_alphabet, max_size=60).map("".join))
def test_issue_yaml_loader_reports_problems_instead_of_raising(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "issue.yaml").write_text(text, encoding="utf-8")
        loaded = load_document(folder)  # documented: never raises for bad content
    assert loaded.ok or loaded.problems


@FUZZ
@given(purpose=st.sampled_from(list(Purpose)),
       payload=st.text(st.sampled_from(list("0123456789.-_ +٣x\x00é")), max_size=30),
       forged=st.text(max_size=80))
def test_token_parser_answers_bad_token_or_data(purpose: Purpose, payload: str,
                                                forged: str) -> None:
    tokens = Tokens(KEY)
    # A payload we signed ourselves (so the parser behind the signature is reached) ...
    signer_type = TimestampSigner if purpose in EXPIRING else Signer
    signed = signer_type(KEY, salt=f"mailer.{purpose}", digest_method=__import__(
        "hashlib").sha256).sign(payload.encode("utf-8")).decode("utf-8")
    for token in (signed, forged, signed[:-3] + forged[:3]):
        try:
            data = tokens.read(purpose, token, max_age=3600)
        except BadToken:
            continue
        assert isinstance(data.subscriber_id, int) and isinstance(data.scope_id, int)


def _mutations() -> st.SearchStrategy[bytes]:
    base = st.sampled_from([p.read_bytes() for p in SAMPLES])

    def mutate(args: tuple[bytes, int, bytes, bool]) -> bytes:
        data, at, junk, cut = args
        at %= max(1, len(data))
        return data[:at] if cut else data[:at] + junk + data[at + len(junk):]

    return st.tuples(base, st.integers(0, 1 << 16), st.binary(max_size=40),
                     st.booleans()).map(mutate)


@FUZZ
@given(st.one_of(_mutations(), st.binary(max_size=300)))
def test_read_feedback_classifies_anything(data: bytes) -> None:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(read_feedback(msg), Feedback)  # type: ignore[arg-type]


@FUZZ
@given(st.text(max_size=200))
def test_clean_line_leaves_no_control_characters(text: str) -> None:
    cleaned = clean_line(text)
    assert not has_control(cleaned) and cleaned == clean_line(cleaned)
    assert "\n" not in cleaned and "\r" not in cleaned


def test_there_are_feedback_samples_to_mutate() -> None:
    assert len(SAMPLES) >= 5


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
