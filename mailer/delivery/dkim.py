"""DKIM signing (RFC 6376, RFC 8463) per message: dkimpy's canonicalization, fast crypto.

dkimpy's own ``sign`` does RSA in pure Python (about 8 ms for an 88 KB newsletter), so a
mailing of 50,000 personalised copies would spend minutes of CPU on signatures alone. We
keep dkimpy for what it does well and what must match every verifier to the byte
(parsing, relaxed canonicalization, header selection, folding) and sign the digest with
``cryptography`` (OpenSSL), which costs a fraction of a millisecond.

The signed header set includes List-Unsubscribe-Post: RFC 8058 section 4 requires the
one-click headers to be covered by a valid DKIM signature, and dkimpy leaves it out by
default. Each header name is listed once more than it occurs ("over-signing", RFC 6376
section 8.15), so nobody can add a second From, Subject or List-Unsubscribe in transit.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.hashes import SHA256
from dkim.canonicalization import CanonicalizationPolicy

from mailer.config import Settings
from mailer.domain.alignment import aligned
from mailer.errors import ConfigError

log = logging.getLogger(__name__)

# Signed (and over-signed) header fields, lower case as RFC 6376 compares them.
SIGNED_HEADERS: tuple[str, ...] = (
    "from", "to", "cc", "reply-to", "subject", "date", "message-id", "mime-version",
    "content-type", "content-transfer-encoding", "content-language", "list-id",
    "list-unsubscribe", "list-unsubscribe-post", "list-archive", "list-help", "feedback-id",
    "auto-submitted", "in-reply-to", "references",
)
# relaxed headers (relays refold them), simple body: our bodies are CRLF, 7-bit, short
# lines (quoted-printable or base64), which relays pass untouched, and "simple" costs
# nothing where dkimpy's relaxed body regexes cost milliseconds on a newsletter.
_CANON = CanonicalizationPolicy.from_c_value(b"relaxed/simple")
_HEADER = b"DKIM-Signature"
_WSP = re.compile(rb"[ \t]+")
# A header field starts at a line that does not begin with WSP (RFC 5322 2.2.3).
_FIELD_START = re.compile(rb"\r\n(?![ \t])")
# Lines of the signature header we write stay within 78 characters (RFC 5322 2.1.1).
_WIDTH = 78

PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True, slots=True)
class DkimKey:
    """One signing key: who signs (d=, s=) and with what."""

    domain: str
    selector: str
    key: PrivateKey

    @property
    def algorithm(self) -> bytes:
        return b"ed25519-sha256" if isinstance(self.key, ed25519.Ed25519PrivateKey) \
            else b"rsa-sha256"

    def dns_record(self) -> str:
        """The zone-file line to publish, long values split into quoted strings."""
        return dns_record(self.domain, self.selector, self.key)


def load_key(path: Path, *, domain: str, selector: str,
             setting: str = "MAILER_DKIM_KEY_FILE") -> DkimKey:
    """Read a PEM private key (RSA or Ed25519) for ``selector._domainkey.domain``;
    errors name ``setting`` (e.g. "[brands.natverk] dkim_key_file")."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{setting}: cannot read {path}: {exc.strerror}; "
                          "create a key with 'mailer dkim keygen'") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ConfigError(f"{setting}: {path} is not an unencrypted PEM private "
                          f"key ({exc}); create one with 'mailer dkim keygen'") from None
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 1024:
            raise ConfigError(f"{setting}: {path} is an RSA key of "
                              f"{key.key_size} bits; receivers ignore keys under 1024 bits, "
                              "use 2048 ('mailer dkim keygen')")
    elif not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ConfigError(f"{setting}: {path} holds a {type(key).__name__}; DKIM "
                          "signs with RSA or Ed25519 keys only")
    if not domain or not selector:
        raise ConfigError("DKIM needs a domain and a selector: set MAILER_DKIM_SELECTOR "
                          "(and MAILER_DKIM_DOMAIN where it differs from the From domain)")
    return DkimKey(domain=domain.lower().rstrip("."), selector=selector, key=key)


def generate_key(algorithm: str = "rsa") -> PrivateKey:
    """A new RSA-2048 or Ed25519 private key."""
    if algorithm == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ConfigError(f"--algorithm {algorithm!r}: choose rsa or ed25519")


def write_key(key: PrivateKey, path: Path) -> None:
    """Write ``key`` as PEM, readable by its owner only (0600 from the first byte)."""
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    os.chmod(path, 0o600)


