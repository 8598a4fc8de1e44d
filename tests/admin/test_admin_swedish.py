"""Every admin page in Swedish: a walk from the dashboard along every link finds no common
English word in what a user reads (text, labels, buttons, titles, placeholders)."""

from __future__ import annotations

import html as html_lib
import re
import shutil
from html.parser import HTMLParser
from urllib.parse import urlsplit

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from mailer.authoring.examples import FLAGSHIP, flagship_path
from mailer.config import Settings
from mailer.domain.content import ITEM_TYPES, Contact, Image, Issue, Link, Section
from mailer.domain.segments import FIELDS as CONDITION_FIELDS
from mailer.domain.subscriber_rows import accepted_headers
from mailer.render.i18n import Translator
from mailer.services.lists import create_list
from mailer.store.db import transaction
from mailer.store.models import Subscriber, Subscription
from tests.admin.conftest import EMAILS, csrf, login, post_form
from tests.admin.test_admin_invitations import network  # noqa: F401  (a fixture)
from tests.smtp_server import SmtpServer

#: Common English words that are not also Swedish words.
ENGLISH = {
    "the", "and", "warning", "warnings", "error", "errors", "required", "passed", "please",
    "your", "with", "from", "this", "that", "click", "cancel", "delete", "remove", "save",
    "send", "subscribers", "subscriber", "issue", "issues", "dashboard", "preview",
    "schedule", "scheduled", "sent", "failed", "invited", "registered", "reminder",
    "reminders", "deadline", "unsubscribe", "unsubscribed", "confirm", "confirmed", "should",
    "would", "must", "cannot", "which", "there", "here", "when", "where", "what", "been",
    "have", "has", "will", "into", "about", "more", "less", "item", "items", "section",
    "title", "summary", "link", "date", "week", "weeks", "days", "hours", "left", "found",
    "none", "empty", "edit", "close", "back", "next", "new", "login", "logout", "password",
    "account", "users", "user", "role", "people", "yet", "only", "any", "each",
    "every", "not", "now", "show", "add", "move", "up", "down", "lists", "mailing",
    "mailings", "queued", "skipped", "sending", "paused", "cancelled", "done", "missed",
    "seats", "expected", "active", "search", "export", "import", "changes", "problems",
}
#: The YAML field names an editor types; Swedish messages quote them (``lägg till title:``).
FIELD_NAMES = {name for model in (*ITEM_TYPES.values(), Issue, Section, Link, Image, Contact)
               for name in model.model_fields} | {"kind"}
#: English in the example issue's own content (a method's name), not in our wording.
CONTENT = ("Walk and Talk",)
SHOWN_ATTRIBUTES = ("title", "aria-label", "placeholder", "alt", "value")


