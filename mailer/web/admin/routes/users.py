"""User administration (admins only): add users, change role, deactivate, reset, tokens."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from mailer.domain.roles import Action, Role
from mailer.errors import MailerError
from mailer.services import accounts
from mailer.services.accounts import (
    Principal,
    create_user,
    get_user_by_id,
    initial_password,
    revoke_token,
    team,
    update_user,
)
from mailer.web.admin.auth import checked_form, require
from mailer.web.admin.pages import redirect, render
from mailer.web.api.deps import Id
from mailer.web.pages import web_of
from mailer.web.routes.common import db, read

router = APIRouter(dependencies=[Depends(require(Action.manage_users))])
ADMIN = Depends(require(Action.manage_users))


async def _page(request: Request, *, status: int = 200, **extra: object) -> Response:
    people = await read(request, team)
    context = {"values": {}, "errors": {}, "new_password": None, **extra}
    return render(request, "users.html", status=status, users=people.users,
                  tokens=people.tokens, roles=list(Role), **context)


@router.get("/admin/users")
async def users_page(request: Request, me: Principal = ADMIN) -> Response:
    return await _page(request)


@router.post("/admin/users")
async def add_user(request: Request, me: Principal = ADMIN) -> Response:
    form = await checked_form(request)
    values = {k: str(form.get(k) or "").strip() for k in ("email", "name", "role")}
    # The admin does not choose the password: a random one is shown once to hand over,
    # and the person changes it on their account page.
    initial = initial_password()
    try:
        await db(request, lambda s: create_user(s, values["email"], role=values["role"],
                                                name=values["name"], password=initial,
                                                now=web_of(request).now()))
    except MailerError as exc:
        return await _page(request, status=422, values=values, errors={"email": exc.message})
    return await _page(request, new_password=(values["email"], initial))


@router.post("/admin/users/{user_id}")
async def change_user(request: Request, user_id: Id, me: Principal = ADMIN) -> Response:
    form = await checked_form(request)
    role = str(form.get("role") or "") or None
    active = {"1": True, "0": False}.get(str(form.get("active") or ""))
    name = form.get("name")
    try:
        await db(request, lambda s: update_user(
            s, get_user_by_id(s, user_id), role=role, active=active,
            name=str(name) if name is not None else None, actor=me,
            now=web_of(request).now()))
    except MailerError as exc:
        return await _page(request, status=422, errors={f"user-{user_id}": exc.message})
    return redirect("/admin/users", "saved")


@router.post("/admin/users/{user_id}/password")
async def reset_password(request: Request, user_id: Id, me: Principal = ADMIN) -> Response:
    await checked_form(request)
    new_password = await db(request, accounts.reset_password, user_id, now=web_of(request).now())
    return await _page(request, new_password=new_password)


@router.post("/admin/users/{user_id}/tokens/{token_id}/revoke")
async def revoke(request: Request, user_id: Id, token_id: Id, me: Principal = ADMIN) -> Response:
    await checked_form(request)
    await db(request, revoke_token, token_id, now=web_of(request).now(), user_id=user_id)
    return redirect("/admin/users", "revoked")
