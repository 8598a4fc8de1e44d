"""DKIM signatures that dkimpy's verifier accepts, List-Unsubscribe-Post covered."""

from __future__ import annotations

import os
import stat
from email import policy
from email.message import EmailMessage
from pathlib import Path

import dkim
import pytest

from mailer.delivery.dkim import (
    DkimKey,
    DkimSigner,
    dns_record,
    generate_key,
    load_key,
    txt_value,
    write_key,
)
from mailer.errors import ConfigError


def message(body_lines: int = 200) -> bytes:
    m = EmailMessage()
    m["From"] = "Nyhetsbrev Demokrati <nyhetsbrev@news.example.org>"
    m["To"] = "anna@kommun.example"
    m["Subject"] = "Nyhetsbrev nr 6 år 2023 – medborgardialog"
    m["Message-ID"] = "<abc@news.example.org>"
    m["List-Id"] = "Medborgardialog <medborgardialog.news.example.org>"
    m["List-Unsubscribe"] = "<https://news.example.org/u/abc>, <mailto:n@news.example.org>"
    m["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    m.set_content("Hej Anna!\n" + "Rad med text åäö.\n" * body_lines)
    m.add_alternative("<p>Hej Anna!</p>\n" * body_lines, subtype="html")
    return m.as_bytes(policy=policy.SMTP)


@pytest.fixture(scope="module")
def keys() -> dict[str, object]:
    return {"rsa": generate_key("rsa"), "ed25519": generate_key("ed25519")}


def signed_names(d: dkim.DKIM) -> list[bytes]:
    """h= as RFC 6376 3.5 reads it: names separated by colons, FWS around them allowed."""
    return [n.strip() for n in d.signature_fields[b"h"].split(b":")]


def resolver(records: dict[str, object]):
    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        key = records.get(name.decode("ascii").rstrip("."))
        return txt_value(key) if key is not None else None  # type: ignore[arg-type]
    return dnsfunc


def test_rsa_signature_verifies_and_covers_one_click_headers(keys):
    signer = DkimSigner([DkimKey("news.example.org", "nl2026", keys["rsa"])])
    signed = signer.sign(message())
    d = dkim.DKIM(signed)
    assert d.verify(dnsfunc=resolver({"nl2026._domainkey.news.example.org": keys["rsa"]}))
    h = signed_names(d)
    for name in (b"from", b"to", b"subject", b"date", b"message-id", b"mime-version",
                 b"content-type", b"list-id", b"list-unsubscribe", b"list-unsubscribe-post"):
        assert name in h
    # Over-signed: a From or List-Unsubscribe added in transit breaks the signature.
    assert h.count(b"from") == 2 and h.count(b"list-unsubscribe-post") == 2
    forged = b"From: evil@example.com\r\n" + signed
    assert not dkim.DKIM(forged).verify(
        dnsfunc=resolver({"nl2026._domainkey.news.example.org": keys["rsa"]}))


def test_changed_body_or_header_fails_verification(keys):
    records = resolver({"s._domainkey.news.example.org": keys["rsa"]})
    signed = DkimSigner([DkimKey("news.example.org", "s", keys["rsa"])]).sign(message())
    assert not dkim.verify(signed.replace(b"Hej Anna!", b"Hej Bertil", 1), dnsfunc=records)
    assert not dkim.verify(signed.replace(b"One-Click", b"One-Clack"), dnsfunc=records)


def test_dual_signing_rsa_and_ed25519_both_verify(keys):
    pytest.importorskip("nacl", reason="dkimpy verifies Ed25519 with PyNaCl")
    signer = DkimSigner([DkimKey("news.example.org", "r", keys["rsa"]),
                         DkimKey("news.example.org", "e", keys["ed25519"])])
    signed = signer.sign(message())
    records = resolver({"r._domainkey.news.example.org": keys["rsa"],
                        "e._domainkey.news.example.org": keys["ed25519"]})
    d = dkim.DKIM(signed)
    assert d.verify(idx=0, dnsfunc=records)
    assert d.verify(idx=1, dnsfunc=records)


def test_relays_refolding_headers_keep_the_signature_valid(keys):
    records = resolver({"s._domainkey.news.example.org": keys["rsa"]})
    signed = DkimSigner([DkimKey("news.example.org", "s", keys["rsa"])]).sign(message())
    refolded = signed.replace(b"Subject: Nyhetsbrev", b"Subject:   Nyhetsbrev")
    assert dkim.verify(refolded, dnsfunc=records)


def test_dns_record_is_one_zone_file_line_in_quoted_chunks(keys):
    line = dns_record("news.example.org", "nl2026", keys["rsa"])
    assert line.startswith('nl2026._domainkey.news.example.org. IN TXT "v=DKIM1; k=rsa; p=')
    chunks = line.split(" IN TXT ", 1)[1].split('" "')
    assert len(chunks) >= 2 and all(len(c.strip('"')) <= 255 for c in chunks)
    assert "\n" not in line


def test_key_file_is_private_and_round_trips(tmp_path: Path, keys):
    path = tmp_path / "dkim" / "nl2026.pem"
    write_key(keys["rsa"], path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    key = load_key(path, domain="News.Example.org.", selector="nl2026")
    assert key.domain == "news.example.org" and key.algorithm == b"rsa-sha256"


def test_bad_key_files_say_what_to_do(tmp_path: Path):
    with pytest.raises(ConfigError, match="cannot read .*mailer dkim keygen"):
        load_key(tmp_path / "missing.pem", domain="d.example", selector="s")
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    with pytest.raises(ConfigError, match="not an unencrypted PEM private key"):
        load_key(bad, domain="d.example", selector="s")


def test_folded_repeated_and_spaced_headers_canonicalize_as_verifiers_do(keys):
    """Our relaxed canonicalization (no dkimpy on the signing path) matches dkimpy's."""
    raw = (b"From: Nyhetsbrev <nyhetsbrev@news.example.org>\r\n"
           b"To: anna@kommun.example\r\n"
           b"Cc: a@kommun.example\r\n"
           b"Subject:   Nyhetsbrev \t nr 6\r\n\t  med  en   vikt rad  \r\n"
           b"Cc:  b@kommun.example ,\r\n c@kommun.example\r\n"
           b"X-Not-Signed: x\r\n"
           b"Message-ID: <m1@news.example.org>\r\n"
           b"\r\n"
           b"Hej!\r\n\r\n\r\n")
    signer = DkimSigner([DkimKey("news.example.org", "s", keys["rsa"])])
    signed = signer.sign(raw)
    d = dkim.DKIM(signed)
    assert d.verify(dnsfunc=resolver({"s._domainkey.news.example.org": keys["rsa"]}))
    h = signed_names(d)
    assert h.count(b"cc") == 3 and b"x-not-signed" not in h
    # Swapping the two Cc values in transit breaks it (order is signed bottom-up).
    swapped = signed.replace(b"Cc: a@kommun.example", b"Cc: z@kommun.example")
    assert not dkim.DKIM(swapped).verify(
        dnsfunc=resolver({"s._domainkey.news.example.org": keys["rsa"]}))


def test_signature_header_lines_stay_short_and_fold_only_where_fws_is_allowed(keys):
    signer = DkimSigner([DkimKey("news.example.org", "nl2026", keys["rsa"]),
                         DkimKey("news.example.org", "ed2026", keys["ed25519"])])
    signed = signer.sign(message())
    head = signed[:signed.index(b"\r\n\r\n")]
    sig_lines = []
    for line in head.split(b"\r\n"):
        if line.startswith(b"DKIM-Signature:") or (sig_lines and line[:1] == b"\t"):
            sig_lines.append(line)
        elif line[:1] not in (b" ", b"\t"):
            if sig_lines and not line.startswith(b"DKIM-Signature:"):
                break
    assert sig_lines and all(len(line) <= 78 for line in sig_lines)
    # Folds fall between tags, after a colon of h=, or inside b= (RFC 6376 3.5).
    in_b = False
    for before, after in zip(sig_lines, sig_lines[1:], strict=False):
        if after.startswith(b"DKIM-Signature:"):
            in_b = False
            continue
        in_b = in_b or after.lstrip().startswith(b"b=")
        assert in_b or before.endswith((b";", b":")), (before, after)


@pytest.mark.parametrize("body", [
    b"Hej Anna!\r\n",  # the usual case: the body hashed in place
    b"Hej Anna!",  # no final line break: simple canonicalization adds one
    b"Hej Anna!\r\n\r\n\r\n",  # trailing empty lines: reduced to one CRLF
    b"",  # empty body: one CRLF
    b"Hej Anna!\nRad med LF.\n",  # bare LF lines, as some tools write them
])
def test_every_body_shape_verifies(keys, body):
    head = (b"From: nyhetsbrev@news.example.org\r\nTo: anna@kommun.example\r\n"
            b"Subject: Nyhetsbrev\r\nMessage-ID: <b@news.example.org>\r\n")
    signer = DkimSigner([DkimKey("news.example.org", "nl2026", keys["rsa"])])
    for shared in (b"", head[:head.index(b"To:")]):
        signed = signer.sign(head + b"\r\n" + body, shared_head=shared)
        assert dkim.DKIM(signed).verify(
            dnsfunc=resolver({"nl2026._domainkey.news.example.org": keys["rsa"]}))


def test_a_shared_head_that_is_not_the_messages_own_is_ignored(keys):
    signer = DkimSigner([DkimKey("news.example.org", "nl2026", keys["rsa"])])
    dns = resolver({"nl2026._domainkey.news.example.org": keys["rsa"]})
    first = message()
    signer.sign(first, shared_head=first[:first.index(b"To:")])  # cached
    other = first.replace(b"Nyhetsbrev Demokrati", b"Nyhetsbrev Annan", 1)
    assert dkim.DKIM(signer.sign(other, shared_head=first[:first.index(b"To:")])).verify(
        dnsfunc=dns)


def test_signers_pick_a_key_per_from_domain_and_never_sign_misaligned(
        workspace: Path, caplog: pytest.LogCaptureFixture) -> None:
    from mailer.config import load_settings
    from mailer.delivery.dkim import DkimSigners

    for name in ("ws", "wsed", "nat", "nat-again"):
        write_key(generate_key("ed25519" if name == "wsed" else "rsa"),
                  workspace / "dkim" / f"{name}.pem")
    (workspace / "dkim" / "same.pem").write_bytes((workspace / "dkim" / "nat.pem").read_bytes())
    (workspace / "mailer.toml").write_text(
        'MAILER_FROM = "N <nyhetsbrev@news.example.org>"\n'
        'dkim_selector = "ws"\ndkim_ed25519_selector = "wsed"\n'
        '[brands.natverk]\nfrom_address = "natverk@natverk.example.net"\n'
        'dkim_selector = "nat"\n'
        '[brands.kopia]\nfrom_address = "kopia@natverk.example.net"\n'
        'dkim_selector = "nat"\ndkim_key_file = "dkim/same.pem"\n'
        '[brands.demokrati]\nfrom_address = "d@demokrati.news.example.org"\n'
        '[brands.annan]\nfrom_address = "a@annan.example.com"\n', encoding="utf-8")
    signers = DkimSigners(load_settings(workspace))
    ws = signers.workspace
    assert ws is not None and [k.algorithm for k in ws.keys] == [b"rsa-sha256",
                                                                  b"ed25519-sha256"]
    nat = signers.for_mailing("natverk", "natverk.example.net")
    assert nat is not None and [(k.domain, k.selector) for k in nat.keys] == [
        ("natverk.example.net", "nat")]
    assert signers.for_mailing("kopia", "natverk.example.net") is nat  # one signer per key
    # A brand without a key: the workspace's when aligned (same organisational domain)…
    assert signers.for_mailing("demokrati", "demokrati.news.example.org") is ws
    assert signers.for_mailing("", "news.example.org") is ws
    # … a brand's own key for its From domain when the brand is gone from mailer.toml …
    assert signers.for_mailing("borttagen", "natverk.example.net") is nat
    # … and nothing rather than a misaligned d= (logged once).
    with caplog.at_level("WARNING"):
        assert signers.for_mailing("annan", "annan.example.com") is None
        assert signers.for_mailing("annan", "annan.example.com") is None
    assert len([r for r in caplog.records if "not DKIM-signing" in r.message]) == 1
    # A brand's own key whose domain does not align with the mailing's From: unsigned.
    assert signers.for_mailing("natverk", "other.example.com") is None


def test_the_environment_settings_choose_key_file_selector_and_domain(
        tmp_path: Path, keys, monkeypatch: pytest.MonkeyPatch) -> None:
    """MAILER_DKIM_SELECTOR, MAILER_DKIM_KEY_FILE (a key kept outside the workspace) and
    MAILER_DKIM_DOMAIN (d= other than the From domain) as the worker reads them."""
    from mailer.config import load_settings
    from mailer.delivery.dkim import signer_for

    for key in list(os.environ):
        if key.startswith("MAILER_") and not key.startswith("MAILER_TEST_"):
            monkeypatch.delenv(key)
    workspace = tmp_path / "ws"
    workspace.mkdir()
    write_key(keys["rsa"], tmp_path / "secrets" / "news.pem")  # type: ignore[arg-type]
    monkeypatch.setenv("MAILER_FROM", "Nyhetsbrev <nyhetsbrev@news.example.org>")
    monkeypatch.setenv("MAILER_DKIM_SELECTOR", "env2026")
    monkeypatch.setenv("MAILER_DKIM_KEY_FILE", str(tmp_path / "secrets" / "news.pem"))
    monkeypatch.setenv("MAILER_DKIM_DOMAIN", "example.org")
    signer = signer_for(load_settings(workspace))
    assert signer is not None
    d = dkim.DKIM(signer.sign(message()))
    assert d.verify(dnsfunc=resolver({"env2026._domainkey.example.org": keys["rsa"]}))
    assert d.domain == b"example.org" and d.selector == b"env2026"
    monkeypatch.setenv("MAILER_DKIM_KEY_FILE", str(tmp_path / "secrets" / "missing.pem"))
    with pytest.raises(ConfigError, match="MAILER_DKIM_KEY_FILE"):
        signer_for(load_settings(workspace))