class _Visible(HTMLParser):
    """The words a user reads: text outside script/style/code, and shown attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.links: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("script", "style", "code", "pre", "textarea"):
            self._skip += 1
        if tag == "a" and a.get("href"):
            self.links.append(str(a["href"]))
        if tag == "input" and a.get("type") not in ("submit", "button"):
            a.pop("value", None)  # a field's content is data, a button's value is a label
        if tag in ("option", "button"):
            a.pop("value", None)  # sent with the form, never shown
        self.parts.extend(str(a[k]) for k in SHOWN_ATTRIBUTES if a.get(k))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "code", "pre", "textarea") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def english_words(html: str) -> tuple[set[str], list[str]]:
    parser = _Visible()
    parser.feed(html)
    text = " ".join(parser.parts)
    for phrase in CONTENT:
        text = text.replace(phrase, " ")
    # Data, not wording: addresses, links, file paths, and the YAML field names an
    # editor types (``subject:``, ``title:``) that Swedish messages quote on purpose.
    text = re.sub(r"\S+@\S+|https?://\S+|\S*/\S*|\b[a-z]+_[a-z_]+\b", " ", text)
    text = re.sub(rf"\b({'|'.join(sorted(FIELD_NAMES))}):", " ", text)
    words = {w.lower() for w in re.findall(r"[A-Za-zÅÄÖåäö]+", text)}
    return words & ENGLISH, parser.links


def test_every_admin_page_is_swedish(client: TestClient, team: dict[str, int],
                                     network: dict[str, int],  # noqa: F811
                                     settings: Settings, engine: Engine,
                                     smtp_server: SmtpServer) -> None:
    shutil.copytree(flagship_path(), settings.workspace / "issues" / FLAGSHIP)
    broken = settings.workspace / "issues" / "2023-nr07-september"
    broken.mkdir()
    (broken / "issue.yaml").write_text(
        "kind: newsletter\nname: X\nnumber: 7\nyear: 2023\npreheader: P\n"
        "sections:\n  - title: Evenemang\n"
        "    items:\n      - type: event\n        title: Demokratidagen\n"
        "        date: 2020-01-01\n        place: Stockholm\n        summary: Kom!\n",
        encoding="utf-8")
    with transaction(engine) as s:
        lst = create_list(s, "medborgardialog", "Nyhetsbrev om medborgardialog")
        sub = Subscriber(email="anna@hylte.se", email_key="anna@hylte.se", name="Anna")
        s.add(sub)
        s.flush()
        s.add(Subscription(subscriber_id=sub.id, list_id=lst.id, status="active"))
    login(client, EMAILS["admin"])  # no language chosen: Swedish by default
    r = post_form(client, f"/admin/issues/{FLAGSHIP}", f"/admin/issues/{FLAGSHIP}/schedule",
                  {"lists": "medborgardialog", "confirm": "1", "at": "2030-06-15T08:00"})
    assert r.status_code == 303, r.text
    seen: set[str] = set()
    queue = ["/admin"]
    found: dict[str, set[str]] = {}
    while queue:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        page = client.get(url)
        assert page.status_code == 200, (url, page.status_code)
        assert '<html lang="sv">' in page.text, url
        words, links = english_words(page.text)
        if words:
            found[url] = words
        for href in links:
            parts = urlsplit(href)
            path = parts.path
            if parts.netloc or not path.startswith("/admin") or "lang=" in parts.query:
                continue
            if re.search(r"\.(csv|json|html|txt)$|/media/|/version$|/import/", path):
                continue  # files and the previewed mail, not admin pages
            target = path + (f"?{parts.query}" if parts.query else "")
            if target not in seen and len(seen) + len(queue) < 80:
                queue.append(target)
    assert found == {}, "\n".join(f"{u}: {sorted(w)}" for u, w in found.items())
    # The walk saw the pages that matter, the check messages among them.
    for must in ("/admin/issues", f"/admin/issues/{FLAGSHIP}", "/admin/issues/2023-nr07-september",
                 "/admin/lists", "/admin/lists/medborgardialog", "/admin/mailings",
                 "/admin/invitations", "/admin/users", "/admin/account"):
        assert must in seen, (must, sorted(seen))
    broken_page = client.get("/admin/issues/2023-nr07-september").text
    assert "Avsnittet ”Evenemang”, punkten ”Demokratidagen”" in broken_page
    assert "1 fel" in broken_page and "1 varning" in broken_page
    assert "1 varningar" not in broken_page
    # The preview frame of an issue with errors lists them in Swedish too.
    preview = client.get("/admin/issues/2023-nr07-september/preview.html").text
    assert "<html lang='sv'>" in preview and "1 fel" in preview
    assert "Ämnesrad: måste fyllas i" in preview and "is required" not in preview
    # The send window's example is Swedish too (its placeholder was "Mon-Fri 08:00-17:00").
    assert 'placeholder="mån-fre 08:00-17:00"' in client.get(f"/admin/issues/{FLAGSHIP}").text


def test_the_word_list_catches_english() -> None:
    words, _ = english_words("<p>1 warnings: the event has passed</p><code>the</code>"
                             '<input value="Skicka"><button title="Save">x</button>')
    assert words == {"warnings", "the", "has", "passed", "save"}


def _shown(html: str, cls: str = "error") -> str:
    """The texts of the page's error paragraphs and summaries (what a refused form says)."""
    found = [*re.findall(r'<div class="error-summary[^"]*"[^>]*>(.*?)</div>', html, re.S),
             *re.findall(rf'<p class="(?:{cls}|error-summary)[^"]*"[^>]*>(.*?)</p>', html,
                         re.S)]
    return html_lib.unescape(" ".join(re.sub(r"<[^>]+>", " ", f) for f in found))


