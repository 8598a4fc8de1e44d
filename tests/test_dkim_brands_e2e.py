"""DKIM per From domain, end to end: two newsletters on two domains, each with its own key
made with ``mailer dkim keygen --brand``; the real worker delivers to aiosmtpd on loopback
and every copy verifies with dkimpy, d= its From domain. The workspace's own mail keeps its
dual RSA + Ed25519 signature. A missing brand key stops the start with what to run;
``mailer doctor`` prints each brand's record and its alignment."""

from __future__ import annotations

import re
import tomllib
from email.utils import parseaddr
from pathlib import Path

import dkim
from sqlalchemy import Engine

from mailer.config import load_settings
from mailer.delivery.dkim import load_key, txt_value
from tests.delivery_support import add_subscribers
from tests.smtp_server import SmtpServer
from tests.test_brands_e2e import _issue, _sent
from tests.test_brands_e2e import branded as branded  # noqa: F401 (fixture)
from tests.test_subscribers_cli import Cli

NATVERK = "natverket.example.net"
SKR = "skr.example.org"


def _records(workspace: Path, keys: dict[str, tuple[str, str]]) -> dict[bytes, bytes]:
    """A DNS of the published keys: selector → (file, domain)."""
    out = {}
    for selector, (file, domain) in keys.items():
        key = load_key(workspace / file, domain=domain, selector=selector)
        for dot in ("", "."):
            out[f"{selector}._domainkey.{domain}{dot}".encode()] = txt_value(key.key)
    return out


def _signatures(data: bytes, records: dict[bytes, bytes]) -> list[tuple[bytes, ...]]:
    """(d=, s=, a=) of each DKIM-Signature of ``data``, each verified by dkimpy."""
    count = len(re.findall(rb"(?im)^DKIM-Signature:", data))
    out = []
    for i in range(count):
        d = dkim.DKIM(data)
        assert d.verify(idx=i, dnsfunc=lambda name, timeout=5: records.get(name)), i
        out.append((d.domain, d.selector, d.signature_fields[b"a"]))
    return out


