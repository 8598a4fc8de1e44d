"""``mailer issue new|check|render|preview`` run as a user runs them."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import functools
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from mailer.authoring.examples import flagship_path
from mailer.authoring.scaffold import new_issue
from tests.conftest import TEST_SECRET

ROOT = Path(__file__).resolve().parent.parent


def run(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env.update(MAILER_SECRET_KEY=TEST_SECRET, PYTHONPATH=str(ROOT),
               MAILER_BASE_URL="https://nyhetsbrev.example.org")
    return subprocess.run([sys.executable, "-m", "mailer", "--workspace", str(workspace), *args],
                          cwd=workspace, env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def ws(workspace: Path) -> Path:
    shutil.copytree(flagship_path(), workspace / "issues" / flagship_path().name)
    return workspace


def test_check_flagship_passes(ws: Path) -> None:
    r = run(ws, "issue", "check", "issues/2023-06-nyhetsbrev-6", "--today", "2023-06-01")
    assert r.returncode == 0, r.stderr
    assert "ok: issues/2023-06-nyhetsbrev-6/issue.yaml (newsletter nr 6 2023" in r.stdout


def test_check_broken_issue_fails_without_traceback(ws: Path) -> None:
    yaml_path = ws / "issues" / "2023-06-nyhetsbrev-6" / "issue.yaml"
    yaml_path.write_text(yaml_path.read_text(encoding="utf-8").replace(
        "type: podcast", "type: podcats", 1), encoding="utf-8")
    r = run(ws, "issue", "check", "issues/2023-06-nyhetsbrev-6")
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert "issues/2023-06-nyhetsbrev-6/issue.yaml:" in r.stderr
    assert "unknown item type 'podcats'" in r.stderr


def test_check_missing_folder(ws: Path) -> None:
    r = run(ws, "issue", "check", "issues/nope")
    assert r.returncode == 3 and "Traceback" not in r.stderr
    assert "does not exist" in r.stderr


def test_new_scaffolds_next_number(ws: Path) -> None:
    r = run(ws, "issue", "new", "--year", "2023", "--title", "Sommarnumret", "--month", "6")
    assert r.returncode == 0, r.stderr
    folder = ws / "issues" / "2023-nr07-juni"
    text = (folder / "issue.yaml").read_text(encoding="utf-8")
    assert "number: 7" in text and "Sommarnumret" in text and "Anders Nordh" in text
    # The scaffold's example texts are not ready to send: the check names each one.
    r = run(ws, "issue", "check", str(folder))
    assert r.returncode == 1, r.stdout + r.stderr
    for example in ("'Skriv inledningen här", "'Rubrik'", "'En kort sammanfattning.'"):
        assert f"still the example text {example}" in r.stderr, r.stderr
    assert 'section "Nyheter", item "Rubrik", title:' in r.stderr
    assert "placeholder address" in r.stdout  # the example link: a warning, not an error
    r = run(ws, "issue", "new", "--month", "2025-03")
    assert r.returncode == 0 and (ws / "issues" / "2025-nr01-mars").is_dir(), r.stderr
    # Numbers sort as numbers: nr 10 after nr 9 (the same function, in-process for speed).
    for _ in range(9):
        new_issue(ws / "issues", today=dt.date(2025, 3, 1))
    names = sorted(p.name for p in (ws / "issues").iterdir() if p.name.startswith("2025"))
    assert [n.split("-")[1] for n in names] == [f"nr{n:02d}" for n in range(1, 11)]
    r = run(ws, "issue", "new", "--month", "13")
    assert r.returncode == 2 and "--month 13 is not a month" in r.stderr


def test_new_issue_after_an_english_one_is_english_and_points_at_a_real_example(
        tmp_path: Path) -> None:
    # The issue after an English one: no Swedish words to slip through to English readers
    # ("Nyheter", "Läs mer" are not example texts the check refuses), its example texts
    # refused like the Swedish ones; its pointer to the full example names a file that is
    # there (a new workspace has no issues/2023-06-nyhetsbrev-6).
    from mailer.authoring import load_document

    issues = tmp_path / "issues"
    english = issues / "2026-nr01-june"
    english.mkdir(parents=True)
    (english / "issue.yaml").write_text(
        "name: Citizen dialogue\nnumber: 1\nyear: 2026\nlanguage: en\nsubject: S\n"
        "lists: [dialogue]\nsections: []\n", encoding="utf-8")
    folder = new_issue(issues, today=dt.date(2026, 7, 1))
    text = (folder / "issue.yaml").read_text(encoding="utf-8")
    assert folder.name == "2026-nr02-july"
    for swedish in ("Nyheter", "Läs mer", "Skriv", "Rubrik", "sammanfattning"):
        assert swedish not in text, swedish
    errors = [p.message for p in load_document(folder).errors]
    assert [e.split(" from ")[0] for e in errors] == [
        "still the example text 'Write the introduction here (Markdown: **bold**, [link text]'",
        "still the example text 'Heading'", "still the example text 'A short summary.'"]
    example = text.split("# See ", 1)[1].split(" for every field", 1)[0]
    assert Path(example).is_file(), example


def test_check_explains_yaml_syntax_with_the_line(ws: Path) -> None:
    yaml_path = ws / "issues" / "2023-06-nyhetsbrev-6" / "issue.yaml"
    text = yaml_path.read_text(encoding="utf-8")
    assert "\nsubject: " in text
    broken = text.replace("\nsubject: ", "\nsubject: Demokrati: en resa ", 1)
    yaml_path.write_text(broken, encoding="utf-8")
    line = broken.split("\nsubject: ")[0].count("\n") + 2
    r = run(ws, "issue", "check", "issues/2023-06-nyhetsbrev-6")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"issue.yaml:{line}: YAML syntax: a colon followed by a space inside a value" \
        in r.stderr, r.stderr
    assert f"{line} | subject: Demokrati: en resa" in r.stderr  # the line itself, and a caret
    assert "^" in r.stderr.split(f"{line} | subject:")[1].splitlines()[1]


def test_render_writes_html_text_and_eml(ws: Path) -> None:
    out = ws / "out"
    r = run(ws, "issue", "render", "issues/2023-06-nyhetsbrev-6", "--out", str(out))
    assert r.returncode == 0, r.stderr
    html = (out / "index.html").read_text(encoding="utf-8")
    text = (out / "index.txt").read_text(encoding="utf-8")
    assert "%%" not in html and "%%" not in text
    assert "https://nyhetsbrev.example.org/u/" in html
    msg = email.message_from_bytes((out / "sample.eml").read_bytes(), policy=email.policy.default)
    assert msg["Subject"].startswith("Nyhetsbrev nr 6 år 2023")
    raw_subject = (out / "sample.eml").read_bytes().split(b"\nSubject:")[1].split(b"\n")[0]
    assert raw_subject.isascii()  # encoded as RFC 2047, not raw UTF-8
    assert msg.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in msg.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert "Örnsköldsvik" in msg.get_body(("plain",)).get_content()
    assert "Örnsköldsvik" in msg.get_body(("html",)).get_content()
    assert "Exempel Exempelsson" in msg["To"]
    assert msg["Content-Language"] == "sv"  # as the real copies carry it


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_preview_rerenders_on_change(ws: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env.update(PYTHONPATH=str(ROOT), MAILER_SECRET_KEY=TEST_SECRET)
    proc = subprocess.Popen([sys.executable, "-m", "mailer", "--workspace", str(ws), "issue",
                             "preview", "issues/2023-06-nyhetsbrev-6", "--port", str(port)],
                            cwd=ws, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        # A busy machine may take a while to start the server and render the issue:
        # a generous deadline, and no reason to wait once the process has exited.
        deadline = time.monotonic() + 60
        while True:
            try:
                page = httpx.get(base + "/", timeout=60)
                break
            except httpx.ConnectError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("preview server did not start: "
                                + proc.stderr.read1().decode())
                time.sleep(0.1)
        assert 'width="640"' in page.text and 'width="375"' in page.text
        get = functools.partial(httpx.get, timeout=60)
        v1 = get(base + "/version").text
        assert "Delaktighetstrappan" in get(base + "/email.html").text
        yaml_path = ws / "issues" / "2023-06-nyhetsbrev-6" / "issue.yaml"
        yaml_path.write_text(yaml_path.read_text(encoding="utf-8").replace(
            "title: Delaktighetstrappan", "title: Delaktighetstrappan (ny upplaga)"),
            encoding="utf-8")
        os.utime(yaml_path, ns=(time.time_ns(), time.time_ns() + 10**9))
        assert get(base + "/version").text != v1
        assert "Delaktighetstrappan (ny upplaga)" in get(base + "/email.html").text
        yaml_path.write_text("name: [broken\n", encoding="utf-8")
        assert "YAML syntax" in get(base + "/email.html").text
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_render_looks_and_signs_as_the_newsletter_of_its_lists(ws: Path) -> None:
    # An issue naming no brand, for a list of the newsletter [brands.natverk]: the sample
    # (and the preview) look and sign as that newsletter, as its test and real sends do
    # (they showed the workspace's [brand] and From).
    (ws / "mailer.toml").write_text(
        '[brand]\nname = "Sveriges Kommuner och Regioner"\ncolour = "#00345c"\n\n'
        '[brands.natverk]\nname = "Nätverket för förtroendevalda"\ncolour = "#5b2a86"\n'
        'from_address = "Nätverket <natverk@skr.se>"\n', encoding="utf-8")
    yaml_path = ws / "issues" / "2023-06-nyhetsbrev-6" / "issue.yaml"
    yaml_path.write_text(yaml_path.read_text(encoding="utf-8").replace(
        "lists: [medborgardialog]", "lists: [natverk-2024]"), encoding="utf-8")
    out = ws / "out"
    # Before 'mailer init' the lists' newsletter is unknown: the workspace's look.
    r = run(ws, "issue", "render", "issues/2023-06-nyhetsbrev-6", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "5b2a86" not in (out / "index.html").read_text(encoding="utf-8")
    for args in (("init",), ("lists", "create", "natverk-2024", "--name", "Nätverk 2024",
                             "--brand", "natverk")):
        assert run(ws, *args).returncode == 0
    r = run(ws, "issue", "render", "issues/2023-06-nyhetsbrev-6", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "5b2a86" in (out / "index.html").read_text(encoding="utf-8")
    assert "Nätverket för förtroendevalda" in (out / "index.txt").read_text(encoding="utf-8")
    msg = email.message_from_bytes((out / "sample.eml").read_bytes(), policy=email.policy.default)
    assert msg["From"] == "Nätverket <natverk@skr.se>"


def test_check_counts_in_words_that_agree(tmp_path: Path) -> None:
    from tests.cli_support import cli_in

    folder = tmp_path / "issues" / "one"
    folder.mkdir(parents=True)
    (folder / "issue.yaml").write_text(
        "name: N\nnumber: 1\nyear: 2026\nsubject: S\npreheader: P\nsections:\n  - items:\n"
        "      - type: report\n        title: R\n        link: https://skr.se/r.pdf\n",
        encoding="utf-8")
    out = cli_in(tmp_path)("issue", "check", str(folder))
    assert "(newsletter nr 1 2026, 1 section, 1 item); 0 warnings" in out, out


def test_render_to_a_place_it_cannot_write_says_so(ws: Path) -> None:
    # --out naming a file (a slip of the tab key): a clear error, not a traceback.
    issue = "issues/2023-06-nyhetsbrev-6"
    r = run(ws, "issue", "render", issue, "--out", f"{issue}/issue.yaml")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert f"--out {issue}/issue.yaml: cannot write the files there" in r.stderr


def test_check_names_lists_the_workspace_does_not_have(ws: Path) -> None:
    """With the workspace's database, an issue's lists: must be its lists: an error naming
    the list and the lists there are, before the send refuses it."""
    issue = "issues/2023-06-nyhetsbrev-6"
    assert run(ws, "init").returncode == 0
    assert run(ws, "lists", "create", "natverk", "--name", "Nätverket").returncode == 0
    r = run(ws, "issue", "check", issue, "--today", "2023-06-01")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    line = next(n for n, t in enumerate((ws / issue / "issue.yaml").read_text(
        encoding="utf-8").splitlines(), 1) if t.startswith("lists:"))
    assert (f"{issue}/issue.yaml:{line}: lists: no list 'medborgardialog'; known lists: "
            "natverk") in r.stderr
    assert run(ws, "lists", "create", "medborgardialog", "--name", "M").returncode == 0
    r = run(ws, "issue", "check", issue, "--today", "2023-06-01")
    assert r.returncode == 0, r.stderr


def test_a_half_filled_new_item_does_not_hide_the_example_intro_or_the_preheader(
        tmp_path: Path) -> None:
    # The admin's "Lägg till" writes a new event with an empty title and no date: the
    # issue's shape is then wrong, and the check must still name the scaffold's intro
    # and the missing preheader, as it did the moment before.
    from mailer.authoring import load_document

    folder = new_issue(tmp_path / "issues", today=dt.date(2026, 11, 30))
    before = load_document(folder)
    with (folder / "issue.yaml").open("a", encoding="utf-8") as fh:
        fh.write("      - type: event\n        title: ''\n")
    after = load_document(folder)
    said = [f"{p.message} ({p.severity})" for p in after.errors + after.warnings]
    assert any(m.startswith("still the example text 'Skriv inledningen här") for m in said), said
    assert any(m.startswith("no preheader") for m in said), said
    assert any("date" in m and "required" in m for m in said), said
    assert len(after.errors) == len(before.errors) + 2, said  # the new item's title and date
