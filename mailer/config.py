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

from mailer.errors import ConfigError

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
        unknown = set(query) - {"starttls", "verify"}
        if unknown:
            raise ValueError(
                f"unknown option(s) {', '.join(sorted(unknown))}; known: starttls, verify"
            )
        starttls = query.get("starttls", "off" if implicit else "auto").lower()
        starttls = {"true": "required", "yes": "required", "1": "required",
                    "false": "off", "no": "off", "0": "off"}.get(starttls, starttls)
        if starttls not in ("auto", "required", "off"):
            raise ValueError("starttls must be one of auto, required, off")
        verify = query.get("verify", "true").lower() not in ("false", "no", "0", "off")
        return cls(
            host=parts.hostname,
            port=port or (465 if implicit else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=implicit,
            starttls=cast(StartTLS, starttls),  # checked just above
            validate_certs=verify,
        )

    def redacted(self) -> str:
        scheme = "smtps" if self.use_tls else "smtp"
        auth = f"{self.username}:***@" if self.username else ""
        return f"{scheme}://{auth}{self.host}:{self.port}"


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


def _parse_sender(value: str) -> Sender:
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
        SmtpUrl.parse(v)
        return v

    @field_validator("from_")
    @classmethod
    def _from(cls, v: str) -> str:
        _parse_sender(v)
        return v

    @field_validator("reply_to")
    @classmethod
    def _reply_to(cls, v: str) -> str:
        if v:
            _parse_sender(v)
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
        sender = _parse_sender(v)
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

    # --- derived values -------------------------------------------------------------
    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def smtp(self) -> SmtpUrl:
        return SmtpUrl.parse(self.smtp_url)

    @property
    def sender(self) -> Sender:
        return _parse_sender(self.from_)

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

    def signing_key(self) -> str:
        """The key that signs links; demo workspaces get a random one kept beside the DB."""
        if self.secret_key:
            return self.secret_key
        path = self.workspace / SECRET_FILE
        if self.demo:
            if not path.exists():
                path.write_text(secrets.token_urlsafe(32))
                path.chmod(0o600)
            return path.read_text().strip()
        raise ConfigError(
            "MAILER_SECRET_KEY is not set: it signs the unsubscribe and preference links. "
            "Set it in the environment (not in a committed file), e.g. "
            "export MAILER_SECRET_KEY="
            "$(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )


_workspace_for_toml: Path | None = None


def _workspace_toml() -> Path | None:
    ws = _workspace_for_toml or Path(os.environ.get("MAILER_WORKSPACE") or Path.cwd())
    path = ws / "mailer.toml"
    return path if path.is_file() else None


# ``overrides`` are Settings fields of many types, checked by pydantic: hence Any.
def load_settings(workspace: Path | str | None = None, **overrides: Any) -> Settings:
    """Load settings for a workspace, turning validation errors into one clear ConfigError."""
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
        return Settings(workspace=ws, **overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = str(err["loc"][0]) if err["loc"] else "?"
            name = "MAILER_FROM" if loc in ("from_", "MAILER_FROM") else ENV_PREFIX + loc.upper()
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = f"unknown setting {loc!r} in {toml}; check the spelling"
                name = loc
            lines.append(f"{name} (or '{loc.removesuffix('_')}' in mailer.toml): {msg}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None
    finally:
        _workspace_for_toml = None


def set_workspace_toml(workspace: Path, values: dict[str, str]) -> Path:
    """Set string ``values`` in the workspace's ``mailer.toml`` (other lines kept)."""
    import json

    path = workspace / "mailer.toml"
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    todo = dict(values)
    out = []
    for line in lines:
        key = line.split("=", 1)[0].strip()
        if "=" in line and key in todo and not line.lstrip().startswith("#"):
            out.append(f"{key} = {json.dumps(todo.pop(key))}")
        else:
            out.append(line)
    out += [f"{k} = {json.dumps(v)}" for k, v in todo.items()]
    text = "\n".join(out) + "\n"
    tomllib.loads(text)  # never leave a file the next start cannot read
    path.write_text(text, encoding="utf-8")
    return path
