"""Every URL we put in an e-mail, in one place (the web routes answer these paths)."""

from __future__ import annotations

from urllib.parse import quote

from mailer.tokens import Purpose, Tokens, reconfirm_scope


class Links:
    """Builds absolute, signed links from MAILER_BASE_URL and the signing key."""

    def __init__(self, base_url: str, tokens: Tokens) -> None:
        self.base = base_url.rstrip("/")
        self.tokens = tokens

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

    def view(self, mailing_id: int) -> str:
        """View in browser: the archived issue, without personal data."""
        return f"{self.base}/archive/view/{mailing_id}"

    def archive(self, list_slug: str) -> str:
        return f"{self.base}/archive/{quote(list_slug)}"

    @staticmethod
    def unsubscribe_mailto(address: str, token: str) -> str:
        """The mailto: form of List-Unsubscribe (RFC 2369), carrying the same token."""
        return f"mailto:{address}?subject=unsubscribe%20{token}"
