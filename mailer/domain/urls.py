"""Link addresses in content: normalise messy real-world URLs, refuse the unusable ones."""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit, urlunsplit

from mailer.domain.findings import msg

#: Schemes a reader's mail client can open from a newsletter.
SCHEMES = ("https", "http", "mailto", "tel")

# Characters that may stay as they are in a URL (RFC 3986 reserved + unreserved + '%',
# so existing %XX escapes survive); everything else (spaces, åäö, quotes) is encoded.
_FILE_SUFFIXES = {"pdf", "html", "htm", "doc", "docx", "xlsx", "pptx", "png", "jpg", "jpeg",
                  "gif", "md", "txt", "csv", "mp3", "mp4"}
_SAFE = ":/?#[]@!$&'()*+,;=%~-._"


class BadUrl(ValueError):
    """A link we cannot put in an e-mail, with a message that says how to fix it."""

    @property
    def message(self) -> str:
        """The message (a translatable ``Msg``)."""
        return str(self.args[0]) if not isinstance(self.args[0], str) else self.args[0]


def normalise_url(raw: str) -> str:
    """Return ``raw`` as a clean absolute URL, or raise ``BadUrl`` saying why not.

    Real links are messy: a registration system hands out
    ``…&EDIT=of f&…`` with a space inside the query string. Such characters are
    percent-encoded (``%20``) rather than refused, so the link still works; a host
    with Swedish letters (``örnsköldsvik.se``) is IDNA-encoded.
    """
    url = raw.strip()
    if not url:
        raise BadUrl(msg("the link is empty; write the full address, e.g. https://skr.se/"))
    if any(c in url for c in "\r\n\t"):
        raise BadUrl(msg("the link contains a line break or tab; put it on one line"))
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if not scheme:
        first = url.lstrip("/").split("/", 1)[0]
        looks_like_host = "." in first and " " not in first and first.rsplit(".", 1)[
            1].lower() not in _FILE_SUFFIXES
        hint = ("https://" + url.lstrip("/")) if looks_like_host else "https://skr.se/…"
        raise BadUrl(msg("relative link %(url)r: an e-mail has no address to resolve it "
                         "against; write the full address, e.g. %(hint)s", url=url, hint=hint))
    if scheme not in SCHEMES:
        raise BadUrl(msg("link %(url)r uses the scheme %(scheme)r; use one of %(schemes)s",
                         url=url, scheme=scheme, schemes=", ".join(SCHEMES)))
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise BadUrl(msg("link %(url)r has no host name; e.g. https://skr.se/", url=url))
        host = parts.hostname
        try:
            host_ascii = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise BadUrl(msg("link %(url)r has an invalid host name %(host)r", url=url,
                              host=host)) from None
        netloc = parts.netloc.replace(host, host_ascii) if host != host_ascii else parts.netloc
        if " " in netloc:
            raise BadUrl(msg("link %(url)r has a space in its host name", url=url))
        return urlunsplit((
            scheme,
            netloc,
            quote(parts.path, safe=_SAFE),
            quote(parts.query, safe=_SAFE),
            quote(parts.fragment, safe=_SAFE),
        ))
    # mailto: and tel: (a phone number is written "08-452 74 35"; its link has no spaces).
    rest = url[len(parts.scheme) + 1:]
    if scheme == "tel":
        rest = re.sub(r"[\s()-]", "", rest)
    if not rest.strip():
        raise BadUrl(msg("link %(url)r has nothing after %(scheme)s:", url=url, scheme=scheme))
    return f"{scheme}:{quote(rest, safe=_SAFE)}"


def is_insecure(url: str) -> bool:
    """True for plain http:// links (readers' clients warn; prefer https://)."""
    return url.lower().startswith("http://")
