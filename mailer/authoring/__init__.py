"""Authoring: issue folders (``issues/<id>/issue.yaml``) loaded and checked with file:line.

Kinds register themselves (``register_kind``) from modules in ``mailer.authoring.kinds``.
"""

from mailer.authoring.load import (
    DOCUMENT_NAME,
    Loaded,
    document_path,
    field_name,
    load_document,
    load_valid,
)
from mailer.authoring.registry import CheckContext, Kind, kinds, register_kind

__all__ = [
    "DOCUMENT_NAME",
    "CheckContext",
    "Kind",
    "Loaded",
    "document_path",
    "field_name",
    "kinds",
    "load_document",
    "load_valid",
    "register_kind",
]
