"""DMARC's relaxed alignment (RFC 7489 3.1): two domains align when they share their
organisational domain. Doctor checks it; the worker signs a From only with a d= aligned
with it."""

from __future__ import annotations

__all__ = ["aligned", "organisational"]

# second-level registries where the organisation sits one label deeper
_DEEPER = frozenset({"co.uk", "org.uk", "gov.uk", "com.au"})


def organisational(domain: str) -> str:
    """The organisational domain (last two labels; good enough for .se, .org, .com)."""
    labels = domain.lower().rstrip(".").split(".")
    if len(labels) >= 3 and ".".join(labels[-2:]) in _DEEPER:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def aligned(a: str, b: str) -> bool:
    """Whether domains ``a`` and ``b`` align under DMARC's relaxed mode."""
    return organisational(a) == organisational(b)
