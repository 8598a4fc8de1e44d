"""Admin route modules, one per area; ``ROUTERS`` lists them for ``install_admin``."""

from __future__ import annotations

from mailer.web.admin.routes import dashboard, lists, login, users

ROUTERS = [login.router, dashboard.router, lists.router, users.router]
