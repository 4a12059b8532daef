"""Settings from the environment (and an optional `.env`), validated once at start.

`VARIABLES` is the whole contract, one row per environment variable: the variable, the
`Settings` field it fills, its default (taken when it is unset or blank), how its text is read
and what its error message says it must be. `Settings.from_environment` reads the rows in order,
and the first bad value stops start-up with a `ConfigError` that names the variable and says what
to set. Defaults that are the product's policy (poll bounds, send rate, retention, …) live in
`news.policy`.

To add a setting: give `Settings` a field whose default is a constant, then add a row to
`VARIABLES` with the same constant. A row's reader gets the variable's text stripped, never
blank; it raises ValueError for the row's message ("NAME must be <must_be>, got '…'"), or a
`ConfigError` of its own when the message must say something else.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import dotenv_values

from news.errors import ConfigError, SourceError
from news.feeds import is_web_url, parse_sources_text, read_sources_file
from news.policy import MAX_FEED_BYTES, POLL_CEILING, POLL_FLOOR, RETENTION, SEND_LEASE, SEND_RATE
from storage import async_url

DEFAULT_API_URL = "https://api.telegram.org/bot"
DEFAULT_DATABASE_URL = "sqlite:///newsbot.db"
# Health and metrics answer on loopback unless told otherwise: a container sets 0.0.0.0.
DEFAULT_HTTP_LISTEN = "127.0.0.1"
# A century: anything longer is a typo, and keeps everything as 0 does.
MAX_RETENTION_DAYS = 36_500
# Smaller than almost any feed: a lower cap is a typo, and would refuse nearly every source.
MIN_FEED_BYTES = 1024
# Far beyond what parsing keeps busy: more is a typo, and each process costs its own memory.
MAX_PARSE_WORKERS = 64
# Far above any rate Telegram accepts: a larger number is a typo.
MAX_SEND_RATE = 100_000
#: How the bundled sources list is named where a sources file's path would be.
BUNDLED_SOURCES = "the bundled list"
_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
# The webhook server answers a reverse proxy on this machine unless told otherwise: a
# container sets 0.0.0.0 (docker-compose.yml does for its `bot` service).
DEFAULT_WEBHOOK_LISTEN = "127.0.0.1"
# Telegram's own suggestion for webhooks, and apart from the ports people use for other things.
DEFAULT_WEBHOOK_PORT = 8443
# The only ports setWebhook accepts in a public URL (the Bot API's rule).
WEBHOOK_PUBLIC_PORTS = (443, 80, 88, 8443)
# The Bot API's rule for a webhook's secret_token.
_WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
# A path the webhook server can route as it is (PTB matches it as a regular expression).
_WEBHOOK_PATH = re.compile(r"^[A-Za-z0-9/_.~-]*$")


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """Webhook mode: Telegram POSTs each update to `url` (public, HTTPS, usually a reverse
    proxy) with the secret in a header, and the bot's own server takes them on `listen`:`port`
    at the URL's path."""

    url: str
    listen: str = DEFAULT_WEBHOOK_LISTEN
    port: int = DEFAULT_WEBHOOK_PORT
    # None: a random secret is made at every start and given to Telegram (see bot.webhook).
    secret: str | None = None

    @property
    def path(self) -> str:
        """The path the webhook server answers at: the public URL's own, `/` when it has none."""
        return urlsplit(self.url).path or "/"