def public_value(key: PrivateKey) -> tuple[str, str]:
    """(k=, p=) of the DNS record for ``key``."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                            serialization.PublicFormat.Raw)
        return "ed25519", base64.b64encode(raw).decode("ascii")
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return "rsa", base64.b64encode(der).decode("ascii")


def dns_record(domain: str, selector: str, key: PrivateKey) -> str:
    """``S._domainkey.D. IN TXT "v=DKIM1; k=rsa; p=…"``, split in strings of 255 at most."""
    kind, p = public_value(key)
    value = f"v=DKIM1; k={kind}; p={p}"
    chunks = [value[i:i + 250] for i in range(0, len(value), 250)]
    quoted = " ".join(f'"{c}"' for c in chunks)
    return f"{selector}._domainkey.{domain.rstrip('.')}. IN TXT {quoted}"


def txt_value(key: PrivateKey) -> bytes:
    """The TXT record's value as a resolver returns it (for tests and ``mailer doctor``)."""
    kind, p = public_value(key)
    return f"v=DKIM1; k={kind}; p={p}".encode("ascii")


class DkimSigner:
    """Signs whole messages with one or more keys (RSA plus Ed25519 = dual signing).

    Thread-safe: the caches below are replaced whole, never changed in place, so sender
    threads may sign with one signer at once.
    """

    def __init__(self, keys: Sequence[DkimKey], *, headers: Sequence[str] = SIGNED_HEADERS,
                 clock: Callable[[], float] = time.time) -> None:
        if not keys:
            raise ConfigError("DKIM signing needs at least one key")
        self.keys = tuple(keys)
        self.headers = tuple(h.lower().encode("ascii") for h in headers)
        self._wanted = frozenset(self.headers)
        self._clock = clock
        # The parsed header fields of the last few message heads that every copy of a
        # mailing shares (From, Subject, List-Id, …): a mailing's copies parse only their
        # own fields (To, Date, Message-ID, List-Unsubscribe).
        self._static: dict[bytes, dict[bytes, list[bytes]]] = {}
        # The tag list up to bh=, per key, h= and second: the same for every copy signed
        # within one second.
        self._tags: dict[tuple[int, bytes, bytes], tuple[bytes, bytes]] = {}

    def signature_headers(self, message: bytes, *, shared_head: bytes = b"") -> bytes:
        """The DKIM-Signature header lines (CRLF-terminated) to put on top of ``message``.

        ``shared_head``, when given, is a prefix of ``message`` made of whole header lines
        that many messages share (a mailing's fixed headers): its parsing is kept."""
        pending = self.prepare(message, shared_head=shared_head)
        return self.assemble(pending, self.signatures(pending))

    def prepare(self, message: bytes, *, shared_head: bytes = b"") -> list[Pending]:
        """Everything but the private-key operation: per key, the digest to sign.

        ``signatures`` then does the private-key operations alone (OpenSSL), ``assemble``
        the header: kept apart so the Python around OpenSSL can be measured and kept
        small (benchmarks/send.py)."""
        head, canonical = split_body(message)
        bodyhash = base64.b64encode(hashlib.sha256(canonical).digest())
        return [Pending(key, folded, bodyhash,
                        hashlib.sha256(prefix + bodyhash + b"; b=").digest())
                for key, folded, prefix in self.head_parts(head, shared_head=shared_head)]

    def head_parts(self, head: bytes, *,
                   shared_head: bytes = b"") -> list[tuple[DkimKey, bytes, bytes]]:
        """Per key: the key, its tags before bh= (folded), and what its signature hashes
        before the body hash: the signed header fields, relaxed, then the
        DKIM-Signature field up to ``bh=`` (RFC 6376 3.7). The digest a key signs is
        SHA-256 of that, the body hash and ``; b=``."""
        if shared_head and shared_head.endswith(b"\r\n") and head.startswith(shared_head):
            fixed = self._static.get(shared_head)
            if fixed is None:
                fixed = self._fields(shared_head[:-2])
                cache = dict(self._static) if len(self._static) < 64 else {}
                cache[shared_head] = fixed
                self._static = cache
            own = self._fields(head[len(shared_head):])
        else:
            fixed, own = {}, self._fields(head)
        signed, include = self._block(fixed, own)
        now = str(int(self._clock())).encode("ascii")
        parts = []
        for i, key in enumerate(self.keys):
            tags = self._tags.get((i, include, now))
            if tags is None:
                tags = _tag_lines(key, include, now)
                self._tags = {(i, include, now): tags}  # one second's worth, per key
            folded, relaxed = tags
            parts.append((key, folded, signed + relaxed + b" bh="))
        return parts

    @staticmethod
    def signatures(pending: Sequence[Pending]) -> list[bytes]:
        """The private-key operations of ``prepare``'s digests."""
        return [sign_digest(p.key.key, p.digest) for p in pending]

    @staticmethod
    def assemble(pending: Sequence[Pending], signatures: Sequence[bytes]) -> bytes:
        """The DKIM-Signature header lines, b= folded in lines of 78 characters at most."""
        step = _WIDTH - 1
        out = []
        for p, signature in zip(pending, signatures, strict=True):
            b = b"b=" + base64.b64encode(signature)
            out.append(b"".join((
                _HEADER, b": ", p.folded, b"\r\n\tbh=", p.bodyhash, b";\r\n\t",
                b"\r\n\t".join([b[i:i + step] for i in range(0, len(b), step)]), b"\r\n")))
        return b"".join(out)

    def _fields(self, head: bytes) -> dict[bytes, list[bytes]]:
        """The fields of ``head`` that we sign, relaxed-canonicalized (RFC 6376 3.4.2:
        name in lower case, value unfolded, WSP runs as one SP, no WSP around the value),
        per name in the order they occur."""
        by_name: dict[bytes, list[bytes]] = {}
        wanted = self._wanted
        if b"\r\n" not in head:
            head = head.replace(b"\n", b"\r\n")
        for field in _FIELD_START.split(head):
            name, colon, value = field.partition(b":")
            lname = name.lower()
            if lname not in wanted:
                if not colon and not field.startswith(b"From ") and field.strip():
                    raise ConfigError(f"not a header line: {field[:60]!r}")
                continue
            if b"\r\n" in value:
                value = value.replace(b"\r\n", b"")
            if b"\t" in value or b"  " in value:
                value = _WSP.sub(b" ", value)
            line = lname + b":" + value.strip(b" ") + b"\r\n"
            found = by_name.get(lname)
            if found is None:
                by_name[lname] = [line]
            else:
                found.append(line)
        return by_name

    def _block(self, fixed: dict[bytes, list[bytes]],
               own: dict[bytes, list[bytes]]) -> tuple[bytes, bytes]:
        """The canonical fields in the order of h=, and h= itself.

        Selected bottom-up per name as dkimpy's select_headers does (``own`` comes after
        ``fixed`` in the message), and over-signed: each name once per occurrence plus once
        more (absent ones once), so none can be added in transit."""
        include: list[bytes] = []
        lines: list[bytes] = []
        for h in self.headers:
            found = fixed.get(h, _NONE) + own.get(h, _NONE)
            include.extend([h] * (len(found) + 1))
            lines.extend(reversed(found))
        return b"".join(lines), b":".join(include)

    def sign(self, message: bytes, *, shared_head: bytes = b"") -> bytes:
        """``message`` with its DKIM-Signature header(s) prepended."""
        return self.signature_headers(message, shared_head=shared_head) + message