def test_each_newsletter_signs_with_its_own_key_and_domain(
        branded: Cli, engine: Engine, smtp_server: SmtpServer,  # noqa: F811
        workspace: Path) -> None:
    cli = branded
    assert cli("init")[0] == 0
    # The workspace's key (d= the From domain) with an Ed25519 one beside it…
    assert cli("dkim", "keygen", "--selector", "skr2026")[0] == 0
    assert cli("dkim", "keygen", "--selector", "skred", "--algorithm", "ed25519")[0] == 0
    # … and each newsletter's own: the network's on its own domain (the default d=, its
    # From domain), the democracy letter's with its domain named.
    code, out, err = cli("dkim", "keygen", "--selector", "natverk2026", "--brand", "natverk")
    assert code == 0, out + err
    assert "set dkim_selector, dkim_key_file in [brands.natverk]" in out
    assert out.strip().splitlines()[-1].startswith(
        f'natverk2026._domainkey.{NATVERK}. IN TXT "v=DKIM1; k=rsa; p=')
    assert "BEGIN" not in out and "WARNING" not in err
    code, out, err = cli("dkim", "keygen", "--selector", "demo2026", "--domain", SKR,
                         "--brand", "demokrati")
    assert code == 0, out + err
    assert out.strip().splitlines()[-1].startswith(f"demo2026._domainkey.{SKR}. IN TXT")
    toml = tomllib.loads((workspace / "mailer.toml").read_text(encoding="utf-8"))
    assert toml["dkim_selector"] == "skr2026" and toml["dkim_ed25519_selector"] == "skred"
    assert toml["brands"]["natverk"]["dkim_selector"] == "natverk2026"
    assert toml["brands"]["natverk"]["dkim_key_file"] == "dkim/natverk2026.pem"
    assert toml["brands"]["natverk"]["name"] == "Nätverket för förtroendevalda"  # kept
    assert toml["brands"]["demokrati"]["dkim_domain"] == SKR
    assert (workspace / "dkim" / "natverk2026.pem").stat().st_mode & 0o777 == 0o600
    settings = load_settings(workspace)
    assert settings.brand_dkim_path("natverk") == workspace / "dkim" / "natverk2026.pem"

    # Refusals: an unknown brand, a brand's Ed25519-only key, an existing key file.
    code, out, err = cli("dkim", "keygen", "--selector", "x1", "--brand", "nope")
    assert code == 2 and "brand 'nope' is not in mailer.toml" in out + err
    code, out, err = cli("dkim", "keygen", "--selector", "x1", "--brand", "natverk",
                         "--algorithm", "ed25519")
    assert code == 2 and "an RSA key (--algorithm rsa)" in out + err
    code, out, err = cli("dkim", "keygen", "--selector", "natverk2026", "--brand", "natverk")
    assert code == 2 and "exists; give --force" in out + err

    add_subscribers(engine, 2, slug="demokratidialog", domain="demokrati.test")
    add_subscribers(engine, 3, slug="natverk-2024", domain="natverk.test")
    add_subscribers(engine, 2, slug="allmant", domain="allmant.test")
    assert cli("lists", "edit", "demokratidialog", "--brand", "demokrati")[0] == 0
    assert cli("lists", "edit", "natverk-2024", "--brand", "natverk")[0] == 0
    _issue(workspace, "demo-1", "Demokratibrevet nr 1")
    _issue(workspace, "natverk-1", "Nätverksbrevet nr 1")
    _issue(workspace, "allmant-1", "Allmänt brev")
    for issue, lst in (("demo-1", "demokratidialog"), ("natverk-1", "natverk-2024"),
                       ("allmant-1", "allmant")):
        code, out, err = cli("send", str(workspace / "issues" / issue), "--list", lst)
        assert code == 0, out + err
    code, out, err = cli("worker", "--drain")
    assert code == 0, out + err

    records = _records(workspace, {
        "skr2026": ("dkim/skr2026.pem", SKR), "skred": ("dkim/skred.pem", SKR),
        "natverk2026": ("dkim/natverk2026.pem", NATVERK),
        "demo2026": ("dkim/demo2026.pem", SKR)})
    got = _sent(smtp_server, 7)
    assert sorted(len(v) for v in got.values()) == [2, 2, 3]
    for domain, want in (("natverk.test", "natverk2026"), ("demokrati.test", "demo2026")):
        for r in got[domain]:
            from_domain = parseaddr(r.message["From"])[1].rpartition("@")[2]
            assert _signatures(r.data, records) == [
                (from_domain.encode(), want.encode(), b"rsa-sha256")]
    assert {parseaddr(r.message["From"])[1] for r in got["natverk.test"]} == {
        f"natverk@{NATVERK}"}
    for r in got["allmant.test"]:  # the workspace's newsletter: RSA + Ed25519, d= its From
        assert parseaddr(r.message["From"])[1].endswith("@" + SKR)
        assert _signatures(r.data, records) == [
            (SKR.encode(), b"skr2026", b"rsa-sha256"), (SKR.encode(), b"skred", b"ed25519-sha256")]

    # doctor: each brand's own key, aligned, and its record to publish.
    code, out, _ = cli("doctor")
    assert (f"ok   [brands.natverk]: signs with its own DKIM key "
            f"{workspace / 'dkim' / 'natverk2026.pem'} (rsa-sha256, selector natverk2026, "
            f"d={NATVERK}), aligned with its From domain {NATVERK} (DMARC)") in out
    assert "ok   [brands.demokrati]: signs with its own DKIM key" in out
    assert "FAIL [brands." not in out
    zone = out.partition("DNS records to publish")[2]
    for line in (f'natverk2026._domainkey.{NATVERK}. IN TXT "v=DKIM1; k=rsa; p=',
                 f'demo2026._domainkey.{SKR}. IN TXT "v=DKIM1; k=rsa; p=',
                 f'skr2026._domainkey.{SKR}. IN TXT "v=DKIM1; k=rsa; p=',
                 f'skred._domainkey.{SKR}. IN TXT "v=DKIM1; k=ed25519; p=',
                 "_dmarc.example.net. IN TXT"):
        assert line in zone, line

    # A brand key that is gone stops every command with what to run.
    (workspace / "dkim" / "natverk2026.pem").unlink()
    code, out, err = cli("lists")
    assert code != 0
    assert (f"[brands.natverk] dkim_key_file: {workspace / 'dkim' / 'natverk2026.pem'} does "
            "not exist; create the key with 'mailer dkim keygen --selector natverk2026 "
            f"--domain {NATVERK} --brand natverk'") in out + err
    # … and that command makes it again.
    assert cli("dkim", "keygen", "--selector", "natverk2026", "--brand", "natverk")[0] == 0
    assert cli("lists")[0] == 0


def test_a_brand_without_a_key_off_the_workspace_domain_goes_unsigned_and_doctor_says(
        branded: Cli, workspace: Path) -> None:  # noqa: F811
    cli = branded
    assert cli("dkim", "keygen", "--selector", "skr2026")[0] == 0
    code, out, _ = cli("doctor")
    assert code == 1
    assert (f"FAIL [brands.natverk]: mail from {NATVERK} goes out without mailer's DKIM "
            f"signature: the workspace's DKIM domain {SKR} does not align with it") in out
    assert (f"fix: give [brands.natverk] its own key: mailer dkim keygen --selector "
            f"<selector> --domain {NATVERK} --brand natverk") in out
    assert f"ok   [brands.demokrati]: From domain {SKR} aligns with the DKIM domain" in out