def _refusals(client: TestClient, seen: dict[str, str]) -> None:
    """Submit every form of the admin with a value a service refuses; ``seen`` gets each
    case's shown error text."""
    issue = f"/admin/issues/{FLAGSHIP}"
    send = {"lists": "medborgardialog", "confirm": "1", "at": "2030-06-15T08:00"}
    r = post_form(client, issue, f"{issue}/schedule", {**send, "where": "org.size=big"})
    assert r.status_code == 400 and 'id="where-error"' in r.text, r.text
    seen["condition"] = _shown(r.text)
    assert "org.size=big" in r.text.split('id="where"')[1].split("</textarea>")[0]  # kept
    r = post_form(client, issue, f"{issue}/schedule", {**send, "where": "language=de"})
    seen["language condition"] = _shown(r.text)
    r = post_form(client, issue, f"{issue}/schedule", {**send, "send_window": "Mon-Fri 17-08"})
    assert r.status_code == 400 and 'id="send_window-error"' in r.text, r.text
    seen["send window"] = _shown(r.text)
    r = post_form(client, issue, f"{issue}/schedule", {**send, "send_window": "Xyz 08-17"})
    seen["send window day"] = _shown(r.text)
    r = post_form(client, issue, f"{issue}/schedule", {**send, "at": "2001-01-01T08:00"})
    assert r.status_code == 400, r.text
    seen["time passed"] = _shown(r.text)
    r = post_form(client, issue, f"{issue}/schedule", {**send, "lists": "finns-inte"})
    seen["no such list"] = _shown(r.text)
    r = post_form(client, issue, f"{issue}/schedule", send)
    assert r.status_code == 303, r.text
    r = post_form(client, issue, f"{issue}/schedule", {**send, "at": ""})
    assert r.status_code == 400 and 'id="again-error"' in r.text, r.text
    seen["already sent"] = _shown(r.text)
    mid = int(client.get("/admin/mailings").text.split('href="/admin/mailings/')[1]
              .split('"')[0])
    r = post_form(client, f"/admin/mailings/{mid}", f"/admin/mailings/{mid}/resume", {})
    assert r.status_code == 400, r.text
    seen["resume"] = _shown(r.text, "error-summary")
    r = client.get("/admin/audience", params={"lists": "medborgardialog",
                                              "where": "org.county=Atlantis"})
    assert r.status_code == 422
    seen["live count"] = _shown(r.text)
    r = post_form(client, "/admin/segments", "/admin/segments",
                  {"name": "Alla", "list": "medborgardialog", "where": ""})
    assert r.status_code == 422
    seen["segment"] = _shown(r.text)
    r = post_form(client, "/admin/lists", "/admin/lists", {"slug": "Inte OK", "name": "X"})
    assert r.status_code == 422, r.text
    seen["list slug"] = _shown(r.text)
    r = post_form(client, "/admin/suppressions", "/admin/suppressions",
                  {"email": "utan-snabel-a", "note": ""})
    seen["suppression"] = _shown(r.text)
    r = post_form(client, "/admin/users", "/admin/users",
                  {"email": EMAILS["editor"], "name": "E", "role": "editor"})
    seen["user exists"] = _shown(r.text)
    r = post_form(client, "/admin/account", "/admin/account/password",
                  {"current": "correct horse battery staple", "new": "kort",
                   "repeat": "kort"})
    seen["password"] = _shown(r.text)
    r = post_form(client, "/admin/webhooks", "/admin/webhooks",
                  {"url": "ftp://crm.example.org/", "events": "subscriber.created"})
    seen["webhook"] = _shown(r.text)
    slug = "2023-natverk-tjanstepersoner"
    r = post_form(client, f"/admin/invitations/{slug}", f"/admin/invitations/{slug}/registrations",
                  {"email": "eva.ek@uppsala.se"})
    assert r.status_code == 200, r.text
    seen["registered"] = _shown(r.text, "success")
    r = post_form(client, f"/admin/invitations/{slug}", f"/admin/invitations/{slug}/registrations",
                  {"email": "cecilia.claesson@hylte.se"})
    assert r.status_code == 422, r.text
    seen["seats full"] = _shown(r.text)
    r = post_form(client, f"/admin/invitations/{slug}", f"/admin/invitations/{slug}/registrations",
                  {"email": "ny.person@uppsala.se"})
    assert r.status_code == 422, r.text
    seen["unknown person"] = _shown(r.text)
    page = client.get("/admin/lists/medborgardialog")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    r = client.post("/admin/lists/medborgardialog/import", data={"csrf_token": token[1]},
                    files={"file": ("lista.csv", b"Namn;Telefon\nAnna;123\n", "text/csv")})
    assert r.status_code == 422 and 'id="file-error"' in r.text, r.text  # beside the field
    seen["import without e-mail"] = _shown(r.text)
    r = client.post("/admin/lists/medborgardialog/import", data={"csrf_token": token[1]},
                    files={"file": ("lista.xlsx", b"PK\x03\x04 a workbook", "text/csv")})
    assert r.status_code == 422 and 'id="file-error"' in r.text, r.text
    seen["import of a workbook"] = _shown(r.text)
    # the refusal names the file as uploaded, not where the server keeps it
    assert "lista.xlsx: " in seen["import of a workbook"]
    assert "uploads/" not in r.text and "/lista.xlsx" not in r.text


