"""Issues: the list, a new issue, and the editor (fields, typed items, add/move/remove)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping

from fastapi import APIRouter, Depends
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from mailer.authoring.edit import IssueFile
from mailer.authoring.scaffold import new_issue
from mailer.config import Settings
from mailer.domain.content import ITEM_TYPES
from mailer.domain.findings import msg
from mailer.domain.roles import Action
from mailer.domain.text import clean_line
from mailer.errors import MailerError, Problem
from mailer.render.i18n import describe_problem
from mailer.services import mailings, podcast, segments, test_sends
from mailer.services.accounts import Principal
from mailer.services.issues import check_issue
from mailer.services.media import list_files
from mailer.web.admin.auth import checked_form, require
from mailer.web.admin.issues import issue_folder, issues_dir, list_issues, local_today, summarise
from mailer.web.admin.pages import admin_language, redirect, render, translator
from mailer.web.i18n import N_
from mailer.web.pages import web_of
from mailer.web.routes.common import db, read

router = APIRouter(dependencies=[Depends(require(Action.view))])
VIEW = Depends(require(Action.view))
EDIT = Depends(require(Action.edit_issues))

_ITEM_FIELD = re.compile(r"^sections\[(\d+)\]\.items\[(\d+)\](?:\.(\w+))?")
_OPEN = re.compile(r"^s\d+(-i\d+)?$")
_SECTION_FIELD = re.compile(r"^sections\[(\d+)\](?:\.(\w+))?")


def anchor(problem: Problem) -> str:
    """The id of the form field a problem is about (``s2-i0-title``), for the summary links."""
    field = problem.field or ""
    if m := _ITEM_FIELD.match(field):
        s, i, name = int(m.group(1)) - 1, int(m.group(2)) - 1, m.group(3)
        return f"s{s}-i{i}-{name}" if name else f"s{s}-i{i}"
    if m := _SECTION_FIELD.match(field):
        s, name = int(m.group(1)) - 1, m.group(2)
        return f"s{s}-{name}" if name and name != "items" else f"s{s}"
    return field.split(".")[0].split("[")[0] or "problems"


def _problem_line(p: Problem, lang: str) -> str:
    """A problem as the page's list shows it (warning marked, place named by titles)."""
    text = describe_problem(p, lang)
    return f"{translator(lang)('Warning')}: {text}" if p.severity == "warning" else text


def item_of(problem: Problem) -> tuple[int, int] | None:
    m = _ITEM_FIELD.match(problem.field or "")
    return (int(m.group(1)) - 1, int(m.group(2)) - 1) if m else None


@router.get("/admin/issues")
async def issues_page(request: Request, me: Principal = VIEW) -> Response:
    web = web_of(request)
    issues = await run_in_threadpool(list_issues, web.settings,
                                     local_today(web.settings, web.now()), web.engine)
    by_source = await read(request, mailings.mailings_by_source)
    return render(request, "issues.html", issues=issues, by_source=by_source,
                  workspace=issues_dir(web.settings))


@router.post("/admin/issues/new")
async def create_issue(request: Request, me: Principal = EDIT) -> Response:
    web = web_of(request)
    form = await checked_form(request)
    title = clean_line(str(form.get("title") or ""))[:200] or None
    folder = await run_in_threadpool(new_issue, issues_dir(web.settings),
                                     today=local_today(web.settings, web.now()), title=title)
    return redirect(f"/admin/issues/{folder.name}", "created")


