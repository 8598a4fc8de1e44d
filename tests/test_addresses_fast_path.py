"""The plain-ASCII fast path of ``normalise_address`` gives email-validator's results exactly."""

from __future__ import annotations

import random

import pytest
from email_validator import EmailNotValidError, validate_email

from mailer.domain import addresses
from mailer.domain.addresses import AddressError, normalise_address, validator_message

CORPUS = [
    # plain, as a million-row file holds them
    "anna@example.org", "Anna.Svensson@EXAMPLE.org", "person.12@kommun3.example",
    "a@b.se", "x_y-z+tag@sub.domain-name.example.com", "o'brien@example.ie",
    "!#$%&'*+-/=?^_`{|}~@example.org", "1234567890@123.example.org", "a@b.c",
    "UPPER@UPPER.SE", "MiXeD.CaSe@MiXeD.Example.ORG",
    # the mailbox names the RFCs make case-insensitive
    "Postmaster@example.org", "ABUSE@example.org", "Info@example.org", "noc@example.org",
    "Security@Example.org", "hostmaster@example.org", "webmaster@example.org",
    # dots
    ".anna@example.org", "anna.@example.org", "an..na@example.org", "anna@example.org.",
    "anna@.example.org", "anna@example..org", "anna@example.org..", ".@example.org",
    # domains
    "anna@localhost", "anna@example", "anna@example.test", "anna@example.local",
    "anna@example.invalid", "anna@example.onion", "anna@-example.org", "anna@example-.org",
    "anna@ex--ample.org", "anna@xn--bcher-kva.example", "anna@XN--BCHER-KVA.example",
    "anna@xn--abc.example", "anna@ab--cd.example", "anna@example.123", "anna@1.2.3.4",
    "anna@[127.0.0.1]", "anna@[IPv6:::1]", "anna@" + "a" * 63 + ".org",
    "anna@" + "a" * 64 + ".org", "anna@" + ".".join(["abcdefghi"] * 25) + ".org",
    "anna@example.org-", "anna@exa_mple.org", "anna@example.c0m", "anna@example.co1",
    # Unicode and IDN
    "åsa@example.se", "anna@bücher.example", "anna@BÜCHER.example", "Örjan@Göteborg.se",
    "anna@Ｅxample.org", "ａnna@example.org", "anna@example.org\u200b", "an\u0301na@example.org",
    "anna@exam\u00adple.org", "用户@例子.广告", "anna@xn--e1afmkfd.xn--p1ai", "anna@пример.рф",
    # quoted local parts, display names, comments, whitespace
    '"anna svensson"@example.org', '"anna"@example.org', '"a\\"b"@example.org',
    "Anna <anna@example.org>", "<anna@example.org>", "anna(comment)@example.org",
    "anna @example.org", "anna@ example.org", "an na@example.org", "anna\t@example.org",
    "anna@example.org\n", "anna\n@example.org",
    # @ signs
    "anna", "anna@", "@example.org", "anna@@example.org", "a@b@example.org", "@", "",
    # lengths
    "a" * 64 + "@example.org", "a" * 65 + "@example.org", "a" * 190 + "@example.org",
    "a" * 200 + "@example.org", "a" * 240 + "@example.org", "a" * 250 + "@example.org",
    "a" * 64 + "@" + ".".join(["b" * 60] * 3) + ".org",
    # other ASCII oddities
    "anna,svensson@example.org", "anna;svensson@example.org", "anna[1]@example.org",
    "anna\\x@example.org", "anna:x@example.org", "anna@exa%mple.org", "anna@example.org:25",
]

ALPHABET = (list("abcXYZ019._-+@'!%~") + ["@", "@", ".", "..", "xn--", "Å", "ü", "用", " ",
            '"', "<", ">", "(", ")", "[", "]", "\\", "\t", "\u200b", "Ｅ", "localhost",
            "example.org", "EXAMPLE.ORG", "postmaster", "se", "test"])


def reference(raw: str) -> tuple[str, str] | str:
    """What ``normalise_address`` returned before the fast path: email-validator's answer
    (its message as we word it to translate, ``validator_message``)."""
    text = raw.strip()
    if not text:
        return "error: no e-mail address"
    try:
        valid = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        return f"error: {validator_message(exc)}"
    return valid.normalized, valid.normalized.lower()


def ours(raw: str) -> tuple[str, str] | str:
    try:
        a = normalise_address(raw)
    except AddressError as exc:
        return f"error: {exc}"
    return a.email, a.key


@pytest.mark.parametrize("raw", CORPUS)
def test_corpus_gives_email_validators_results(raw: str) -> None:
    assert ours(raw) == reference(raw)
    assert ours(raw) == reference(raw)  # again: the domain's normal form is remembered


def test_random_strings_give_email_validators_results() -> None:
    rng = random.Random(14)
    samples = ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 12)))
               for _ in range(4000)]
    samples += [f"{rng.choice(['anna', 'A.b', 'x+y', 'Postmaster', 'a..b'])}@"
                f"{''.join(rng.choice(ALPHABET[:18]) for _ in range(rng.randint(1, 12)))}"
                for _ in range(4000)]
    # nearly plain: ASCII local parts and domains, most of them valid, some just not
    local = list("abcXYZ09._-+'!%~{|}`") + [".", "..", "Åsa"]
    labels = ["a", "Bb", "kommun3", "xn--", "-", "0", "com", "se", "", "test", "x" * 63]
    samples += ["".join(rng.choice(local) for _ in range(rng.randint(1, 8))) + "@"
                + ".".join(rng.choice(labels) for _ in range(rng.randint(1, 4)))
                + rng.choice(["", "", "", ".org", ".SE", "."])
                for _ in range(8000)]
    assert sum(addresses._plain_address(s.strip()) is not None for s in samples) > 1000
    mismatches = [(s, ours(s), reference(s)) for s in samples if ours(s) != reference(s)]
    assert mismatches == []


def test_plain_addresses_take_the_fast_path_and_others_do_not() -> None:
    assert addresses._plain_address("Anna.Svensson@EXAMPLE.org") == "Anna.Svensson@example.org"
    for raw in ["åsa@example.se", '"anna"@example.org', "anna@xn--bcher-kva.example",
                "Postmaster@example.org", "anna@example.org.", "anna@localhost",
                "a" * 65 + "@example.org", "Anna <anna@example.org>"]:
        assert addresses._plain_address(raw) is None, raw


def test_the_domain_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(addresses, "DOMAIN_CACHE_SIZE", 3)
    monkeypatch.setattr(addresses, "_plain_domains", {})
    for i in range(10):
        assert normalise_address(f"a@d{i}.example.org").email == f"a@d{i}.example.org"
        assert len(addresses._plain_domains) <= 3
