"""Render any loaded document by its kind (newsletter here; invitations register theirs)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mailer.config import Settings
from mailer.errors import MailerError
from mailer.render.engine import RenderOptions
from mailer.render.types import RenderedMailing

# Any: each kind registers a renderer of its own document type (Issue, Invitation, …);
# Callable parameters are contravariant, so no common type would accept them all.
Renderer = Callable[[Any, RenderOptions], RenderedMailing]
_RENDERERS: dict[str, Renderer] = {}
# Kinds whose renderer lives in a module that registers it on import.
_BUILTIN = {"newsletter": "mailer.render.newsletter",
            "invitation": "mailer.render.invitation"}


def register_renderer(kind: str, renderer: Renderer) -> None:
    """``renderer(document, options)`` renders documents of ``kind`` once per mailing."""
    _RENDERERS[kind] = renderer


def renderer_for(kind: str) -> Renderer:
    if kind not in _RENDERERS and kind in _BUILTIN:
        importlib.import_module(_BUILTIN[kind])
    if kind not in _RENDERERS:
        raise MailerError(f"no renderer for documents of kind {kind!r}")
    return _RENDERERS[kind]


def options_for(settings: Settings, folder: Path, *,
                asset_base_url: str | None = None, brand: str = "") -> RenderOptions:
    """Render options for the issue in ``folder``: its images are served by the web app
    under ``<MAILER_BASE_URL>/media/<folder name>/`` unless another base is given; a
    document naming no brand gets ``brand`` (its lists', see services.brands)."""
    return RenderOptions(
        workspace=settings.workspace,
        asset_base_url=asset_base_url or f"{settings.base_url}/media/{folder.name}",
        remote_fonts=settings.remote_fonts,
        brand=settings.brand,
        brands=settings.brands,
        brand_base_url=f"{settings.base_url}/brand",
        default_brand=brand,
    )


def render_document(document: object, kind: str, options: RenderOptions) -> RenderedMailing:
    return renderer_for(kind)(document, options)