#: What each refusal says, in Swedish and in English (the English admin).
EXPECTED = {
    "condition": ("villkoret 'org.size=big': okänt fält 'org.size'",
                  "condition 'org.size=big': unknown field 'org.size'"),
    "language condition": ("villkoret 'language=de': språket är sv eller en",
                           "condition 'language=de': language is sv or en"),
    "send window": ("fönstret måste sluta efter att det börjar",
                    "the window must end after it starts"),
    "send window day": ("'Xyz' är ingen veckodag", "'Xyz' is not a day"),
    "time passed": ("har redan passerat", "is in the past"),
    "no such list": ("listan 'finns-inte' finns inte; befintliga listor: demo, medborgardialog",
                     "no list 'finns-inte'; known lists: demo, medborgardialog"),
    "already sent": ("numret är redan skickat eller på väg: utskick",
                     "this issue was already sent or is on its way: mailing"),
    "resume": ("har läget ”schemalagt”, det är inte pausat", "is scheduled, not paused"),
    "live count": ("inget län heter 'Atlantis'", "no county (län) matches 'Atlantis'"),
    "segment": ("ett segment behöver minst ett villkor",
                "a segment needs at least one condition"),
    "list slug": ("kortnamnet 'Inte OK' går inte att använda", "list slug 'Inte OK' is not valid"),
    "suppression": ("'utan-snabel-a' är ingen e-postadress: En e-postadress måste ha ett @.",
                    "'utan-snabel-a' is not an e-mail address: An email address must have"),
    "user exists": ("det finns redan en användare", "a user 'eddie@example.org' exists already"),
    "password": ("lösenordet måste ha minst", "the password must be at least"),
    "webhook": ("webhookadressen 'ftp://crm.example.org/' måste vara",
                "webhook URL 'ftp://crm.example.org/' must be"),
    "registered": ("anmälde eva.ek@uppsala.se för Uppsala kommun (1 av 2 platser)",
                   "registered eva.ek@uppsala.se for Uppsala kommun (1 of 2 seats)"),
    "seats full": ("Hylte kommun har redan 2 av 2 platser (innehas av",
                   "Hylte kommun already has 2 of 2 seats (held by"),
    "import without e-mail": ("rubrikraden har ingen kolumn för e-post",
                              "the header line has no e-mail column"),
    "import of a workbook": ("det här är en Excel-arbetsbok (eller en annan ZIP/OLE-fil), "
                             "inte CSV. I Excel: Arkiv → Spara som",
                             "this is an Excel workbook (or another ZIP/OLE file), not CSV. "
                             "In Excel: File → Save as"),
    "unknown person": ("det finns ingen prenumerant 'ny.person@uppsala.se'; fyll i namn och "
                       "organisation", "no subscriber 'ny.person@uppsala.se'; fill in the "
                       "name and the organisation"),
}


def _refusal_workspace(settings: Settings, engine: Engine) -> None:
    shutil.copytree(flagship_path(), settings.workspace / "issues" / FLAGSHIP)
    with transaction(engine) as s:
        lst = create_list(s, "medborgardialog", "Nyhetsbrev om medborgardialog")
        sub = Subscriber(email="anna@hylte.se", email_key="anna@hylte.se", name="Anna")
        s.add(sub)
        s.flush()
        s.add(Subscription(subscriber_id=sub.id, list_id=lst.id, status="active"))