_NONE: list[bytes] = []
_PKCS1 = padding.PKCS1v15()
_PREHASHED = Prehashed(SHA256())


def sign_digest(key: PrivateKey, digest: bytes) -> bytes:
    """The signature of a SHA-256 ``digest`` (RFC 8463: Ed25519 signs the hash; RSA signs
    it PKCS#1 v1.5): the private-key operation, all OpenSSL."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(digest)
    return key.sign(digest, _PKCS1, _PREHASHED)


def split_body(message: bytes) -> tuple[bytes, bytes | memoryview]:
    """The message's head (without the blank line) and its body in the simple body
    canonicalization (RFC 6376 3.4.3): in the usual case, a CRLF body ending in one line
    break, the body itself, without a copy."""
    end = message.find(b"\r\n\r\n")
    if end >= 0 and message.endswith(b"\r\n") and not message.endswith(b"\r\n\r\n") \
            and end + 4 < len(message):
        return message[:end], memoryview(message)[end + 4:]
    if end < 0:
        end = message.find(b"\n\n")
        head, body = (message, b"") if end < 0 else (message[:end], message[end + 2:])
    else:
        head, body = message[:end], message[end + 4:]
    if b"\n" in body and b"\r\n" not in body:
        body = body.replace(b"\n", b"\r\n")
    # Trailing empty lines reduced to one CRLF (an empty body is one CRLF).
    return head, _CANON.canonicalize_body(body)


@dataclass(frozen=True, slots=True)
class Pending:
    """One signature before its private-key operation (see ``DkimSigner.prepare``)."""

    key: DkimKey
    folded: bytes  # the tags before bh=, folded
    bodyhash: bytes
    digest: bytes  # what the key signs


def _tag_lines(key: DkimKey, include: bytes, now: bytes) -> tuple[bytes, bytes]:
    """The tags before bh=, folded (between tags, and in h= after a colon) into lines of
    at most 78 characters, and their relaxed form: the same lines joined by one SP (RFC
    6376 3.4.2: unfolded, one SP per WSP run), as the signature covers them (3.7)."""
    names = include.split(b":")
    pieces = [(b"v=1;", b" "), (b"a=" + key.algorithm + b";", b" "),
              (b"c=relaxed/simple;", b" "), (b"d=" + key.domain.encode("ascii") + b";", b" "),
              (b"s=" + key.selector.encode("ascii") + b";", b" "), (b"t=" + now + b";", b" "),
              (b"h=" + names[0], b" ")]
    pieces += [(b":" + name, b"") for name in names[1:]]
    pieces.append((b";", b""))
    lines: list[bytes] = []
    line = b""
    width = _WIDTH - len(_HEADER) - 2
    for piece, sep in pieces:
        if line and len(line) + len(sep) + len(piece) > width:
            if piece.startswith(b":"):  # fold after the colon, before the next name
                line, piece = line + b":", piece[1:]
            lines.append(line)
            line, width = piece, _WIDTH - 1
        else:
            line = line + sep + piece if line else piece
    lines.append(line)
    relaxed = b"dkim-signature:" + b" ".join(lines)
    return b"\r\n\t".join(lines), relaxed


def signer_for(settings: Settings) -> DkimSigner | None:
    """The signer the settings describe (RSA, plus Ed25519 when configured), or None."""
    keys = []
    for ed in (False, True):
        path = settings.dkim_key_path(ed25519=ed)
        if path is not None:
            selector = settings.dkim_ed25519_selector if ed else settings.dkim_selector
            keys.append(load_key(path, domain=settings.dkim_domain_or_from, selector=selector))
    return DkimSigner(keys) if keys else None


def brand_key(settings: Settings, name: str) -> DkimKey | None:
    """Brand ``name``'s own key (``[brands.<name>] dkim_selector``), or None."""
    path = settings.brand_dkim_path(name)
    if path is None:
        return None
    return load_key(path, domain=settings.brand_dkim_domain(name),
                    selector=settings.brands[name].dkim_selector,
                    setting=f"[brands.{name}] dkim_key_file")


