"""Every admin page and API route refuses anonymous access: this test WALKS the route
table (so a route added later is held to it too), plus the role limits."""

from __future__ import annotations

import re
from collections.abc import Iterator

from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute, Mount, Route

# Public on purpose: the login form, and the API's description (no data in it).
PUBLIC = {("GET", "/admin/login"), ("POST", "/admin/login"), ("GET", "/api/openapi.json")}
PUBLIC_MOUNTS = {"/admin-assets", "/static"}


def _routes(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    for route in routes:
        if isinstance(route, Mount):
            if prefix + route.path not in PUBLIC_MOUNTS:
                yield from _routes(getattr(route.app, "routes", []), prefix + route.path)
        elif isinstance(route, Route):
            for method in sorted(route.methods or {"GET"}):
                yield method, prefix + route.path
        elif hasattr(route, "original_router"):  # FastAPI's included router (>= 0.12x)
            context = getattr(route, "include_context", None)
            yield from _routes(route.original_router.routes,
                               prefix + getattr(context, "prefix", ""))
        else:
            raise AssertionError(f"the walk does not know {route!r}; teach it")


def _walk(app: FastAPI) -> list[tuple[str, str]]:
    return [(m, p) for m, p in _routes(app.routes) if m != "HEAD"
            and p.startswith(("/admin", "/api")) and (m, p) not in PUBLIC]


def _fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_every_admin_and_api_route_refuses_anonymous_access(client: TestClient,
                                                            app: FastAPI) -> None:
    routes = _walk(app)
    assert len(routes) > 25, routes  # the walk really sees the admin and the API
    assert any(p.startswith("/api/") for _, p in routes)
    bad = []
    for method, path in routes:
        r = client.request(method, _fill(path), data={"x": "1"} if method == "POST" else None)
        if path.startswith("/api"):
            ok = r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        else:
            ok = r.status_code == 303 and r.headers["location"].startswith("/admin/login")
        if not ok:
            bad.append((method, path, r.status_code))
    assert bad == []


def test_unknown_admin_paths_do_not_leak(client: TestClient) -> None:
    r = client.get("/admin/no-such-page")
    assert r.status_code == 404
