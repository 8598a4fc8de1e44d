"""Reading CSV files from people's spreadsheets: encoding, delimiter, header, rows, streamed.

``sniff`` reads the file once as bytes (fast, no parsing) to choose the encoding for the
whole file, refuse binary files and absurd lines, and count lines for the progress bar;
``open_rows`` then streams ``(line number, values)`` with the csv module. Everything that
can be wrong with the file as a whole is found here, before the database is touched.
``sniff_bytes`` and ``rows_of`` do the same for a file already in memory (an upload, the
registration import). The subscriber and the registration imports both read through here
and keep only their own row rules (``mailer.domain.subscriber_rows``,
``mailer.domain.registration_rows``).
"""

from __future__ import annotations

import _csv
import codecs
import csv
import io
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from mailer.domain.findings import msg
from mailer.errors import MailerError

CHUNK = 1 << 20
MAX_LINE = CHUNK  # bytes; no subscriber row is a megabyte long (see _check_lines)
DELIMITERS = (";", ",", "\t", "|")  # ties go to the first: Swedish Excel writes ';'

ENCODINGS = {  # what --encoding accepts -> Python codec
    "utf-8": "utf-8", "utf8": "utf-8", "utf-8-sig": "utf-8-sig",
    "cp1252": "cp1252", "windows-1252": "cp1252", "latin-1": "latin-1",
    "iso-8859-1": "latin-1", "utf-16": "utf-16",
}
LABELS = {"utf-8-sig": "UTF-8 with BOM", "utf-8": "UTF-8", "cp1252": "Windows-1252",
          "utf-16": "UTF-16", "latin-1": "ISO-8859-1"}
SAVE_AS = msg("In Excel: File → Save as → 'CSV UTF-8 (comma delimited) (*.csv)'.")


@dataclass(frozen=True, slots=True)
class CsvFormat:
    """How to read a file: codec, delimiter, and its size in bytes and lines."""

    encoding: str
    delimiter: str
    size: int
    lines: int

    @property
    def label(self) -> str:
        name = {";": "';'", ",": "','", "\t": "tab", "|": "'|'"}.get(self.delimiter,
                                                                    repr(self.delimiter))
        return f"{LABELS.get(self.encoding, self.encoding)}, {name}-delimited"


def _fail(path: Path, message: str) -> MailerError:
    """``message`` (a ``msg()``, shown in the reader's language) about the file ``path``."""
    return MailerError(msg("%(path)s: %(problem)s", path=str(path), problem=message))


def _detect_bom(head: bytes) -> str | None:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # Excel's "Unicode text"
    return None


def _refuse_binary(path: Path, head: bytes) -> None:
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\xd0\xcf\x11\xe0"):
        raise _fail(path, msg("this is an Excel workbook (or another ZIP/OLE file), not "
                              "CSV. %(save_as)s", save_as=SAVE_AS))
    if head.startswith(b"%PDF"):
        raise _fail(path, msg("this is a PDF file, not CSV"))


