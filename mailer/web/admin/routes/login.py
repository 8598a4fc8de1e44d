"""Log in, log out, and the user's own account (password, API tokens)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mailer.domain.roles import Action
from mailer.errors import MailerError
from mailer.store.accounts import (
    Principal,
    authenticate,
    create_api_token,
    end_session,
    get_user_by_id,
    list_tokens,
    revoke_token,
    set_password,
    start_session,
)
from mailer.store.subscriptions import email_hash
from mailer.web.admin.auth import (
    checked_form,
    clear_session_cookie,
    cookie_name,
    current_principal,
    require,
    safe_next,
    set_session_cookie,
)
from mailer.web.admin.pages import redirect, render
from mailer.web.api.deps import Id
from mailer.web.pages import client_ip, web_of
from mailer.web.routes.common import db

router = APIRouter()


@router.get("/admin/login")
async def login_form(request: Request) -> Response:
    if await current_principal(request) is not None:
        return redirect(safe_next(request.query_params.get("next")))
    return render(request, "login.html", email="", error=None,
                  next=safe_next(request.query_params.get("next")))


@router.post("/admin/login")
async def login(request: Request) -> Response:
    state = request.app.state.admin
    web = web_of(request)
    form = await checked_form(request)
    email = str(form.get("email") or "").strip()[:320]
    password = str(form.get("password") or "")
    target = safe_next(str(form.get("next") or ""))
    now_m = web.monotonic()
    if not (state.login_per_ip.hit(client_ip(request), now_m)
            and state.login_per_account.hit(email_hash(email or "-"), now_m)):
        return render(request, "login.html", status=429, email=email, next=target,
                      error="too-many")
    if not email or not password:
        return render(request, "login.html", status=422, email=email, next=target,
                      error="missing")
    user = await db(request, authenticate, email, password, now=web.now())
    if user is None:
        # One message for unknown address, wrong password and deactivated account.
        return render(request, "login.html", status=401, email=email, next=target,
                      error="wrong")
    token = await db(request, lambda s: start_session(
        s, get_user_by_id(s, user.id), now=web.now(), ip=client_ip(request),
        user_agent=request.headers.get("user-agent", "")))
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, token)
    return response


@router.post("/admin/logout")
async def logout(request: Request) -> Response:
    token = request.cookies.get(cookie_name(request))
    if not token:
        return redirect("/admin/login")
    await checked_form(request)
    await db(request, end_session, token)
    response = redirect("/admin/login", "logged-out")
    clear_session_cookie(request, response)
    return response


@router.get("/admin/account")
async def account(request: Request, me: Principal = Depends(require(Action.view))) -> Response:
    tokens = await db(request, list_tokens, me.user_id)
    return render(request, "account.html", tokens=tokens, new_token=None, errors={})


@router.post("/admin/account/password")
async def change_password(request: Request,
                          me: Principal = Depends(require(Action.view))) -> Response:
    web = web_of(request)
    form = await checked_form(request)
    current = str(form.get("current") or "")
    new = str(form.get("new") or "")
    repeat = str(form.get("repeat") or "")
    errors: dict[str, str] = {}
    tokens = await db(request, list_tokens, me.user_id)
    if await db(request, authenticate, me.email, current, now=web.now()) is None:
        errors["current"] = "wrong"
    elif new != repeat:
        errors["repeat"] = "mismatch"
    if not errors:
        token = request.cookies.get(cookie_name(request))

        def work(s):  # type: ignore[no-untyped-def]
            set_password(s, get_user_by_id(s, me.user_id), new, now=web.now(),
                         keep_session=token)

        try:
            await db(request, work)
        except MailerError as exc:
            errors["new"] = exc.message
    if errors:
        return render(request, "account.html", status=422, tokens=tokens, new_token=None,
                      errors=errors)
    return redirect("/admin/account", "password")


@router.post("/admin/account/tokens")
async def new_token(request: Request, me: Principal = Depends(require(Action.view))) -> Response:
    web = web_of(request)
    form = await checked_form(request)
    name = str(form.get("name") or "")
    made = await db(request, lambda s: create_api_token(
        s, get_user_by_id(s, me.user_id), name=name, now=web.now()))
    tokens = await db(request, list_tokens, me.user_id)
    # Rendered, not redirected: the secret is shown on this one response only.
    return render(request, "account.html", tokens=tokens, new_token=made, errors={})


@router.post("/admin/account/tokens/{token_id}/revoke")
async def revoke_own(request: Request, token_id: Id,
                     me: Principal = Depends(require(Action.view))) -> Response:
    await checked_form(request)
    await db(request, revoke_token, token_id, now=web_of(request).now(), user_id=me.user_id)
    return redirect("/admin/account", "revoked")
