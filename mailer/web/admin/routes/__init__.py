"""Admin route modules, one per area; ``ROUTERS`` lists them for ``install_admin``."""

from __future__ import annotations

from mailer.web.admin.routes import (
    dashboard,
    invitations,
    issues,
    lists,
    login,
    mailings,
    preview,
    segments,
    suppressions,
    users,
    webhooks,
)

ROUTERS = [login.router, dashboard.router, issues.router, preview.router, lists.router,
           mailings.router, invitations.router, suppressions.router, users.router,
           webhooks.router, segments.router]