def editor_context(settings: Settings, name: str, today: dt.date,
                   engine: Engine) -> dict[str, object]:
    """The issue page's content: the issue checked as 'mailer issue check' does it
    (services.issues: its brand and lists against the workspace too)."""
    folder = issue_folder(settings, name)
    loaded = check_issue(folder, today=today, settings=settings, engine=engine)
    view, open_error = None, None
    if loaded.kind == "newsletter":
        try:
            view = IssueFile(folder).view()
        except MailerError as exc:
            open_error = exc.message
    per_item: dict[tuple[int, int], list[Problem]] = {}
    for p in loaded.problems:
        if (key := item_of(p)) is not None:
            per_item.setdefault(key, []).append(p)
    by_section: dict[int, int] = {}
    for (s, _i), found in per_item.items():
        by_section[s] = by_section.get(s, 0) + len(found)
    return {"name": name, "loaded": loaded, "summary": summarise(loaded), "view": view,
            "section_problems_of": by_section,
            "open_error": open_error, "per_item": per_item, "podcast_error": None,
            "podcast_values": {},
            "problems": [(p, anchor(p)) for p in loaded.problems]}


#: Where an invitation is sent from (its issue page says so instead of a send form).
INVITE_WITH_CLI = N_("An invitation goes out from its own page (or with 'mailer invite "
                     "FOLDER'): that records who was invited (the reminders go to them) and "
                     "refuses after the deadline. The page also shows the registrations and "
                     "reminders.")


async def editor_page(request: Request, name: str, ctx: dict[str, object], *,
                      status: int = 200, conflict: bool = False,
                      send: dict[str, object] | None = None) -> Response:
    """The issue page; ``send`` holds a refused send form's input and its errors."""
    web = web_of(request)
    lists = await db(request, mailings.target_lists)
    made = await db(request, mailings.mailings_for_source, f"issues/{name}")
    saved = await db(request, segments.segments)
    earlier = await db(request, mailings.earlier_sends, f"issues/{name}")
    files = await run_in_threadpool(list_files, issue_folder(web.settings, name))
    tests = await read(request, test_sends.recent_tests, f"issues/{name}", web.now())
    # After a test send (?done=test-queued&test=ID): which addresses it was queued for,
    # read from that test mailing (a crafted link names no one who is not in it).
    queued_test = None
    if request.query_params.get("done") == "test-queued":
        mailing = request.query_params.get("test", "")
        queued_test = tests.find(int(mailing)) if mailing.isdigit() else None
    version = await run_in_threadpool(request.app.state.admin.previews.version, web.settings,
                                      issue_folder(web.settings, name))
    return render(request, "issue.html", status=status, **ctx, lists=lists,
                  mailings=made, item_types=sorted(ITEM_TYPES), version=version, conflict=conflict,
                  tz=web.settings.timezone, segments=saved,
                  default_window=web.settings.send_window, earlier=earlier, files=files,
                  public_base=web.settings.base_url, send=send or {},
                  click_per_person=web.settings.click_tracking_per_person,
                  invite_hint=INVITE_WITH_CLI, tests=tests, queued_test=queued_test,
                  untaken_after=int(test_sends.UNTAKEN_AFTER.total_seconds()))


@router.get("/admin/issues/{name}")
async def editor(request: Request, name: str, me: Principal = VIEW) -> Response:
    web = web_of(request)
    ctx = await run_in_threadpool(editor_context, web.settings, name,
                                  local_today(web.settings, web.now()), web.engine)
    opened = request.query_params.get("open", "")
    ctx["opened"] = opened if _OPEN.match(opened) else ""
    return await editor_page(request, name, ctx)


