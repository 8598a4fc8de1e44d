"""Log in, log out, and the user's own account (password, API tokens)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mailer.domain.roles import Action
from mailer.services.accounts import (
    AccountError,
    Principal,
    change_own_password,
    create_api_token,
    end_session,
    get_user_by_id,
    list_tokens,
    log_in,
    login_allowed,
    login_succeeded,
    revoke_token,
)
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
from mailer.web.routes.common import db, read

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
    attempt = web.monotonic()
    if not login_allowed(state.login_per_ip, state.login_per_account, ip=client_ip(request),
                         email=email, now=attempt):
        return render(request, "login.html", status=429, email=email, next=target,
                      error="too-many")
    if not email or not password:
        return render(request, "login.html", status=422, email=email, next=target,
                      error="missing")
    token = await db(request, log_in, email, password, now=web.now(), ip=client_ip(request),
                     user_agent=request.headers.get("user-agent", ""))
    if token is None:
        # One message for unknown address, wrong password and deactivated account.
        return render(request, "login.html", status=401, email=email, next=target,
                      error="wrong")
    login_succeeded(state.login_per_ip, state.login_per_account, ip=client_ip(request),
                    email=email, at=attempt)
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
    tokens = await read(request, list_tokens, me.user_id)
    return render(request, "account.html", tokens=tokens, new_token=None, errors={})


@router.post("/admin/account/password")
async def change_password(request: Request,
                          me: Principal = Depends(require(Action.view))) -> Response:
    web = web_of(request)
    form = await checked_form(request)
    current = str(form.get("current") or "")
    new = str(form.get("new") or "")
    repeat = str(form.get("repeat") or "")
    tokens = await read(request, list_tokens, me.user_id)
    errors = await db(request, change_own_password, me, current=current, new=new,
                      repeat=repeat, now=web.now(),
                      keep_session=request.cookies.get(cookie_name(request)))
    if errors:
        return render(request, "account.html", status=422, tokens=tokens, new_token=None,
                      errors=errors)
    return redirect("/admin/account", "password")


@router.post("/admin/account/tokens")
async def new_token(request: Request, me: Principal = Depends(require(Action.view))) -> Response:
    web = web_of(request)
    form = await checked_form(request)
    name = str(form.get("name") or "")
    try:
        made = await db(request, lambda s: create_api_token(
            s, get_user_by_id(s, me.user_id), name=name, now=web.now()))
    except AccountError as exc:
        if exc.field != "name":
            raise
        # Beside the field, what was typed kept (a blank name: nothing to keep).
        tokens = await read(request, list_tokens, me.user_id)
        return render(request, "account.html", status=422, tokens=tokens, new_token=None,
                      errors={"token_name": exc.message})
    tokens = await read(request, list_tokens, me.user_id)
    # Rendered, not redirected: the secret is shown on this one response only.
    return render(request, "account.html", tokens=tokens, new_token=made, errors={})


@router.post("/admin/account/tokens/{token_id}/revoke")
async def revoke_own(request: Request, token_id: Id,
                     me: Principal = Depends(require(Action.view))) -> Response:
    await checked_form(request)
    await db(request, revoke_token, token_id, now=web_of(request).now(), user_id=me.user_id)
    return redirect("/admin/account", "revoked")