def test_every_refusal_is_swedish(client: TestClient, team: dict[str, int],
                                  network: dict[str, int],  # noqa: F811
                                  settings: Settings, engine: Engine,
                                  smtp_server: SmtpServer) -> None:
    _refusal_workspace(settings, engine)
    login(client, EMAILS["admin"])  # no language chosen: Swedish by default
    seen: dict[str, str] = {}
    _refusals(client, seen)
    assert seen.keys() == EXPECTED.keys()
    for case, (swedish, _english) in EXPECTED.items():
        assert swedish in seen[case], (case, seen[case])
        # The condition fields a message lists (role, language) and the column names an
        # import accepts (title, …) are what an editor types, not our wording.
        text = re.sub(rf"\b({'|'.join(re.escape(f) for f in CONDITION_FIELDS)})\b", " ",
                      seen[case].replace(Translator("sv").localise(accepted_headers()), " "))
        words, _ = english_words(f"<p>{html_lib.escape(text)}</p>")
        assert words == set(), (case, seen[case], words)


def test_every_refusal_is_english_in_the_english_admin(
        client: TestClient, team: dict[str, int], network: dict[str, int],  # noqa: F811
        settings: Settings, engine: Engine, smtp_server: SmtpServer) -> None:
    _refusal_workspace(settings, engine)
    login(client, EMAILS["admin"], lang="en")
    seen: dict[str, str] = {}
    _refusals(client, seen)
    for case, (swedish, english) in EXPECTED.items():
        assert english in seen[case], (case, seen[case])
        assert swedish not in seen[case], (case, seen[case])


#: A subscriber CSV with every kind of bad row: a bad address (3), a duplicate (4), no
#: e-mail (5), an unknown language (6), an empty row (8) and a name with a line break
#: (9-10, so the row spans two lines), and a suppressed address (11).
IMPORT_CSV = ("E-post;Namn;Kommun;Språk\n"
              "anna.svensson@hylte.se;Anna Svensson;Hylte kommun;sv\n"
              "inte-en-adress;Fel Person;Hylte kommun;sv\n"
              "ANNA.svensson@hylte.se;Anna igen;Hylte kommun;sv\n"
              ";Utan Adress;Hylte kommun;sv\n"
              "bo@uppsala.se;Bo Ek;Uppsala kommun;tyska\n"
              "cissi@uppsala.se;Cissi Ek;Uppsala kommun;en\n"
              ";;;\n"
              'eva@hylte.se;"Eva\nEk";Hylte kommun;sv\n'
              "sparrad@hylte.se;Spärrad;Hylte kommun;sv\n")


def _import_report(client: TestClient) -> tuple[str, str]:
    """The list page after importing ``IMPORT_CSV`` through the admin's form, and the
    report on it."""
    r = post_form(client, "/admin/suppressions", "/admin/suppressions",
                  {"email": "sparrad@hylte.se", "note": ""})
    assert r.status_code in (200, 303), r.text
    page = client.get("/admin/lists/medborgardialog")
    r = client.post("/admin/lists/medborgardialog/import", data={"csrf_token": csrf(page.text)},
                    files={"file": ("lista.csv", IMPORT_CSV.encode("utf-8"), "text/csv")})
    assert r.status_code == 422, r.text  # some rows rejected, the rest imported
    report = r.text.split('<section aria-labelledby="report-title">')[1].split("</section>")[0]
    assert "<pre" not in report and "<code" not in report  # all of it read by the walker
    return r.text, html_lib.unescape(re.sub(r"\s+", " ", report))


def _registration_report(client: TestClient) -> tuple[str, str]:
    slug = "2023-natverk-tjanstepersoner"
    page = client.get(f"/admin/invitations/{slug}")
    data = ("PROJECTID;E-post;Namn;Organisation;Status\n"
            "19425;fredrik.falk@ornskoldsvik.se;Fredrik Falk;Örnsköldsviks kommun;anmäld\n"
            "19425;inte-en-adress;X;Y;anmäld\n"
            "19425;fredrik.falk@ornskoldsvik.se;Fredrik Falk;Örnsköldsviks kommun;anmäld\n"
            "19425;okand.person@uppsala.se;Okänd;Uppsala kommun;anmäld\n"
            "19425;;Utan Adress;Hylte kommun;anmäld\n"
            "19425;gustav@hylte.se;Gustav;Hylte kommun;kanske\n")
    r = client.post(f"/admin/invitations/{slug}/registrations/import",
                    data={"csrf_token": csrf(page.text)},
                    files={"file": ("export.csv", data.encode("utf-8"), "text/csv")})
    assert r.status_code == 422, r.text
    report = r.text.split('id="registration-report"')[1].split("</table>")[0]
    assert "<pre" not in report and "<code" not in report
    return r.text, html_lib.unescape(re.sub(r"\s+", " ", f"<dl {report}</table>"))