class DkimSigners:
    """Which key signs which mailing: DKIM per From domain.

    A brand with its own key (``[brands.<name>] dkim_selector``) signs with it, d= its
    domain. Any other mailing (a brand without a key, the workspace's own newsletter, a
    mailing whose brand mailer.toml no longer has) signs with the workspace's key(s)
    (MAILER_DKIM_*, RSA plus Ed25519), else with a brand's key whose domain is its From
    domain. Each only when that d= aligns with the mailing's From domain (the same
    organisational domain, DMARC's relaxed alignment): a signature with a misaligned d=
    passes DKIM but fails DMARC, and tells receivers the two domains send together, so
    such mail goes unsigned (a relay may sign it) and ``mailer doctor`` says so.

    One ``DkimSigner`` per key, made when the worker starts (a bad key fails then).
    """

    def __init__(self, settings: Settings) -> None:
        self.workspace = signer_for(settings)
        self.brands: dict[str, DkimSigner] = {}
        made: dict[tuple[str, str, bytes], DkimSigner] = {}
        for name in sorted(settings.brands):
            key = brand_key(settings, name)
            if key is None:
                continue
            same = (key.domain, key.selector, txt_value(key.key))
            if same not in made:
                made[same] = DkimSigner([key])
            self.brands[name] = made[same]
        self._warned: set[tuple[str, str]] = set()

    def __bool__(self) -> bool:
        return self.workspace is not None or bool(self.brands)

    def for_mailing(self, brand: str, from_domain: str) -> DkimSigner | None:
        """The signer for a mailing of ``brand`` ("" = the workspace's) whose From is at
        ``from_domain``; None when no key aligns with it (the mail goes unsigned)."""
        from_domain = from_domain.lower().rstrip(".")
        signer = self.brands.get(brand)
        if signer is not None and _aligned(signer, from_domain):
            return signer
        if signer is None:
            # The workspace's key first; else a brand's whose domain is this From's (a
            # mailing whose brand mailer.toml no longer names, a list's mail from it).
            for other in (self.workspace, *self.brands.values()):
                if other is not None and _aligned(other, from_domain) and (
                        other is self.workspace or other.keys[0].domain == from_domain):
                    return other
            signer = self.workspace
        if signer is None:
            return None
        if (brand, from_domain) not in self._warned:
            self._warned.add((brand, from_domain))
            log.warning("not DKIM-signing mail of brand %r from %s: the DKIM domain %s does "
                        "not align with it (DMARC); give the brand its own key with "
                        "'mailer dkim keygen --brand'", brand or "[brand]", from_domain,
                        signer.keys[0].domain)
        return None


def _aligned(signer: DkimSigner, from_domain: str) -> bool:
    return all(aligned(k.domain, from_domain) for k in signer.keys)
