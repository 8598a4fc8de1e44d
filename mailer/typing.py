"""Type aliases shared across the package (typing only; nothing here runs)."""

from __future__ import annotations

from typing import TypeAlias

JSONScalar: TypeAlias = str | int | float | bool | None
JSONValue: TypeAlias = JSONScalar | list["JSONValue"] | dict[str, "JSONValue"]
JSON: TypeAlias = dict[str, JSONValue]
"""A JSON object as stored in a JSON column or sent in an API body."""