def test_the_import_reports_are_swedish(client: TestClient, team: dict[str, int],
                                        network: dict[str, int],  # noqa: F811
                                        settings: Settings, engine: Engine) -> None:
    _refusal_workspace(settings, engine)
    login(client, EMAILS["admin"])  # no language chosen: Swedish by default
    page, report = _import_report(client)
    assert english_words(page)[0] == set() and english_words(report)[0] == set(), report
    for shown in ("9 rader lästes från ”lista.csv”",
                  "<dt>Importerade</dt><dd>2 personer (2 nya i databasen)</dd>",
                  "<dt>Uppdaterade</dt><dd>0 personer</dd>",
                  "<dt>Avvisade</dt><dd>6 rader</dd>",
                  "<dt>Tomma rader som hoppades över</dt><dd>1 rad</dd>",
                  "<li>”E-post” → e-post</li>", "<li>”Kommun” → organisation</li>",
                  "<li>”Språk” → språk</li>",
                  "<td>3</td><td>ogiltig e-postadress 'inte-en-adress': En e-postadress "
                  "måste ha ett @.</td>",
                  "<td>4</td><td>dubblett av rad 2 (samma adress; stora och små bokstäver "
                  "spelar ingen roll)</td>",
                  "<td>5</td><td>ingen e-postadress</td>",
                  "<td>6</td><td>språket 'tyska' stöds inte: använd sv (svenska) eller en "
                  "(engelska)</td>",
                  "<td>9</td><td>namn innehåller en radbrytning (raden sträcker sig över rad "
                  "9–10: saknas ett avslutande citattecken (\")?)</td>",
                  "<td>11</td><td>adressen är spärrad (för hand) och läggs inte till."):
        assert shown in report, (shown, report)
    page, registrations = _registration_report(client)
    assert english_words(page)[0] == set(), english_words(page)[0]
    assert english_words(registrations)[0] == set(), registrations
    for shown in ("<dt>Anmälda</dt><dd>1 person</dd>", "<dt>Avvisade</dt><dd>5 rader</dd>",
                  "<td>3</td><td>–</td><td>'inte-en-adress' är ingen giltig "
                  "e-postadress: En e-postadress måste ha ett @.</td>",
                  "<td>4</td><td>fredrik.falk@ornskoldsvik.se</td><td>dubblett av rad 2; "
                  "hoppas över</td>",
                  "<td>6</td><td>–</td><td>e-postadressen saknas</td>",
                  "<td>7</td><td>gustav@hylte.se</td><td>okänd status 'kanske'"):
        assert shown in registrations, (shown, registrations)
    assert "ingen känd prenumerant" in registrations


def test_the_import_reports_are_english_in_the_english_admin(
        client: TestClient, team: dict[str, int], network: dict[str, int],  # noqa: F811
        settings: Settings, engine: Engine) -> None:
    _refusal_workspace(settings, engine)
    login(client, EMAILS["admin"], lang="en")
    _, report = _import_report(client)
    for shown in ("9 rows read from ”lista.csv”",
                  "<dt>Imported</dt><dd>2 people (2 new to the database)</dd>",
                  "<dt>Rejected</dt><dd>6 rows</dd>",
                  "<dt>Empty rows skipped</dt><dd>1 row</dd>",
                  "<li>”Kommun” → organisation</li>",
                  "<td>4</td><td>duplicate of line 2 (the same address; upper/lower case does "
                  "not matter)</td>",
                  "<td>6</td><td>language 'tyska' is not supported: use sv (svenska) or en "
                  "(English)</td>"):
        assert shown in report, (shown, report)
    assert "dubblett" not in report
    _, registrations = _registration_report(client)
    assert "<dt>Registered</dt><dd>1 person</dd>" in registrations, registrations
    assert "duplicate of line 2; left out" in registrations
    assert "hoppas över" not in registrations
