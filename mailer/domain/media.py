"""Files of an issue (images, PDF fact sheets): which types are served, how they are
recognised, how big they may be, and safe file names. Pure: no I/O beyond the bytes given."""

from __future__ import annotations

import io
import re
import struct
import unicodedata
from pathlib import PurePath

import imagesize

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


#: The image types a mail shows (the others of MEDIA_TYPES are offered as files).
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
#: The issue check warns on an image larger than this: every reader downloads it with
#: the mail, and an image of a newsletter's column needs far less (1200 px wide is sharp).
IMAGE_WARN_BYTES = 1024 * 1024
#: How much of an image the check reads to find its type and size in pixels (a JPEG's
#: size follows its metadata, EXIF and XMP, which rarely take more than a few kB).
IMAGE_HEAD_BYTES = 1024 * 1024


def sniff(data: bytes) -> str | None:
    """The content type of MEDIA_TYPES the bytes start as, or None (none of them)."""
    return next((t for t in dict.fromkeys(MEDIA_TYPES.values()) if content_matches(data, t)),
                None)


def image_size(data: bytes, content_type: str) -> tuple[int, int] | None:
    """(width, height) in pixels read from the header of a PNG, JPEG, GIF or WebP image
    (``data``: its first bytes, by ``imagesize``), or None when the header is damaged or
    cut off."""
    if content_type not in IMAGE_TYPES:
        return None
    try:
        width, height = imagesize.get(io.BytesIO(data))
    except (ValueError, struct.error, OSError, IndexError):  # cut off inside the header
        return None
    return (width, height) if width > 0 and height > 0 else None


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
        # Larger than the limit, not "is N MB": an upload is read only up to the limit.
        raise MediaError(msg("%(name)r is larger than %(limit)s MB (make it smaller, or "
                             "link to where it is published)", name=name,
                             limit=MAX_UPLOAD_BYTES // 1048576))
    if not content_matches(data, content_type):
        raise MediaError(msg("%(name)r does not hold a %(format)s file, though its name "
                             "ends in %(suffix)s; save it again as %(format)s, or give it "
                             "the ending of the format it is in", name=name,
                             format=FORMATS[content_type],
                             suffix=PurePath(name).suffix))
    return safe_name(name), content_type
