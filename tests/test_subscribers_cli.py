"""``mailer subscribers …`` through the real command line: reports, exit codes, no tracebacks."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from mailer.cli import main

DEMO = Path(__file__).resolve().parent.parent / "subscribers" / "demo.csv"


class Cli:
    """Runs ``mailer -w WORKSPACE …`` in this process, like a user at a terminal would."""

    def __init__(self, workspace: Path, capsys: pytest.CaptureFixture[str],
                 monkeypatch: pytest.MonkeyPatch) -> None:
        self.workspace, self.capsys, self.monkeypatch = workspace, capsys, monkeypatch

    def __call__(self, *args: str, stdin: str = "") -> tuple[int, str, str]:
        self.monkeypatch.setattr("sys.argv", ["mailer", "-w", str(self.workspace), *args])
        self.monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = self.capsys.readouterr()
        assert "Traceback" not in out + err
        return code, out, err


@pytest.fixture
def cli(workspace: Path, db_url: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("MAILER_DATABASE_URL", db_url)
    run = Cli(workspace, capsys, monkeypatch)
    assert run("init")[0] == 0
    assert run("lists", "create", "medborgardialog", "--name", "Medborgardialog")[0] == 0
    return run


def test_import_demo_twice(cli: Cli) -> None:
    code, out, _ = cli("subscribers", "import", str(DEMO), "--list", "medborgardialog")
    assert code == 0
    assert "(UTF-8, ';'-delimited; 52 rows" in out
    assert "E-post → email" in out and "kept as attributes: Telefon" in out
    assert "imported:         52 (52 new to the database)" in out
    code, out, _ = cli("subscribers", "import", str(DEMO), "-l", "medborgardialog")
    assert code == 0 and "unchanged:        52" in out and "imported:          0" in out
    code, out, _ = cli("lists")
    assert "medborgardialog" in out and " 52 " in out


def test_one_row_is_one_row(cli: Cli, tmp_path: Path) -> None:
    """The report said "1 rows"."""
    path = tmp_path / "en.csv"
    path.write_text("e-post;namn\nanna.andersson@hylte.se;Anna Andersson\n", encoding="utf-8")
    code, out, _ = cli("subscribers", "import", str(path), "--list", "medborgardialog")
    assert code == 0 and "; 1 row in " in out and "1 rows" not in out


def test_rejected_rows_are_listed_and_written(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "many.csv"
    path.write_text("e-post;namn\n" + "".join(f"fel{i}@;Person {i}\n" for i in range(25))
                    + "ok@example.org;OK\n", encoding="utf-8")
    code, out, _ = cli("subscribers", "import", str(path), "--list", "medborgardialog")
    assert code == 1
    assert "rejected:         25" in out and "imported:          1" in out
    assert "  line 2: invalid e-mail address 'fel0@'" in out
    assert "  line 21: " in out and "line 22: " not in out
    assert "… and 5 more" in out
    assert f"all rejected rows, with line and reason: {tmp_path / 'many.rejected.csv'}" in out
    assert len((tmp_path / "many.rejected.csv").read_text().splitlines()) == 26


@pytest.mark.parametrize(("content", "message"), [
    ("Namn;Kommun\nAnna;Hylte kommun\n", "no e-mail column. Columns found: 'Namn', 'Kommun'"),
    ("", "the file is empty"),
])
def test_fatal_file_errors(cli: Cli, tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    code, out, err = cli("subscribers", "import", str(path), "--list", "medborgardialog")
    assert code == 2 and err.startswith("error: ") and message in err
    code, out, _ = cli("lists")
    assert "       0 " in out


def test_ten_megabyte_line(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    path.write_text("email\n" + "a" * 10_000_000 + "\n")
    code, _, err = cli("subscribers", "import", str(path), "--list", "medborgardialog")
    assert code == 2 and "line 2 is longer than 1024 KiB" in err


def test_missing_file_and_unknown_list(cli: Cli, tmp_path: Path) -> None:
    code, _, err = cli("subscribers", "import", str(tmp_path / "nope.csv"), "--list",
                       "medborgardialog")
    assert code == 2 and "no such file" in err
    code, _, err = cli("subscribers", "import", str(DEMO), "--list", "okand")
    assert code == 3 and "no list 'okand'; known lists: medborgardialog" in err


def test_show_export_erase(cli: Cli, tmp_path: Path) -> None:
    cli("subscribers", "import", str(DEMO), "--list", "medborgardialog")
    code, out, _ = cli("subscribers", "show", "ASA.Lindqvist@hylte.example")
    assert code == 0
    assert out.startswith("Åsa Lindqvist <asa.lindqvist@hylte.example>")
    assert "Hylte kommun (municipality, code 1315)" in out
    assert "medborgardialog (Medborgardialog): active" in out and "import list" in out
    code, out, _ = cli("subscribers", "show", "asa.lindqvist@hylte.example", "--json")
    data = json.loads(out)
    assert data["subscriber"]["attributes"] == {"Telefon": "070-174 06 05"}
    assert data["subscriptions"][0]["status"] == "active"
    assert data["consent_events"][0]["action"] == "import"
    code, _, err = cli("subscribers", "show", "nobody@example.org")
    assert code == 3 and "no subscriber with the address" in err

    code, out, err = cli("subscribers", "export", "--list", "medborgardialog")
    assert code == 0 and out.startswith("email,name,organisation,code,role,language,Telefon,")
    assert len(out.splitlines()) == 53 and "exported 52 subscribers" in err
    target = tmp_path / "excel.csv"
    code, _, err = cli("subscribers", "export", "--list", "medborgardialog", "--excel",
                       "--out", str(target))
    raw = target.read_bytes()
    assert code == 0 and raw.startswith(b"\xef\xbb\xbfemail;name;") and b"\r\n" in raw
    code, out, _ = cli("subscribers", "export", "--list", "medborgardialog", "--status",
                       "unsubscribed")
    assert code == 0 and len(out.splitlines()) == 1
    code, _, err = cli("subscribers", "export", "--list", "medborgardialog", "--status", "x")
    assert code == 2 and "status 'x' cannot be exported; choose one of active," in err

    code, out, err = cli("subscribers", "erase", "asa.lindqvist@hylte.example", stdin="n\n")
    assert code == 1 and "aborted" in err
    code, out, _ = cli("subscribers", "erase", "asa.lindqvist@hylte.example", stdin="y\n")
    assert code == 0 and "erased Åsa Lindqvist" in out
    code, _, _ = cli("subscribers", "show", "asa.lindqvist@hylte.example")
    assert code == 3
    code, out, _ = cli("subscribers", "erase", "goran.sjoberg@hylte.example", "--yes")
    assert code == 0
    code, out, _ = cli("subscribers", "import", str(DEMO), "--list", "medborgardialog")
    assert code == 1 and "unchanged:        50" in out and "rejected:          2" in out
    assert "erased at their request" in out


def test_erased_subscriber_id_is_never_reused(engine) -> None:  # type: ignore[no-untyped-def]
    """Old signed links of an erased person carry their id; a newcomer must not get it."""
    from mailer.store.db import transaction
    from mailer.store.models import Subscriber
    from mailer.store.subscribers import erase_subscriber

    with transaction(engine) as s:
        first = Subscriber(email="a@example.org", email_key="a@example.org")
        s.add(first)
        s.flush()
        old_id = first.id
    with transaction(engine) as s:
        erase_subscriber(s, s.get(Subscriber, old_id))
    with transaction(engine) as s:
        newcomer = Subscriber(email="b@example.org", email_key="b@example.org")
        s.add(newcomer)
        s.flush()
        assert newcomer.id != old_id
