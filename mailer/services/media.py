"""An issue's files (images, PDF fact sheets): served publicly once the issue went out,
and added from the admin (checked for type, content and size)."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from mailer.domain.findings import msg
from mailer.domain.media import MediaError, check_upload, media_type
from mailer.errors import MailerError, NotFound, message_of
from mailer.services.mailings import folder_went_out

_FOLDER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")


@dataclass(frozen=True, slots=True)
class MediaFile:
    path: Path
    content_type: str


def find_file(folder: Path, file: str) -> MediaFile:
    """A servable file directly inside ``folder`` (no other folder, no other type)."""
    content_type = media_type(file)
    target = (folder / file).resolve()
    if (content_type is None or target.parent != folder.resolve() or not target.is_file()):
        raise NotFound(f"no file {file!r} in {folder.name}")
    return MediaFile(target, content_type)


def public_file(session: Session, issues: Path, folder: str, file: str) -> MediaFile:
    """``/media/<folder>/<file>``: a file of an issue (or invitation) folder, once a mailing
    of it began to go out; before that it is not public (previews use the admin's route)."""
    if not _FOLDER.match(folder) or not (issues / folder).is_dir():
        raise NotFound(f"no issue folder {folder!r}")
    found = find_file(issues / folder, file)
    if not folder_went_out(session, folder):
        raise NotFound(f"{folder} has not been sent yet")
    return found


@dataclass(frozen=True, slots=True)
class FileInfo:
    name: str
    content_type: str
    size: int


def list_files(folder: Path) -> list[FileInfo]:
    """The servable files of an issue folder, by name."""
    out = []
    for p in sorted(folder.iterdir()):
        ct = media_type(p.name)
        if ct and p.is_file():
            out.append(FileInfo(p.name, ct, p.stat().st_size))
    return out


def add_file(folder: Path, name: str, data: bytes, *, replace: bool = False) -> FileInfo:
    """Store an uploaded file in the issue folder under a safe, stable name. An existing
    file of that name is kept unless ``replace`` (its URL may be in mail already sent)."""
    try:
        safe, content_type = check_upload(name, data)
    except MediaError as exc:
        raise MailerError(message_of(exc), field="file") from None
    target = folder / safe
    if target.exists() and not replace:
        raise MailerError(msg("%(file)s exists already in the issue; tick 'replace' to put "
                              "the new file in its place (links already mailed then show the "
                              "new file)", file=safe), field="replace")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return FileInfo(safe, content_type, len(data))