@dataclass(frozen=True, slots=True)
class Settings:
    """Newsbot's configuration; build it with `Settings.from_environment()`."""

    telegram_bot_token: str | None
    telegram_api_url: str = DEFAULT_API_URL
    database_url: str = DEFAULT_DATABASE_URL
    sources: tuple[str, ...] = ()
    poll_interval: timedelta = POLL_FLOOR
    admins: frozenset[int] = field(default_factory=frozenset)
    poll_ceiling: timedelta = POLL_CEILING
    max_feed_bytes: int = MAX_FEED_BYTES
    allow_private_sources: bool = False
    send_rate: float = SEND_RATE
    send_lease: timedelta = SEND_LEASE
    parse_workers: int = 0
    # The sources file `sources` came from: its absolute path, or BUNDLED_SOURCES.
    sources_file: str = BUNDLED_SOURCES
    # How long stories, finished deliveries and inactive chats are kept; None keeps them all.
    retention: timedelta | None = RETENTION
    # Updates by webhook instead of long polling; None (no NEWSBOT_WEBHOOK_URL): long polling.
    webhook: WebhookSettings | None = None
    # The port of /healthz and /metrics (bot.health); None: no HTTP endpoint.
    http_port: int | None = None
    http_listen: str = DEFAULT_HTTP_LISTEN
    # Read the articles of teaser stories (news.articles.keeping); False: cards as feeds give them.
    fetch_articles: bool = True

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None, *, env_file: Path | None = Path(".env")
    ) -> Settings:
        """Read and validate every setting; variables already set win over `.env`."""
        values: dict[str, str] = {}
        if env_file is not None and env_file.is_file():
            values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        values.update(os.environ if environ is None else environ)
        fields: dict[str, Any] = {row.field: row.parse(values) for row in VARIABLES}
        return cls(**fields)

    def require_token(self) -> str:
        """The bot token, or a `ConfigError` telling the user how to get one and set it."""
        if not self.telegram_bot_token:
            raise ConfigError(
                "TELEGRAM_BOT_TOKEN is not set. Create a bot with @BotFather in Telegram, then "
                "run: TELEGRAM_BOT_TOKEN=<token> make run (or put it in a .env file)."
            )
        return self.telegram_bot_token


@dataclass(frozen=True, slots=True)
class _Variable:
    """One environment variable and the `Settings` field it fills."""

    name: str
    field: str
    # A function is called for the default: the bundled sources are read only when needed.
    default: Any
    read: Callable[[str], Any]
    must_be: str = ""
    # Quote at most this many characters of a refused value: enough to spot the mistake.
    quote: int | None = None

    def parse(self, values: Mapping[str, str]) -> Any:
        text = values.get(self.name, "").strip()
        if not text:
            return self.default() if callable(self.default) else self.default
        try:
            return self.read(text)
        except ValueError:
            got = text[: self.quote]
            raise ConfigError(f"{self.name} must be {self.must_be}, got {got!r}") from None


def _whole(text: str) -> bool:
    """ASCII digits only: "²" and "١" are digits to `str.isdigit`, and not what was meant."""
    return text.isascii() and text.isdecimal() and len(text) <= 18


def _count(text: str, low: int = 0, high: int | None = None) -> int:
    if not _whole(text) or int(text) < low or (high is not None and int(text) > high):
        raise ValueError(text)
    return int(text)


_SECONDS = "a whole number of seconds, at least 1"


def _seconds(text: str) -> timedelta:
    return timedelta(seconds=_count(text, low=1))


def _retention(text: str) -> timedelta | None:
    days = _count(text, high=MAX_RETENTION_DAYS)
    return timedelta(days=days) if days else None


_port = partial(_count, low=1, high=65535)
_PORT = "a TCP port from 1 to 65535"


