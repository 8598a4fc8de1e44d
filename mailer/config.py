"""Settings: environment variables (MAILER_*) over an optional mailer.toml in the workspace."""

from __future__ import annotations

import os
import re
import secrets
import tomllib
from dataclasses import dataclass
from email.utils import formataddr, parseaddr
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from mailer.domain.brand import Brand
from mailer.errors import ConfigError, MailerError

ENV_PREFIX = "MAILER_"
SECRET_FILE = ".mailer-secret"
LANGUAGES = ("sv", "en")
_SELECTOR = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


StartTLS = Literal["auto", "required", "off"]


@dataclass(frozen=True, slots=True)
class SmtpUrl:
    """Where and how to reach the SMTP relay, parsed from MAILER_SMTP_URL."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    use_tls: bool = False  # implicit TLS (smtps://)
    starttls: StartTLS = "auto"
    validate_certs: bool = True
    # --- several servers, their own limits, OAuth2 ---
    weight: float = 1.0  # share of the mail among healthy servers
    rate_per_second: float | None = None  # None: MAILER_RATE_PER_SECOND
    rate_per_hour: int | None = None  # None: MAILER_RATE_PER_HOUR
    auth: Literal["auto", "xoauth2"] = "auto"  # auto: PLAIN/LOGIN with the password

    @property
    def key(self) -> str:
        """A stable name for this server, shared by every process (its rate-limit row)."""
        user = f"{self.username}@" if self.username else ""
        return f"{user}{self.host}:{self.port}"

    @classmethod
    def parse(cls, url: str) -> SmtpUrl:
        """Parse ``smtp://user:pass@host:port?starttls=required`` or ``smtps://…``."""
        parts = urlsplit(url.strip())
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError(
                f"scheme must be smtp:// or smtps://, got {parts.scheme or 'none'!r} "
                "(example: smtp://user:password@mail.example.org:587?starttls=required)"
            )
        if not parts.hostname:
            raise ValueError("a host name is missing (example: smtp://localhost:25)")
        try:
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"the port is not a number between 1 and 65535 ({exc})") from None
        implicit = parts.scheme == "smtps"
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        known = {"starttls", "verify", "weight", "rate_per_second", "rate_per_hour", "auth"}
        unknown = set(query) - known
        if unknown:
            raise ValueError(
                f"unknown option(s) {', '.join(sorted(unknown))}; known: "
                f"{', '.join(sorted(known))}"
            )
        starttls = query.get("starttls", "off" if implicit else "auto").lower()
        starttls = {"true": "required", "yes": "required", "1": "required",
                    "false": "off", "no": "off", "0": "off"}.get(starttls, starttls)
        if starttls not in ("auto", "required", "off"):
            raise ValueError("starttls must be one of auto, required, off")
        verify = query.get("verify", "true").lower() not in ("false", "no", "0", "off")
        weight = _number(query, "weight")
        weight = 1.0 if weight is None else weight
        if weight <= 0:
            raise ValueError("weight must be greater than 0 (e.g. weight=3)")
        per_second = _number(query, "rate_per_second")
        hourly = _number(query, "rate_per_hour", whole=True)
        per_hour = None if hourly is None else int(hourly)
        if (per_second is not None and per_second < 0) or (per_hour is not None and per_hour < 0):
            raise ValueError("rate_per_second and rate_per_hour must be 0 (unlimited) or more")
        auth = query.get("auth", "auto").lower()
        if auth not in ("auto", "xoauth2"):
            raise ValueError("auth must be auto (PLAIN/LOGIN with the password) or xoauth2")
        if auth == "xoauth2" and not parts.username:
            raise ValueError("auth=xoauth2 needs the mailbox as user name, e.g. "
                             "smtp://nyhetsbrev%40kommun.se@smtp.office365.com:587?auth=xoauth2")
        return cls(
            host=parts.hostname,
            port=port or (465 if implicit else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=implicit,
            starttls=cast(StartTLS, starttls),  # checked just above
            validate_certs=verify,
            weight=weight,
            rate_per_second=per_second,
            rate_per_hour=per_hour,
            auth=auth,  # type: ignore[arg-type]
        )

    @classmethod
    def parse_many(cls, value: str) -> list[SmtpUrl]:
        """One or more URLs separated by spaces, commas or new lines (MAILER_SMTP_URL)."""
        urls = [u for u in re.split(r"[\s,]+", value.strip()) if u]
        if not urls:
            raise ValueError("no SMTP server given (example: smtp://localhost:25)")
        out = []
        for i, u in enumerate(urls, 1):
            try:
                out.append(cls.parse(u))
            except ValueError as exc:
                which = f"server {i} ({u.split('@')[-1]})" if len(urls) > 1 else ""
                raise ValueError(f"{which}: {exc}" if which else str(exc)) from None
        keys = [u.key for u in out]
        dup = {k for k in keys if keys.count(k) > 1}
        if dup:
            raise ValueError(f"server {', '.join(sorted(dup))} is listed twice")
        return out

    def redacted(self) -> str:
        scheme = "smtps" if self.use_tls else "smtp"
        auth = f"{self.username}:***@" if self.username else ""
        return f"{scheme}://{auth}{self.host}:{self.port}"


def _number(query: dict[str, str], name: str, whole: bool = False) -> float | None:
    """An optional numeric URL option (``weight=2``), None when absent."""
    if name not in query:
        return None
    try:
        return float(int(query[name]) if whole else float(query[name]))
    except ValueError:
        kind = "a whole number" if whole else "a number"
        raise ValueError(f"{name} must be {kind}, got {query[name]!r}") from None


@dataclass(frozen=True, slots=True)
class Sender:
    """The From address and display name, parsed from MAILER_FROM."""

    address: str
    name: str = ""

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]

    def formatted(self) -> str:
        return formataddr((self.name, self.address)) if self.name else self.address


