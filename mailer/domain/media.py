"""Files of an issue (images, PDF fact sheets): which types are served, how they are
recognised, how big they may be, and safe file names. Pure: no I/O beyond the bytes given."""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePath

from mailer.domain.findings import msg

#: Served under /media/<issue folder>/<file> once the issue went out (and in previews).
MEDIA_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".pdf": "application/pdf",
}
#: The issue check warns on files larger than this (mail clients and readers on phones).
WARN_BYTES = 10 * 1024 * 1024
#: The admin refuses uploads larger than this.
MAX_UPLOAD_BYTES = 25 * 1024 * 1024

#: How a type is named to a person: "not a PNG image", not "not a image/png file".
FORMATS = {
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "image/gif": "GIF",
    "image/webp": "WebP",
    "application/pdf": "PDF",
}

_MAGIC = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "application/pdf": (b"%PDF-",),
}


class MediaError(ValueError):
    """A file that cannot be an issue's media: the message says why and what to do."""


def media_type(name: str) -> str | None:
    """The content type served for ``name``, or None when such files are not served."""
    return MEDIA_TYPES.get(PurePath(name).suffix.lower())


def content_matches(data: bytes, content_type: str) -> bool:
    """True when the bytes start as a file of ``content_type`` does."""
    if content_type == "image/webp":
        return data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    return any(data.startswith(m) for m in _MAGIC.get(content_type, ()))


def safe_name(name: str) -> str:
    """A stable, URL-safe file name: ``Faktablad Område 3.PDF`` -> ``faktablad-omrade-3.pdf``."""
    stem, suffix = PurePath(PurePath(name.replace("\\", "/")).name).stem, \
        PurePath(name).suffix.lower()
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    clean = re.sub(r"[^a-z0-9]+", "-", ascii_stem.lower()).strip("-")[:80] or "fil"
    return f"{clean}{suffix}"


def check_upload(name: str, data: bytes) -> tuple[str, str]:
    """(safe file name, content type) of an upload, or MediaError naming the problem."""
    content_type = media_type(name)
    if content_type is None:
        allowed = ", ".join(sorted({s.lstrip(".") for s in MEDIA_TYPES}))
        raise MediaError(msg("%(name)r: only these file types can be added: %(allowed)s",
                             name=name, allowed=allowed))
    if not data:
        raise MediaError(msg("%(name)r is empty", name=name))
    if len(data) > MAX_UPLOAD_BYTES:
        raise MediaError(msg("%(name)r is %(size)s MB; the limit is %(limit)s MB (make it "
                             "smaller, or link to where it is published)", name=name,
                             size=f"{len(data) / 1048576:.1f}",
                             limit=MAX_UPLOAD_BYTES // 1048576))
    if not content_matches(data, content_type):
        raise MediaError(msg("%(name)r does not hold a %(format)s file, though its name "
                             "ends in %(suffix)s; save it again as %(format)s, or give it "
                             "the ending of the format it is in", name=name,
                             format=FORMATS[content_type],
                             suffix=PurePath(name).suffix))
    return safe_name(name), content_type
