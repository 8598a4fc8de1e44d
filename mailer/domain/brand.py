"""A newsletter's brand: its organisation's name, logo, colours, footer, From and Reply-To.

``mailer.toml`` holds the workspace's brand (``[brand]``) and, for several newsletters in
one workspace, named ones (``[brands.<name>]``) that an issue chooses with ``brand:``;
a named brand fills what it leaves empty from ``[brand]``. A list names its brand too
(``services.brands`` decides a mailing's); the mailing then records the brand's From and
Reply-To, which the worker signs with. The mail templates and the public pages read it;
nothing here touches files or the network.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

_COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{3}){1,2}$")


def _colour(value: str) -> str:
    if value and not _COLOUR.match(value):
        raise ValueError(f"{value!r} is not a colour; write #rrggbb, e.g. #1f3a5f")
    return value.lower()


def _logo(value: str) -> str:
    if value and not (value.startswith("https://") or re.fullmatch(r"[\w./-]+", value)
                      and ".." not in value and not value.startswith("/")):
        raise ValueError(f"{value!r}: give an https:// address or a file name in the "
                         "workspace's brand/ folder, e.g. logo.png")
    return value


def _folder(value: str) -> str:
    if value and not (re.fullmatch(r"[\w.-]+", value) and ".." not in value):
        raise ValueError(f"{value!r}: give the name of a folder in the workspace, e.g. "
                         "templates-natverk")
    return value


def contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours (1–21)."""
    def luminance(c: str) -> float:
        c = c.lstrip("#")
        if len(c) == 3:
            c = "".join(x * 2 for x in c)
        channels = [int(c[i:i + 2], 16) / 255 for i in (0, 2, 4)]
        lin = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in channels]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _readable(value: str) -> str:
    value = _colour(value)
    if value and contrast(value, "#ffffff") < 4.5:
        raise ValueError(f"{value} is too light behind white text (contrast "
                         f"{contrast(value, '#ffffff'):.1f}:1, needs 4.5:1); choose a darker "
                         "shade")
    return value


Colour = Annotated[str, AfterValidator(_readable)]
# A named brand's own, never taken from [brand] (the workspace's key is MAILER_DKIM_*).
_OWN = frozenset({"dkim_selector", "dkim_key_file", "dkim_domain"})


class Brand(BaseModel):
    """How one newsletter looks and signs. Empty values fall back (named brand → [brand]
    → the built-in look)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""  # the organisation, e.g. "Sveriges Kommuner och Regioner"
    logo: Annotated[str, AfterValidator(_logo)] = ""  # https://… or a file in brand/
    logo_width: int = 160  # pixels in the mail's masthead
    colour: Colour = ""  # masthead, headings, buttons
    link_colour: Colour = ""
    footer_address: str = ""  # postal address under every mail and public page
    # "Namn <adress>" for this newsletter's mail (else MAILER_FROM) and its Reply-To
    # (else MAILER_REPLY_TO); checked with email-validator when mailer.toml is loaded.
    from_address: str = ""
    reply_to: str = ""
    description: str = ""  # one line under the name in the archive and its feeds
    # A folder of the workspace whose templates win over templates/ for this newsletter
    # (e.g. "templates-natverk" holding its own newsletter.mjml.j2); empty = the usual.
    templates: Annotated[str, AfterValidator(_folder)] = ""
    # This newsletter's own DKIM key (``[brands.<name>]`` only; ``mailer dkim keygen
    # --brand NAME`` writes them): the selector, the PEM file (default dkim/<selector>.pem
    # in the workspace) and the d= domain (default: the brand's From domain). Without them
    # the brand's mail is signed with the workspace's key when that aligns with its From.
    dkim_selector: str = ""
    dkim_key_file: str = ""
    dkim_domain: str = ""

    def over(self, base: Brand) -> Brand:
        """This brand, with what it leaves empty taken from ``base``."""
        values = {k: (v if v not in ("", None) or k in _OWN else getattr(base, k))
                  for k, v in self.model_dump().items()}
        return Brand(**values)

    def theme(self, defaults: dict[str, str]) -> dict[str, str]:
        """The mail templates' colours with this brand's applied."""
        theme = dict(defaults)
        if self.colour:
            theme["brand"] = self.colour
        if self.link_colour:
            theme["link"] = self.link_colour
        return theme