def parse_sender(value: str) -> Sender:
    """``"Name <address>"`` or ``address`` as a Sender; ValueError says what is wrong."""
    if "\r" in value or "\n" in value:
        raise ValueError("must be on one line")
    name, addr = parseaddr(value)
    if not addr:
        raise ValueError('expected "Name <address@example.org>" or "address@example.org"')
    try:
        normal = validate_email(addr, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"{addr!r} is not a valid e-mail address: {exc}") from None
    return Sender(address=normal, name=name.strip())


def _brand_addresses(brand: Brand, table: str) -> None:
    """A brand's From and Reply-To must be addresses (the key named when not)."""
    for key in ("from_address", "reply_to"):
        value = getattr(brand, key)
        if value:
            try:
                parse_sender(value)
            except ValueError as exc:
                raise ValueError(f"{table} {key} = {value!r}: {exc}") from None


def _brand_dkim(brand: Brand, table: str) -> None:
    """A brand's DKIM selector and domain are well formed; a key file needs a selector."""
    if brand.dkim_selector and not _SELECTOR.fullmatch(brand.dkim_selector):
        raise ValueError(f"{table} dkim_selector = {brand.dkim_selector!r}: a DKIM selector "
                         "is letters, digits, '-', '_' and '.', e.g. natverk2026")
    domain = brand.dkim_domain.strip().lower().rstrip(".")
    if domain and not _DOMAIN.fullmatch(domain):
        raise ValueError(f"{table} dkim_domain = {brand.dkim_domain!r}: must be a domain name "
                         "such as natverk.example.org")
    if (brand.dkim_key_file or brand.dkim_domain) and not brand.dkim_selector:
        raise ValueError(f"{table}: dkim_key_file and dkim_domain need dkim_selector too "
                         "(create a key with 'mailer dkim keygen --selector S --brand NAME')")