def _form_strings(form: Mapping[str, object]) -> dict[str, str]:
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _apply(settings: Settings, name: str, values: dict[str, str], action: str) -> str:
    """Apply the form and one action to the YAML; returns the anchor to go back to."""
    doc = IssueFile(issue_folder(settings, name))
    doc.apply(values)
    verb, _, rest = action.partition(":")
    args = [int(x) for x in rest.split(":") if x.isdigit()]
    where = "items"
    if verb in ("up", "down") and len(args) == 2:
        s, i = doc.move(args[0], args[1], -1 if verb == "up" else 1)
        where = f"s{s}-i{i}"
    elif verb == "remove" and len(args) == 2:
        doc.remove(*args)
        where = f"s{args[0]}"
    elif verb == "add" and len(args) == 1:
        i = doc.add(args[0], values.get(f"add-type-{args[0]}", ""))
        where = f"s{args[0]}-i{i}"
    elif verb == "add-section":
        where = f"s{doc.add_section(values.get('new-section', ''))}"
    elif verb == "remove-section" and len(args) == 1:
        doc.remove_section(args[0])
    elif verb in ("section-up", "section-down") and len(args) == 1:
        doc.move_section(args[0], -1 if verb == "section-up" else 1)
    elif verb != "save":
        raise MailerError(msg("unknown editor action %(action)r", action=action))
    doc.save()
    return where


@router.post("/admin/issues/{name}")
async def save(request: Request, name: str, me: Principal = EDIT) -> Response:
    web = web_of(request)
    form = await checked_form(request)
    values = _form_strings(form)
    wants_json = "application/json" in request.headers.get("accept", "")
    previews = request.app.state.admin.previews
    folder = issue_folder(web.settings, name)
    # Optimistic locking: the form says which version of the files it was made from;
    # if they changed since (another editor, a text editor), nothing is overwritten.
    sent = values.get("version", "")
    if sent and sent != await run_in_threadpool(previews.version, web.settings, folder):
        if wants_json:
            return JSONResponse({"saved": False, "conflict": True}, status_code=409)
        ctx = await run_in_threadpool(editor_context, web.settings, name,
                                      local_today(web.settings, web.now()), web.engine)
        return await editor_page(request, name, ctx, status=409, conflict=True)
    where = await run_in_threadpool(_apply, web.settings, name, values,
                                    values.get("action", "save"))
    if wants_json:
        lang = admin_language(request)
        # The editor's script saves on change and refreshes the problems and previews.
        loaded = await run_in_threadpool(check_issue, folder,
                                         today=local_today(web.settings, web.now()),
                                         settings=web.settings, engine=web.engine)
        return JSONResponse({"saved": True, "errors": len(loaded.errors),
                             "version": previews.version(web.settings, folder),
                             "problems": [{"text": _problem_line(p, lang), "severity": p.severity,
                                           "anchor": anchor(p)} for p in loaded.problems]})
    # ?open= names the section or item to show unfolded (the #anchor alone opens nothing
    # without JavaScript).
    response: RedirectResponse = redirect(f"/admin/issues/{name}", "saved",
                                          open=where if _OPEN.match(where) else None)
    response.headers["location"] += f"#{where}"
    return response


@router.post("/admin/issues/{name}/podcast")
async def fetch_podcast(request: Request, name: str, me: Principal = EDIT) -> Response:
    """"Hämta avsnitt från flödet": the episode (default: the newest) as a podcast item."""
    web = web_of(request)
    form = _form_strings(await checked_form(request))
    values = {k: form.get(k, "").strip() for k in ("feed_url", "episode")}
    today = local_today(web.settings, web.now())
    try:
        if values["episode"] and not values["episode"].isdigit():
            raise MailerError(msg("the episode number must be a whole number, e.g. 105"))
        added = await run_in_threadpool(
            lambda: podcast.add_from_feed(issue_folder(web.settings, name), values["feed_url"],
                                          episode=int(values["episode"]) if values["episode"]
                                          else None, today=today))
    except MailerError as exc:
        ctx = await run_in_threadpool(editor_context, web.settings, name, today, web.engine)
        ctx.update(podcast_error=exc.message, podcast_values=values)
        return await editor_page(request, name, ctx, status=422)
    if not added.added:
        response: RedirectResponse = redirect(f"/admin/issues/{name}", "podcast-present")
        response.headers["location"] += "#podcast"
        return response
    response = redirect(f"/admin/issues/{name}", "podcast-added")
    response.headers["location"] += f"#s{added.section}-i{added.added[0][0]}"
    return response