def _scan(path: Path, f: IO[bytes], encoding: str | None) -> tuple[str | None, int, str]:
    """One pass over the bytes: check lines and NULs, count lines, try ``encoding`` strictly.

    Returns (encoding if the whole file decodes with it else None, line count, where it
    failed).
    """
    decoder = codecs.getincrementaldecoder(encoding)("strict") if encoding else None
    failed_at = ""
    check_nul = encoding != "utf-16"
    newlines = returns = 0
    run = 0  # bytes since the last line break
    offset = 0
    for chunk in iter(lambda: f.read(CHUNK), b""):
        if check_nul and b"\x00" in chunk:
            line = newlines + chunk.count(b"\n", 0, chunk.index(b"\x00")) + 1
            raise _fail(path, msg("line %(line)s contains NUL bytes: this is a binary file, "
                                  "not CSV text. %(save_as)s", line=line, save_as=SAVE_AS))
        if decoder is not None:
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                decoder = None
                pos = offset + exc.start
                line = newlines + chunk.count(b"\n", 0, exc.start) + 1
                failed_at = f"byte 0x{chunk[exc.start]:02x} on line {line} (byte {pos})"
        first = min((i for i in (chunk.find(b"\n"), chunk.find(b"\r")) if i >= 0), default=-1)
        if first < 0:
            run += len(chunk)
        else:
            run += first
        if run > MAX_LINE:
            line = (newlines or returns) + 1
            raise _fail(path, msg("line %(line)s is longer than %(kib)s KiB (at least "
                                  "%(bytes)s bytes without a line break): this is not a list "
                                  "of subscribers, or its line breaks are missing", line=line,
                                  kib=MAX_LINE // 1024, bytes=f"{run:,}"))
        if first >= 0:
            # Lines wholly inside a chunk are shorter than the chunk, so only the line
            # that crosses into the next chunk needs counting.
            run = len(chunk) - max(chunk.rfind(b"\n"), chunk.rfind(b"\r")) - 1
        newlines += chunk.count(b"\n")
        returns += chunk.count(b"\r")
        offset += len(chunk)
    if decoder is not None:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            decoder = None
            failed_at = "the end of the file (a character cut in half)"
    lines = newlines or returns
    if run:
        lines += 1  # the last line has no line break
    return (encoding if decoder is not None else None), lines, failed_at


def sniff(path: Path, *, encoding: str | None = None, delimiter: str | None = None) -> CsvFormat:
    """Choose encoding and delimiter for ``path``; refuse what is not a readable CSV file.

    Encoding: a BOM decides (UTF-8 or UTF-16); otherwise the whole file must be valid
    UTF-8, else it is read as Windows-1252 (what Swedish Excel writes for "CSV (semicolon
    separated)"). Checking the whole file, not a sample, means a stray 'ö' on line
    900 000 cannot turn into mojibake or a failure half-way through the import.
    """
    if not path.exists():
        raise _fail(path, msg("no such file"))
    if path.is_dir():
        raise _fail(path, msg("is a folder, not a CSV file"))
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            return _sniff_stream(path, f, size, encoding, delimiter)
    except OSError as exc:
        raise _fail(path, f"cannot read the file: {exc.strerror or exc}") from None


def sniff_bytes(data: bytes, name: str, *, encoding: str | None = None,
                delimiter: str | None = None) -> CsvFormat:
    """``sniff`` for a file already in memory; ``name`` is shown in the errors."""
    return _sniff_stream(Path(name), io.BytesIO(data), len(data), encoding, delimiter)


def _sniff_stream(path: Path, f: IO[bytes], size: int, encoding: str | None,
                  delimiter: str | None) -> CsvFormat:
    if encoding is not None:
        codec = ENCODINGS.get(encoding.lower())
        if codec is None:
            raise _fail(path, f"unknown encoding {encoding!r}; use one of "
                        + ", ".join(sorted(ENCODINGS)))
        encoding = codec
    head = f.read(4096)
    _refuse_binary(path, head)
    bom = _detect_bom(head)
    chosen = encoding or bom or "utf-8"
    f.seek(0)
    ok, lines, failed_at = _scan(path, f, chosen)
    if ok is None and encoding is None and bom is None:
        f.seek(0)
        ok, lines, _ = _scan(path, f, "cp1252")
        chosen = "cp1252"
    if ok is None:
        tried = (f"as {LABELS.get(chosen, chosen)}" if encoding or bom else
                 "as UTF-8 or Windows-1252")
        raise _fail(path, f"cannot read the text {tried}: invalid {failed_at}. "
                    "Pass --encoding if you know it. " + SAVE_AS)
    text_head = head.decode(chosen, errors="replace")
    if size <= len(head) and not text_head.lstrip("\ufeff").strip():
        raise _fail(path, msg("the file is empty; expected a header line with an e-mail "
                              "column (e.g. 'email;name;organisation') and one line per "
                              "person"))
    return CsvFormat(chosen, delimiter or guess_delimiter(text_head), size, lines)


def guess_delimiter(text: str) -> str:
    """The delimiter of the header line: the most frequent of ; , tab | outside quotes."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for c in text.lstrip("\ufeff").lstrip("\r\n"):
        if c == '"':
            quoted = not quoted
        elif not quoted and c in ("\n", "\r"):
            break
        elif not quoted and c in counts:
            counts[c] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])  # max keeps the first of equals
    return best if counts[best] else ","


@contextmanager
def open_rows(path: Path, fmt: CsvFormat) -> Iterator[tuple[list[str], Iterator[Row]]]:
    """Open ``path``: the header (stripped) and a stream of rows (blank lines skipped).

    A row is ``(first line, last line, values)`` in physical line numbers, as a text
    editor shows them (a quoted value may span lines). csv errors become a MailerError.
    """
    try:
        f = path.open(encoding=fmt.encoding, newline="")
    except OSError as exc:
        raise _fail(path, f"cannot read the file: {exc.strerror or exc}") from None
    with f:
        yield _header_and_rows(path, f, fmt)


def rows_of(data: bytes, name: str, fmt: CsvFormat) -> tuple[list[str], Iterator[Row]]:
    """``open_rows`` for a file already in memory (decoded as ``sniff_bytes`` chose)."""
    text = io.StringIO(data.decode(fmt.encoding), newline="")
    return _header_and_rows(Path(name), text, fmt)


Row = tuple[int, int, list[str]]


def _header_and_rows(path: Path, lines: Iterable[str],
                     fmt: CsvFormat) -> tuple[list[str], Iterator[Row]]:
    reader = csv.reader(lines, delimiter=fmt.delimiter)
    rows = _guarded(path, reader)
    first = next(rows, None)
    header = [h.replace("\ufeff", "").strip() for h in first[2]] if first else []
    return header, rows


def _guarded(path: Path, reader: _csv.Reader) -> Iterator[Row]:
    # The csv module refuses a field over csv.field_size_limit() (128 KiB); that almost
    # always means a quote (") that is never closed, which swallows the rest of the file.
    while True:
        start = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _fail(path, msg("line %(line)s: %(error)s. Is a quote (\") on that line "
                                  "never closed? Fix the line and import again", line=start,
                                  error=str(exc))) from None  # the csv module's English
        if values:
            yield start, reader.line_num, values