class Settings(BaseSettings):
    """Every setting, from MAILER_* environment variables and ``mailer.toml``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", validate_default=True, case_sensitive=False
    )

    workspace: Path = Field(default_factory=Path.cwd)
    database_url: str = ""
    smtp_url: str = "smtp://127.0.0.1:2525"
    smtp_connections: int = Field(default=4, ge=1, le=64)
    smtp_recycle_after: int = Field(default=1000, ge=1)
    smtp_timeout: float = Field(default=60.0, gt=0)
    rate_per_second: float = Field(default=0.0, ge=0)  # 0 = unlimited
    rate_per_hour: int = Field(default=0, ge=0)  # 0 = unlimited
    max_attempts: int = Field(default=8, ge=1, le=50)
    from_: str = Field(default="Nyhetsbrev <nyhetsbrev@example.org>", alias="MAILER_FROM")
    reply_to: str = ""
    base_url: str = "http://127.0.0.1:8000"
    secret_key: str = ""
    timezone: str = "Europe/Stockholm"
    language: Literal["sv", "en"] = "sv"
    misfire_grace_seconds: int = Field(default=3600, ge=0)
    remote_fonts: bool = False
    demo: bool = False
    # --- deliverability (DKIM, bounces, complaints, suppression) ---
    dkim_selector: str = ""  # empty: mailer does not sign (the relay may)
    dkim_key_file: str = ""  # default: dkim/<selector>.pem in the workspace
    dkim_domain: str = ""  # default: the From domain
    dkim_ed25519_selector: str = ""  # a second, Ed25519 signature (dual signing)
    dkim_ed25519_key_file: str = ""
    # Sign in a helper process (auto: when the worker may use more than one CPU).
    dkim_process: Literal["auto", "on", "off"] = "auto"
    bounce_address: str = ""  # VERP envelope sender base, e.g. bounces@news.example.org
    inbox: str = ""  # Maildir, mbox, .eml folder or imaps://user:pass@host/INBOX
    inbox_interval_minutes: int = Field(default=5, ge=1, le=1440)
    soft_bounce_limit: int = Field(default=3, ge=1, le=100)
    soft_bounce_days: int = Field(default=30, ge=1, le=365)
    policy_backoff_seconds: float = Field(default=60.0, ge=0, le=3600)
    # --- webhooks ---
    webhook_timeout: float = Field(default=10.0, gt=0, le=120)  # seconds per POST
    webhook_concurrency: int = Field(default=4, ge=1, le=64)  # POSTs in flight per worker
    webhook_retry_base_seconds: float = Field(default=30.0, gt=0)  # first retry after ~this
    webhook_retry_cap_seconds: float = Field(default=6 * 3600.0, gt=0)  # longest wait
    webhook_disable_after_days: float = Field(default=5.0, gt=0)  # failing this long: off
    # Delivered events (their payload holds names and addresses), their deliveries and
    # attempts are deleted this many days after delivery; 0 keeps them for ever.
    webhook_keep_days: int = Field(default=30, ge=0, le=3650)
    # --- send windows ---
    # When newsletters, invitations and reminders may land ("Mon-Fri 08:00-17:00" in
    # ``timezone``, Swedish public holidays closed); "" = any time. A mailing may set its own.
    send_window: str = ""
    # --- SMTP: OAuth2 (XOAUTH2) tokens, several servers ---
    # Microsoft 365 client-credentials flow (msal): tenant, app (client) id and a secret
    # or a certificate (PEM with the private key) and its SHA-1 thumbprint.
    smtp_oauth_tenant: str = ""
    smtp_oauth_client_id: str = ""
    smtp_oauth_client_secret: str = ""
    smtp_oauth_certificate: str = ""
    smtp_oauth_thumbprint: str = ""
    smtp_oauth_scope: str = "https://outlook.office365.com/.default"
    smtp_oauth_authority: str = "https://login.microsoftonline.com"
    smtp_oauth_ca_file: str = ""  # extra CA bundle for the token endpoint (tests, proxies)
    # Any other provider: a command that prints an access token (optionally JSON with
    # access_token and expires_in), run again before the token expires.
    smtp_token_command: str = ""
    # A CA bundle to trust for the SMTP servers' certificates instead of the system's
    # (a relay with a certificate from the organisation's own CA).
    smtp_ca_file: str = ""
    smtp_rest_seconds: float = Field(default=30.0, gt=0)  # first rest of a failing server
    smtp_rest_max_seconds: float = Field(default=900.0, gt=0)
    # --- secret key: workspace file, rotation ---
    # Earlier keys, comma-separated: links signed with them keep working (the newest key,
    # MAILER_SECRET_KEY or the last line of .mailer-secret, signs new links).
    old_secret_keys: str = ""
    # --- reminders at a sensible hour ---
    # Local time of day for reminders in days before a deadline given as a date (23:59);
    # an invitation's own reminder_time: wins.
    reminder_time: str = "09:00"
    # --- branding ---
    brand: Brand = Brand()  # [brand] in mailer.toml: name, logo, colour, footer_address…
    brands: dict[str, Brand] = {}  # [brands.<name>]: one per newsletter; issues say brand:
    # --- hardening (issue 13) ---
    max_upload_mb: int = Field(default=100, ge=1, le=10_000)  # admin CSV uploads
    # Public sign-up requests (the form, its POST, the thanks page) at work at once in one
    # `mailer serve`; the rest queue in order (mailer/web/admission.py), so a crowd of
    # sign-ups cannot starve the one-click.
    signup_concurrency: int = Field(default=4, ge=1, le=1000)
    # Server-Timing on every web response: where its time went (load tests, diagnosis).
    server_timing: bool = False
    # --- click statistics ---
    # Off: tracked mailings count clicks per link and distinct clicking copies, never who.
    # On: also who clicked what (the preferences page then says so to every subscriber).
    click_tracking_per_person: bool = False

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = _workspace_toml()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
        return tuple(sources)

    @field_validator("webhook_retry_cap_seconds")
    @classmethod
    def _webhook_cap(cls, v: float, info: ValidationInfo) -> float:
        base = info.data.get("webhook_retry_base_seconds")
        if base is not None and v < base:
            raise ValueError(f"must be at least MAILER_WEBHOOK_RETRY_BASE_SECONDS ({base:g}); "
                             "raise it or lower the base")
        return v

    @field_validator("smtp_url")
    @classmethod
    def _smtp(cls, v: str) -> str:
        SmtpUrl.parse_many(v)
        return v

    @field_validator("smtp_oauth_certificate")
    @classmethod
    def _oauth_cert(cls, v: str) -> str:
        if v and not Path(v).is_file():
            raise ValueError(f"{v}: no such file; give the PEM file with the certificate and "
                             "its private key, or use MAILER_SMTP_OAUTH_CLIENT_SECRET")
        return v

    @field_validator("smtp_ca_file", "smtp_oauth_ca_file")
    @classmethod
    def _ca_file(cls, v: str) -> str:
        if v and not Path(v).is_file():
            raise ValueError(f"{v}: no such file; give a PEM file with the CA certificate(s)")
        return v

    @field_validator("smtp_oauth_authority")
    @classmethod
    def _oauth_authority(cls, v: str) -> str:
        if not v.startswith("https://"):
            raise ValueError("must be an https:// URL, e.g. https://login.microsoftonline.com")
        return v.rstrip("/")

    @field_validator("from_")
    @classmethod
    def _from(cls, v: str) -> str:
        parse_sender(v)
        return v

    @field_validator("reply_to")
    @classmethod
    def _reply_to(cls, v: str) -> str:
        if v:
            parse_sender(v)
        return v

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL, e.g. https://nyhetsbrev.example.org")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment")
        return v.rstrip("/")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                "unknown time zone; use an IANA name such as Europe/Stockholm"
            ) from None
        return v

    @field_validator("send_window")
    @classmethod
    def _send_window(cls, v: str) -> str:
        from mailer.domain.sendwindow import SendWindow, WindowError

        v = v.strip()
        if v and v.lower() != "off":
            try:
                SendWindow.parse(v)
            except WindowError as exc:
                raise ValueError(f"{exc}; or leave MAILER_SEND_WINDOW empty to send at "
                                 "any time") from None
        return "" if v.lower() == "off" else v

    @field_validator("database_url")
    @classmethod
    def _db(cls, v: str) -> str:
        if v and not v.startswith(("sqlite", "postgresql")):
            raise ValueError(
                "must be sqlite:///path/to/file.db or postgresql://user@host:5432/dbname"
            )
        return v

    @field_validator("secret_key")
    @classmethod
    def _secret(cls, v: str) -> str:
        if v and len(v) < 16:
            raise ValueError("must be at least 16 characters; generate one with "
                             "python -c 'import secrets; print(secrets.token_urlsafe(32))'")
        return v

    @field_validator("dkim_selector", "dkim_ed25519_selector")
    @classmethod
    def _selector(cls, v: str) -> str:
        if v and not _SELECTOR.fullmatch(v):
            raise ValueError("a DKIM selector is letters, digits, '-', '_' and '.', e.g. "
                             "nl2026 (create one with 'mailer dkim keygen --selector nl2026')")
        return v

    @field_validator("dkim_domain")
    @classmethod
    def _dkim_domain(cls, v: str) -> str:
        v = v.strip().lower().rstrip(".")
        if v and not _DOMAIN.fullmatch(v):
            raise ValueError("must be a domain name such as news.example.org")
        return v

    @field_validator("bounce_address")
    @classmethod
    def _bounce(cls, v: str) -> str:
        if not v:
            return v
        sender = parse_sender(v)
        if sender.name or "+" in sender.address.split("@")[0]:
            raise ValueError("must be a plain address without a '+' tag or a name, e.g. "
                             "bounces@news.example.org (mailer adds +<row>-<check> per message)")
        return sender.address

    @field_validator("inbox")
    @classmethod
    def _inbox(cls, v: str) -> str:
        if "://" in v:
            parts = urlsplit(v)
            if parts.scheme not in ("imap", "imaps") or not parts.hostname:
                raise ValueError("must be a Maildir, mbox or folder path, or "
                                 "imaps://user:password@host/INBOX")
        return v

    @field_validator("old_secret_keys")
    @classmethod
    def _old_secrets(cls, v: str) -> str:
        if any(len(k.strip()) < 16 for k in v.split(",") if k.strip()):
            raise ValueError("each old key (comma-separated) must be at least 16 characters; "
                             "list the keys exactly as they were used")
        return v

    @field_validator("reminder_time")
    @classmethod
    def _reminder_time(cls, v: str) -> str:
        from mailer.domain.invitation import parse_time_of_day

        parse_time_of_day(v)  # its ValueError names the way to write it
        return v.strip()

    @field_validator("brands")
    @classmethod
    def _brands(cls, v: dict[str, Brand]) -> dict[str, Brand]:
        for name, brand in v.items():
            if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
                raise ValueError(f"[brands.{name}]: a brand's name is a short name (a-z, 0-9, "
                                 "'-'), e.g. [brands.natverk]")
            _brand_addresses(brand, f"[brands.{name}]")
            _brand_dkim(brand, f"[brands.{name}]")
        return v

    @field_validator("brand")
    @classmethod
    def _brand(cls, v: Brand) -> Brand:
        _brand_addresses(v, "[brand]")
        if v.dkim_selector or v.dkim_key_file or v.dkim_domain:
            raise ValueError("[brand]: the workspace's DKIM key is dkim_selector, "
                             "dkim_key_file and dkim_domain at the top of mailer.toml (or "
                             "MAILER_DKIM_*); dkim_* in a table belong to [brands.<name>]")
        return v

    # --- derived values -------------------------------------------------------------
    def check_brand(self, name: str, where: str) -> str:
        """``name`` if it is a brand of mailer.toml (or ""), else an error naming ``where``
        (the file and field, or the option) and the brands there are."""
        from mailer.domain.findings import msg

        name = name.strip()
        if name and name not in self.brands:
            raise MailerError(msg("%(where)s: brand %(name)r is not in mailer.toml (defined: "
                                  "%(known)s); add a [brands.%(name)s] table or fix the name",
                                  where=where, name=name,
                                  known=", ".join(sorted(self.brands)) or "none"))
        return name

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def smtp(self) -> SmtpUrl:
        """The first (or only) SMTP server."""
        return self.smtp_servers[0]

    @property
    def smtp_servers(self) -> list[SmtpUrl]:
        """Every SMTP server in MAILER_SMTP_URL, with its own limits and weight."""
        return SmtpUrl.parse_many(self.smtp_url)

    def oauth_problem(self) -> str | None:
        """Why an ``auth=xoauth2`` server cannot get a token with these settings, if so."""
        if not any(u.auth == "xoauth2" for u in self.smtp_servers):
            return None
        if self.smtp_token_command:
            return None
        if not (self.smtp_oauth_tenant and self.smtp_oauth_client_id):
            return ("auth=xoauth2 needs MAILER_SMTP_OAUTH_TENANT and MAILER_SMTP_OAUTH_CLIENT_ID "
                    "(Microsoft 365) or MAILER_SMTP_TOKEN_COMMAND (any other provider)")
        if not (self.smtp_oauth_client_secret
                or (self.smtp_oauth_certificate and self.smtp_oauth_thumbprint)):
            return ("auth=xoauth2 needs MAILER_SMTP_OAUTH_CLIENT_SECRET, or "
                    "MAILER_SMTP_OAUTH_CERTIFICATE with MAILER_SMTP_OAUTH_THUMBPRINT")
        return None

    @property
    def sender(self) -> Sender:
        return parse_sender(self.from_)

    @property
    def db_url(self) -> str:
        """The database URL, defaulting to ``mailer.db`` in the workspace."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.workspace / 'mailer.db').resolve()}"

    @property
    def dkim_domain_or_from(self) -> str:
        """The d= domain: MAILER_DKIM_DOMAIN, else the From address's domain."""
        return self.dkim_domain or self.sender.domain.lower()

    def dkim_key_path(self, ed25519: bool = False) -> Path | None:
        """The private key file of the (RSA or Ed25519) selector; None when not signing."""
        selector = self.dkim_ed25519_selector if ed25519 else self.dkim_selector
        if not selector:
            return None
        name = self.dkim_ed25519_key_file if ed25519 else self.dkim_key_file
        path = Path(name) if name else Path("dkim") / f"{selector}.pem"
        return path if path.is_absolute() else self.workspace / path

    def brand_dkim_domain(self, name: str) -> str:
        """The d= domain of brand ``name``'s own key: its dkim_domain, else its From's
        domain (its own, else [brand]'s, else MAILER_FROM's)."""
        brand = self.brands[name]
        if brand.dkim_domain:
            return brand.dkim_domain.strip().lower().rstrip(".")
        return self.brand_from_domain(name)

    def brand_from_domain(self, name: str) -> str:
        """The domain of brand ``name``'s From: its own, else [brand]'s, else MAILER_FROM's
        (the workspace's for "" and for a name mailer.toml does not have)."""
        brand = self.brands.get(name, self.brand)
        raw = brand.from_address or self.brand.from_address or self.from_
        return parse_sender(raw).domain.lower()

    def brand_dkim_path(self, name: str) -> Path | None:
        """The private key file of brand ``name``'s own DKIM key; None when it has none."""
        brand = self.brands.get(name)
        if brand is None or not brand.dkim_selector:
            return None
        path = Path(brand.dkim_key_file or f"dkim/{brand.dkim_selector}.pem")
        return path if path.is_absolute() else self.workspace / path

    def check_dkim_keys(self) -> None:
        """Each brand's own DKIM key file exists (a typo fails at start, not at the first
        copy); a ConfigError names the table, the key and what to run."""
        for name in sorted(self.brands):
            path = self.brand_dkim_path(name)
            if path is None or path.is_file():
                continue
            brand = self.brands[name]
            raise ConfigError(
                f"[brands.{name}] dkim_key_file: {path} does not exist; create the key with "
                f"'mailer dkim keygen --selector {brand.dkim_selector} --domain "
                f"{self.brand_dkim_domain(name)} --brand {name}' (or fix dkim_key_file)")

    @property
    def secret_file(self) -> Path:
        return self.workspace / SECRET_FILE

    def _file_keys(self) -> list[str]:
        """The keys in the workspace's ``.mailer-secret``, oldest first (one a line)."""
        path = self.secret_file
        if self.demo and not path.exists():
            create_secret_file(self.workspace)
        if not path.is_file():
            return []
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the secret key ({exc}); fix its "
                              "permissions or remove it and run 'mailer init'") from None
        keys = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
        short = [i for i, k in enumerate(keys, 1) if len(k) < 16]
        if short:
            raise ConfigError(f"{path}: key {short[0]} is shorter than 16 characters; "
                              "generate keys with 'mailer secret rotate'")
        return keys

    def signing_keys(self) -> list[str]:
        """Every key that verifies links, oldest first; the last one signs new links.

        The newest key is ``MAILER_SECRET_KEY`` (or ``secret_key`` in mailer.toml) when
        set, else the last line of the workspace's ``.mailer-secret`` (``mailer init``
        writes it, mode 0600). Older lines of that file and ``MAILER_OLD_SECRET_KEYS``
        keep verifying, so rotating a key does not break links already mailed.
        """
        old = [k.strip() for k in self.old_secret_keys.split(",") if k.strip()]
        keys = [*old, *self._file_keys()]
        if self.secret_key:
            keys.append(self.secret_key)
        if not keys:
            raise ConfigError(
                "no secret key: it signs the unsubscribe and preference links. Run "
                f"'mailer init' in the workspace (it writes {self.secret_file}, readable by "
                "you only) or set MAILER_SECRET_KEY, e.g. export MAILER_SECRET_KEY="
                "$(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        current = keys[-1]
        return [*dict.fromkeys(k for k in keys if k != current), current]

    def signing_key(self) -> str:
        """The key that signs new links (see ``signing_keys``)."""
        return self.signing_keys()[-1]


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def create_secret_file(workspace: Path) -> bool:
    """Write a new random key to ``workspace/.mailer-secret`` (mode 0600) unless the file
    exists; True when it was created."""
    path = workspace / SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(new_secret() + "\n")
    return True


def rotate_secret_file(workspace: Path) -> int:
    """Add a new key as the last line of ``.mailer-secret`` (created if missing): it signs
    from now on, the earlier lines still verify. Returns how many keys the file holds."""
    path = workspace / SECRET_FILE
    if create_secret_file(workspace):
        return 1
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        if path.read_bytes()[-1:] not in (b"\n", b""):
            f.write("\n")
        f.write(new_secret() + "\n")
    os.chmod(path, 0o600)
    return sum(1 for ln in path.read_text(encoding="utf-8").splitlines()
               if ln.strip() and not ln.lstrip().startswith("#"))


_workspace_for_toml: Path | None = None


def _workspace_toml() -> Path | None:
    ws = _workspace_for_toml or Path(os.environ.get("MAILER_WORKSPACE") or Path.cwd())
    path = ws / "mailer.toml"
    return path if path.is_file() else None


# ``overrides`` are Settings fields of many types, checked by pydantic: hence Any.
def load_settings(workspace: Path | str | None = None, **overrides: Any) -> Settings:
    """Load settings for a workspace, turning validation errors into one clear ConfigError;
    every brand's own DKIM key file must exist."""
    return _load_settings(workspace, overrides, check_dkim_keys=True)


def load_settings_without_keys(workspace: Path | str | None = None,
                               **overrides: Any) -> Settings:
    """``load_settings`` that lets brands' DKIM key files be missing (``mailer dkim
    keygen`` is what creates them)."""
    return _load_settings(workspace, overrides, check_dkim_keys=False)


def _load_settings(workspace: Path | str | None, overrides: dict[str, Any], *,
                   check_dkim_keys: bool) -> Settings:
    global _workspace_for_toml
    ws = Path(workspace or os.environ.get("MAILER_WORKSPACE") or Path.cwd()).resolve()
    if ws.exists() and not ws.is_dir():
        raise ConfigError(f"workspace {ws} is not a directory")
    _workspace_for_toml = ws
    toml = ws / "mailer.toml"
    if toml.is_file():
        try:
            tomllib.loads(toml.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{toml}: not valid TOML: {exc}") from None
    try:
        settings = Settings(workspace=ws, **overrides)
        if check_dkim_keys:
            settings.check_dkim_keys()
        return settings
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = str(err["loc"][0]) if err["loc"] else "?"
            name = "MAILER_FROM" if loc in ("from_", "MAILER_FROM") else ENV_PREFIX + loc.upper()
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                lines.append(_unknown_key([str(x) for x in err["loc"]], toml))
                continue
            if loc in ("brand", "brands") and len(err["loc"]) == 1:
                lines.append(f"{msg} (in {toml})")  # the message names table and key
                continue
            if loc in ("brand", "brands"):
                table = ".".join(str(x) for x in err["loc"][:-1])
                lines.append(f"[{table}] {err['loc'][-1]} in {toml}: {msg}")
                continue
            lines.append(f"{name} (or '{loc.removesuffix('_')}' in mailer.toml): {msg}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None
    finally:
        _workspace_for_toml = None


def _unknown_key(loc: list[str], toml: Path) -> str:
    """A key mailer.toml may not have: where it is, and the nearest one it may."""
    import difflib

    if len(loc) == 1:
        where, known = loc[0], [k.removesuffix("_") for k in Settings.model_fields
                                if k not in ("workspace", "demo", "from_")]
        if loc[0].lower() in ("from", "from_", "sender"):
            return (f"{where} in {toml}: unknown setting; the sender's key keeps its prefix: "
                    'MAILER_FROM = "Name <address@example.org>"')
    else:
        where = f"[{'.'.join(loc[:-1])}] {loc[-1]}"
        known = [k for k in Brand.model_fields  # [brand] has no DKIM key of its own
                 if loc[0] == "brands" or not k.startswith("dkim_")]
    near = difflib.get_close_matches(loc[-1].lower(), known, n=1)
    fix = f"did you mean {near[0]!r}?" if near else "check the spelling"
    if len(loc) > 1:
        fix += f" (a brand's keys: {', '.join(known)})"
    return f"{where} in {toml}: unknown setting; {fix}"


def set_workspace_toml(workspace: Path, values: dict[str, str], *, table: str = "") -> Path:
    """Set string ``values`` in the workspace's ``mailer.toml`` (other lines kept): at its
    top (before the first table, where top-level keys must be) or in ``[table]`` (added
    at the end when the file has none)."""
    import json

    path = workspace / "mailer.toml"
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []

    def header(line: str) -> str | None:
        bare = line.split("#", 1)[0].strip()
        return bare[1:-1].strip() if bare.startswith("[") and bare.endswith("]") else None

    # The section's lines: [begin, end) ("" = the top, up to the first table).
    begin, end = (0, len(lines)) if not table else (-1, -1)
    for i, line in enumerate(lines):
        name = header(line)
        if name is None:
            continue
        if begin >= 0 and end in (-1, len(lines)) and i >= begin:
            end = i
            break
        if table and name == table:
            begin, end = i + 1, len(lines)
    if table and begin < 0:
        lines += ([""] if lines and lines[-1].strip() else []) + [f"[{table}]"]
        begin = end = len(lines)
    todo = dict(values)
    out = lines[:begin]
    for line in lines[begin:end]:
        key = line.split("=", 1)[0].strip()
        if "=" in line and key in todo and not line.lstrip().startswith("#"):
            out.append(f"{key} = {json.dumps(todo.pop(key))}")
        else:
            out.append(line)
    added = [f"{k} = {json.dumps(v)}" for k, v in todo.items()]
    tail = len(out)
    while tail > begin and not out[tail - 1].strip():
        tail -= 1  # new keys go after the section's last line, before its blank lines
    out[tail:tail] = added
    text = "\n".join(out + lines[end:]) + "\n"
    tomllib.loads(text)  # never leave a file the next start cannot read
    path.write_text(text, encoding="utf-8")
    return path