def _flag(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(text)


def _web_url(text: str) -> str:
    if not is_web_url(text):
        raise ValueError(text)
    return text


def _ip_address(text: str) -> str:
    return str(ipaddress.ip_address(text))


def _token(text: str) -> str:
    # Never quoted: a near-miss is most of a secret.
    if not _TOKEN.match(text):
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN does not look like a bot token (digits, a colon, then letters, "
            "digits, - or _), as @BotFather gives it."
        )
    return text


def _database_url(text: str) -> str:
    try:
        async_url(text)
    except ConfigError as error:
        raise ConfigError(
            f"{error} (examples: {DEFAULT_DATABASE_URL}, postgresql://user@localhost/newsbot)"
        ) from error
    return text


def _bundled_sources() -> tuple[str, ...]:
    bundled = resources.files("bot").joinpath("default_sources.txt").read_text("utf-8")
    return tuple(parse_sources_text(bundled, origin="bundled sources"))


def _sources(text: str) -> tuple[str, ...]:
    try:
        return tuple(read_sources_file(Path(text).expanduser()))
    except SourceError as error:
        raise ConfigError(f"NEWSBOT_SOURCES: {error}") from error


def _sources_file(text: str) -> str:
    return str(Path(text).expanduser().resolve())


def _admins(text: str) -> frozenset[int]:
    admins = set()
    for item in filter(None, (part.strip() for part in text.split(","))):
        if not _whole(item.removeprefix("-")):
            raise ConfigError(
                f"NEWSBOT_ADMINS must be Telegram user ids separated by commas, got {item!r}"
            )
        admins.add(int(item))
    return frozenset(admins)


def _send_rate(text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        rate = 0.0
    if not 0 < rate <= MAX_SEND_RATE:
        raise ConfigError(
            f"NEWSBOT_SEND_RATE must be messages per second, a number above 0, got {text!r} "
            f"(Telegram allows about 30 per second to a bot; the default is {SEND_RATE:g})"
        )
    return rate


def _webhook_secret(text: str) -> str:
    if not _WEBHOOK_SECRET.match(text):
        # The value is a secret: say what is wrong with it, never what it is.
        problem = f"it has {len(text)} characters" if len(text) > 256 else "it has other characters"
        raise ConfigError(
            "NEWSBOT_WEBHOOK_SECRET must be 1 to 256 characters, each a letter A-Z or a-z, a "
            f"digit, _ or - (Telegram's rule for a webhook's secret token); {problem}. Unset, "
            "a random one is made at every start"
        )
    return text


def _webhook_url(url: str, token: str | None) -> str:
    example = "https://bot.example.org/telegram"
    # Never echoed when it holds the token: this message is printed and may be logged.
    if token and token.strip() and token.strip().lower() in url.lower():
        raise ConfigError(
            "NEWSBOT_WEBHOOK_URL must not contain the bot token (the URL is shown by "
            f"getWebhookInfo and in proxy logs); use a plain path such as {example}"
        )
    try:
        parts = urlsplit(url)
        port = parts.port or 443
    except ValueError:
        parts, port = urlsplit(""), 0
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigError(
            f"NEWSBOT_WEBHOOK_URL must be the public https:// URL Telegram posts updates to "
            f"(Telegram delivers to HTTPS only), such as {example}, got {url[:200]!r}"
        )
    if port not in WEBHOOK_PUBLIC_PORTS:
        ports = ", ".join(map(str, WEBHOOK_PUBLIC_PORTS))
        raise ConfigError(
            f"NEWSBOT_WEBHOOK_URL must use one of the ports Telegram delivers to ({ports}), "
            f"got {url[:200]!r}; the bot itself may listen on any NEWSBOT_WEBHOOK_PORT"
        )
    if parts.query or parts.fragment or not _WEBHOOK_PATH.match(parts.path):
        raise ConfigError(
            "NEWSBOT_WEBHOOK_URL must have a plain path (letters, digits, / _ . ~ -) and no "
            f"?query or #fragment, such as {example}, got {url[:200]!r}"
        )
    return url


@dataclass(frozen=True, slots=True)
class _Webhook:
    """NEWSBOT_WEBHOOK_* into one `WebhookSettings`; each is checked even while
    NEWSBOT_WEBHOOK_URL is unset, and the URL is checked against the bot token."""

    field: str
    parts: tuple[_Variable, ...]

    def parse(self, values: Mapping[str, str]) -> WebhookSettings | None:
        listen, port, secret = (part.parse(values) for part in self.parts)
        url = values.get("NEWSBOT_WEBHOOK_URL", "").strip()
        if not url:
            return None
        return WebhookSettings(
            _webhook_url(url, values.get("TELEGRAM_BOT_TOKEN")), listen, port, secret
        )


_LISTEN = "an IP address to listen on, such as"

#: Every variable, in the order they are checked: the first bad one is the one reported.
# fmt: off
VARIABLES: tuple[_Variable | _Webhook, ...] = (
    _Variable("TELEGRAM_BOT_TOKEN", "telegram_bot_token", None, _token),
    _Variable("TELEGRAM_API_URL", "telegram_api_url", DEFAULT_API_URL, _web_url,
              f"an http(s) URL such as {DEFAULT_API_URL}"),
    _Variable("DATABASE_URL", "database_url", DEFAULT_DATABASE_URL, _database_url),
    _Variable("NEWSBOT_SOURCES", "sources", _bundled_sources, _sources),
    _Variable("NEWSBOT_SOURCES", "sources_file", BUNDLED_SOURCES, _sources_file),
    _Variable("NEWSBOT_POLL_INTERVAL", "poll_interval", POLL_FLOOR, _seconds, _SECONDS),
    _Variable("NEWSBOT_ADMINS", "admins", frozenset(), _admins),
    _Variable("NEWSBOT_POLL_CEILING", "poll_ceiling", POLL_CEILING, _seconds, _SECONDS),
    _Variable("NEWSBOT_MAX_FEED_BYTES", "max_feed_bytes", MAX_FEED_BYTES,
              partial(_count, low=MIN_FEED_BYTES),
              f"a whole number of bytes, at least {MIN_FEED_BYTES} (default {MAX_FEED_BYTES})"),
    _Variable("NEWSBOT_ALLOW_PRIVATE_SOURCES", "allow_private_sources", False, _flag,
              "1 or 0 (true or false)"),
    _Variable("NEWSBOT_SEND_RATE", "send_rate", SEND_RATE, _send_rate),
    _Variable("NEWSBOT_PARSE_WORKERS", "parse_workers", 0, partial(_count, high=MAX_PARSE_WORKERS),
              f"a number of processes from 0 (parse in a thread) to {MAX_PARSE_WORKERS}"),
    _Variable("NEWSBOT_SEND_LEASE", "send_lease", SEND_LEASE, _seconds, _SECONDS),
    _Variable("NEWSBOT_RETENTION_DAYS", "retention", RETENTION, _retention,
              f"a whole number of days from 0 (keep everything) to {MAX_RETENTION_DAYS} "
              f"(default {RETENTION.days})", quote=40),
    _Webhook("webhook", (
        _Variable("NEWSBOT_WEBHOOK_LISTEN", "listen", DEFAULT_WEBHOOK_LISTEN, _ip_address,
                  f"{_LISTEN} {DEFAULT_WEBHOOK_LISTEN} (the default, behind a reverse proxy), "
                  "0.0.0.0 or ::", quote=60),
        _Variable("NEWSBOT_WEBHOOK_PORT", "port", DEFAULT_WEBHOOK_PORT, _port,
                  f"{_PORT} (default {DEFAULT_WEBHOOK_PORT})", quote=40),
        _Variable("NEWSBOT_WEBHOOK_SECRET", "secret", None, _webhook_secret),
    )),
    _Variable("NEWSBOT_HTTP_PORT", "http_port", None, _port,
              f"{_PORT} (for /healthz and /metrics; unset: no HTTP endpoint)", quote=40),
    _Variable("NEWSBOT_HTTP_LISTEN", "http_listen", DEFAULT_HTTP_LISTEN, _ip_address,
              f"{_LISTEN} {DEFAULT_HTTP_LISTEN} (the default) or 0.0.0.0 (every interface, as "
              "in a container)", quote=60),
    _Variable("NEWSBOT_FETCH_ARTICLES", "fetch_articles", True, _flag,
              "1 or 0 (true or false; 0 reads no story's web page)"),
)
# fmt: on
