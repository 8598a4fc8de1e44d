"""Every URL we put in an e-mail, in one place (the web routes answer these paths)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from mailer.tokens import BadToken, Purpose, Tokens, reconfirm_scope

if TYPE_CHECKING:
    from mailer.config import Settings


class Links:
    """Builds absolute, signed links from MAILER_BASE_URL and the signing key."""

    def __init__(self, base_url: str, tokens: Tokens) -> None:
        self.base = base_url.rstrip("/")
        self.tokens = tokens

    @classmethod
    def of(cls, settings: Settings) -> Links:
        """The links of a workspace: its base URL, signed with its keys (old keys verify)."""
        return cls(settings.base_url, Tokens(settings.signing_keys()))

    def unsubscribe(self, subscriber_id: int, list_id: int) -> str:
        """RFC 8058 target: GET shows a page with a button, POST unsubscribes at once."""
        return f"{self.base}/u/{self.tokens.make(Purpose.unsubscribe, subscriber_id, list_id)}"

    def preferences(self, subscriber_id: int) -> str:
        return f"{self.base}/p/{self.tokens.make(Purpose.preferences, subscriber_id)}"

    def confirm(self, subscriber_id: int, list_id: int) -> str:
        return f"{self.base}/confirm/{self.tokens.make(Purpose.confirm, subscriber_id, list_id)}"

    def register(self, invitation_slug: str, subscriber_id: int, invitation_id: int) -> str:
        token = self.tokens.make(Purpose.register, subscriber_id, invitation_id)
        return f"{self.base}/register/{quote(invitation_slug)}/{token}"

    def reconfirm(self, invitation_slug: str, year: int, subscriber_id: int,
                  invitation_id: int) -> str:
        """The yearly "do you continue?" page of a multi-year network."""
        token = self.tokens.make(Purpose.reconfirm, subscriber_id,
                                 reconfirm_scope(invitation_id, int(year)))
        return f"{self.base}/reconfirm/{quote(invitation_slug)}/{int(year)}/{token}"

    @staticmethod
    def in_language(url: str, lang: str) -> str:
        """``url`` (one of ours, without a query) opening its page in ``lang``: the links
        of a mail the person asked for in a language speak that language, whatever
        language we hold for them."""
        return f"{url}?{urlencode({'lang': lang})}"

    def view(self, mailing_id: int) -> str:
        """The archived issue's public page (an issue sent to a public list)."""
        return f"{self.base}/archive/view/{mailing_id}"

    def browser(self, mailing_id: int) -> str:
        """View in browser, as the mail links it: the archived issue without personal
        data, signed for this mailing so that it opens for an issue sent only to private
        lists (or as a test) too."""
        token = self.tokens.make(Purpose.archive, 0, mailing_id)
        return f"{self.base}/archive/view/{mailing_id}/{token}"

    def read_browser(self, mailing_id: int, token: str) -> bool:
        """True when ``token`` is this mailing's view-in-browser token."""
        try:
            return self.tokens.read(Purpose.archive, token).scope_id == mailing_id
        except BadToken:
            return False

    def archive(self, list_slug: str) -> str:
        return f"{self.base}/archive/{quote(list_slug)}"

    @staticmethod
    def unsubscribe_mailto(address: str, token: str) -> str:
        """The mailto: form of List-Unsubscribe (RFC 2369), carrying the same token."""
        return f"mailto:{address}?subject=unsubscribe%20{token}"

    # --- click statistics (opt-in per mailing; see mailer.services.clicks) ---------------
    def click(self, mailing_id: int, position: int) -> str:
        """The redirect a tracked link points at, before the per-copy tag."""
        return f"{self.base}/l/{self.tokens.click(mailing_id, position)}"


def is_own_page(url: str, base_url: str) -> bool:
    """A page of this service (unsubscribe, preferences, confirm, register, view in
    browser, archive): click statistics never rewrite these."""
    base = base_url.rstrip("/")
    return url == base or url.startswith(base + "/")

# An href in the rendered HTML (mjml writes double quotes); only absolute http(s) targets
# are tracked: placeholders (%%unsubscribe_url%%…), mailto:, tel: and anchors never are.
_HREF_RE = re.compile(r'(<a\b[^>]*?\bhref=")(https?://[^"\s]+)(")', re.IGNORECASE)


def trackable_links(html_source: str, base_url: str) -> list[str]:
    """The distinct link targets of a mailing's HTML that click statistics may count, in
    order of first appearance (a link's position is its index here)."""
    out: list[str] = []
    for m in _HREF_RE.finditer(html_source):
        url = html.unescape(m.group(2))
        if "%%" in url or is_own_page(url, base_url) or url in out:
            continue
        out.append(url)
    return out


def rewrite_links(html_source: str, targets: list[str], make: Callable[[int], str]) -> str:
    """``html_source`` with each href found in ``targets`` replaced by ``make(position)``;
    other hrefs stay as they are."""
    index = {url: i for i, url in enumerate(targets)}

    def sub(m: re.Match[str]) -> str:
        pos = index.get(html.unescape(m.group(2)))
        if pos is None:
            return m.group(0)
        return m.group(1) + html.escape(make(pos), quote=True) + m.group(3)

    return _HREF_RE.sub(sub, html_source)
