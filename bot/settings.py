"""Settings from the environment (and an optional `.env`), validated once at start.

A bad value stops start-up with a `ConfigError` that names the variable and says what to set.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

from news.errors import ConfigError, SourceError
from news.policy import SEND_LEASE
from news.sources import parse_sources_text, read_sources_file
from news.text import is_web_url
from storage import async_url

DEFAULT_API_URL = "https://api.telegram.org/bot"
DEFAULT_DATABASE_URL = "sqlite:///newsbot.db"
DEFAULT_POLL_INTERVAL = 300
DEFAULT_POLL_CEILING = 3600
DEFAULT_MAX_FEED_BYTES = 10 * 1024 * 1024
DEFAULT_SEND_RATE = 25.0
DEFAULT_SEND_LEASE = int(SEND_LEASE.total_seconds())
DEFAULT_RETENTION_DAYS = 90
# Health and metrics answer on loopback unless told otherwise: a container sets 0.0.0.0.
DEFAULT_HTTP_LISTEN = "127.0.0.1"
# A century: anything longer is a typo, and keeps everything as 0 does.
MAX_RETENTION_DAYS = 36_500
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
    poll_interval: timedelta = timedelta(seconds=DEFAULT_POLL_INTERVAL)
    admins: frozenset[int] = field(default_factory=frozenset)
    poll_ceiling: timedelta = timedelta(seconds=DEFAULT_POLL_CEILING)
    max_feed_bytes: int = DEFAULT_MAX_FEED_BYTES
    allow_private_sources: bool = False
    send_rate: float = DEFAULT_SEND_RATE
    send_lease: timedelta = timedelta(seconds=DEFAULT_SEND_LEASE)
    parse_workers: int = 0
    # The sources file `sources` came from: its absolute path, or BUNDLED_SOURCES.
    sources_file: str = BUNDLED_SOURCES
    # How long stories, finished deliveries and inactive chats are kept; None keeps them all.
    retention: timedelta | None = timedelta(days=DEFAULT_RETENTION_DAYS)
    # Updates by webhook instead of long polling; None (no NEWSBOT_WEBHOOK_URL): long polling.
    webhook: WebhookSettings | None = None
    # The port of /healthz and /metrics (bot.health); None: no HTTP endpoint.
    http_port: int | None = None
    http_listen: str = DEFAULT_HTTP_LISTEN

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None, *, env_file: Path | None = Path(".env")
    ) -> Settings:
        """Read and validate every setting; variables already set win over `.env`."""
        values: dict[str, str] = {}
        if env_file is not None and env_file.is_file():
            values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        values.update(os.environ if environ is None else environ)
        return cls(
            telegram_bot_token=_token(values.get("TELEGRAM_BOT_TOKEN")),
            telegram_api_url=_api_url(values.get("TELEGRAM_API_URL")),
            database_url=_database_url(values.get("DATABASE_URL")),
            sources=_sources(values.get("NEWSBOT_SOURCES")),
            sources_file=_sources_file(values.get("NEWSBOT_SOURCES")),
            poll_interval=_poll_interval(values.get("NEWSBOT_POLL_INTERVAL")),
            admins=_admins(values.get("NEWSBOT_ADMINS")),
            poll_ceiling=_seconds(
                "NEWSBOT_POLL_CEILING", values.get("NEWSBOT_POLL_CEILING"), DEFAULT_POLL_CEILING
            ),
            max_feed_bytes=_max_feed_bytes(values.get("NEWSBOT_MAX_FEED_BYTES")),
            allow_private_sources=_flag(
                "NEWSBOT_ALLOW_PRIVATE_SOURCES", values.get("NEWSBOT_ALLOW_PRIVATE_SOURCES")
            ),
            send_rate=_send_rate(values.get("NEWSBOT_SEND_RATE")),
            parse_workers=_parse_workers(values.get("NEWSBOT_PARSE_WORKERS")),
            send_lease=_seconds(
                "NEWSBOT_SEND_LEASE", values.get("NEWSBOT_SEND_LEASE"), DEFAULT_SEND_LEASE
            ),
            retention=_retention(values.get("NEWSBOT_RETENTION_DAYS")),
            webhook=_webhook(values),
            http_port=_port(
                "NEWSBOT_HTTP_PORT",
                values.get("NEWSBOT_HTTP_PORT"),
                "for /healthz and /metrics; unset: no HTTP endpoint",
            ),
            http_listen=_listen_address(
                "NEWSBOT_HTTP_LISTEN",
                values.get("NEWSBOT_HTTP_LISTEN"),
                DEFAULT_HTTP_LISTEN,
                f"{DEFAULT_HTTP_LISTEN} (the default) or 0.0.0.0 (every interface, as in a "
                "container)",
            ),
        )

    def require_token(self) -> str:
        """The bot token, or a `ConfigError` telling the user how to get one and set it."""
        if not self.telegram_bot_token:
            raise ConfigError(
                "TELEGRAM_BOT_TOKEN is not set. Create a bot with @BotFather in Telegram, then "
                "run: TELEGRAM_BOT_TOKEN=<token> make run (or put it in a .env file)."
            )
        return self.telegram_bot_token


def _blank(value: str | None) -> bool:
    return value is None or not value.strip()


def _token(value: str | None) -> str | None:
    if _blank(value):
        return None
    assert value is not None
    token = value.strip()
    if not _TOKEN.match(token):
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN does not look like a bot token (digits, a colon, then letters, "
            "digits, - or _), as @BotFather gives it."
        )
    return token


def _api_url(value: str | None) -> str:
    if _blank(value):
        return DEFAULT_API_URL
    assert value is not None
    url = value.strip()
    if not is_web_url(url):
        raise ConfigError(
            f"TELEGRAM_API_URL must be an http(s) URL such as {DEFAULT_API_URL}, got {url!r}"
        )
    return url


def _database_url(value: str | None) -> str:
    url = DEFAULT_DATABASE_URL if _blank(value) else str(value).strip()
    try:
        async_url(url)
    except ConfigError as error:
        raise ConfigError(
            f"{error} (examples: {DEFAULT_DATABASE_URL}, postgresql://user@localhost/newsbot)"
        ) from error
    return url


def _sources(value: str | None) -> tuple[str, ...]:
    try:
        if _blank(value):
            bundled = resources.files("bot").joinpath("default_sources.txt").read_text("utf-8")
            return tuple(parse_sources_text(bundled, origin="bundled sources"))
        assert value is not None
        return tuple(read_sources_file(Path(value.strip()).expanduser()))
    except SourceError as error:
        raise ConfigError(f"NEWSBOT_SOURCES: {error}") from error


def _sources_file(value: str | None) -> str:
    if _blank(value):
        return BUNDLED_SOURCES
    assert value is not None
    return str(Path(value.strip()).expanduser().resolve())


def _whole(text: str) -> bool:
    """ASCII digits only: "²" and "١" are digits to `str.isdigit`, and not what was meant."""
    return text.isascii() and text.isdecimal() and len(text) <= 18


def _retention(value: str | None) -> timedelta | None:
    if _blank(value):
        return timedelta(days=DEFAULT_RETENTION_DAYS)
    assert value is not None
    text = value.strip()
    if not _whole(text) or int(text) > MAX_RETENTION_DAYS:
        raise ConfigError(
            f"NEWSBOT_RETENTION_DAYS must be a whole number of days from 0 (keep everything) to "
            f"{MAX_RETENTION_DAYS} (default {DEFAULT_RETENTION_DAYS}), got {text[:40]!r}"
        )
    return timedelta(days=int(text)) if int(text) else None


def _poll_interval(value: str | None) -> timedelta:
    if _blank(value):
        return timedelta(seconds=DEFAULT_POLL_INTERVAL)
    assert value is not None
    text = value.strip()
    if not _whole(text) or int(text) < 1:
        raise ConfigError(
            f"NEWSBOT_POLL_INTERVAL must be a whole number of seconds, at least 1, got {text!r}"
        )
    return timedelta(seconds=int(text))


def _admins(value: str | None) -> frozenset[int]:
    if _blank(value):
        return frozenset()
    assert value is not None
    admins = set()
    for part in value.split(","):
        item = part.strip()
        if not item:
            continue
        if not _whole(item.removeprefix("-")):
            raise ConfigError(
                f"NEWSBOT_ADMINS must be Telegram user ids separated by commas, got {item!r}"
            )
        admins.add(int(item))
    return frozenset(admins)


def _seconds(name: str, value: str | None, default: int) -> timedelta:
    if _blank(value):
        return timedelta(seconds=default)
    assert value is not None
    text = value.strip()
    if not _whole(text) or int(text) < 1:
        raise ConfigError(f"{name} must be a whole number of seconds, at least 1, got {text!r}")
    return timedelta(seconds=int(text))


def _max_feed_bytes(value: str | None) -> int:
    if _blank(value):
        return DEFAULT_MAX_FEED_BYTES
    assert value is not None
    text = value.strip()
    if not _whole(text) or int(text) < 1024:
        raise ConfigError(
            f"NEWSBOT_MAX_FEED_BYTES must be a whole number of bytes, at least 1024 "
            f"(default {DEFAULT_MAX_FEED_BYTES}), got {text!r}"
        )
    return int(text)


def _flag(name: str, value: str | None) -> bool:
    if _blank(value):
        return False
    assert value is not None
    text = value.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be 1 or 0 (true or false), got {value.strip()!r}")


def _send_rate(value: str | None) -> float:
    if _blank(value):
        return DEFAULT_SEND_RATE
    assert value is not None
    try:
        rate = float(value.strip())
    except ValueError:
        rate = 0.0
    if not 0 < rate <= 100_000:
        raise ConfigError(
            f"NEWSBOT_SEND_RATE must be messages per second, a number above 0, got {value!r} "
            "(Telegram allows about 30 per second to a bot; the default is 25)"
        )
    return rate


def _parse_workers(value: str | None) -> int:
    if _blank(value):
        return 0
    assert value is not None
    text = value.strip()
    if not _whole(text) or int(text) > 64:
        raise ConfigError(
            f"NEWSBOT_PARSE_WORKERS must be a number of processes from 0 (parse in a thread) "
            f"to 64, got {text!r}"
        )
    return int(text)


def _webhook(values: Mapping[str, str]) -> WebhookSettings | None:
    """NEWSBOT_WEBHOOK_*; each is checked even while NEWSBOT_WEBHOOK_URL is unset."""
    listen = _listen_address(
        "NEWSBOT_WEBHOOK_LISTEN",
        values.get("NEWSBOT_WEBHOOK_LISTEN"),
        DEFAULT_WEBHOOK_LISTEN,
        f"{DEFAULT_WEBHOOK_LISTEN} (the default, behind a reverse proxy), 0.0.0.0 or ::",
    )
    port = _port(
        "NEWSBOT_WEBHOOK_PORT",
        values.get("NEWSBOT_WEBHOOK_PORT"),
        f"default {DEFAULT_WEBHOOK_PORT}",
    )
    secret = _webhook_secret(values.get("NEWSBOT_WEBHOOK_SECRET"))
    url = values.get("NEWSBOT_WEBHOOK_URL")
    if url is None or _blank(url):
        return None
    return WebhookSettings(
        _webhook_url(url.strip(), values.get("TELEGRAM_BOT_TOKEN")),
        listen,
        DEFAULT_WEBHOOK_PORT if port is None else port,
        secret,
    )


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


def _listen_address(variable: str, value: str | None, default: str, examples: str) -> str:
    """An IP address a server listens on; `examples` says which and what the default is."""
    if value is None or _blank(value):
        return default
    text = value.strip()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ConfigError(
            f"{variable} must be an IP address to listen on, such as {examples}, got {text[:60]!r}"
        ) from None


def _port(variable: str, value: str | None, unset: str) -> int | None:
    """A TCP port, None when unset; `unset` says what leaving it unset means."""
    if value is None or _blank(value):
        return None
    text = value.strip()
    if not _whole(text) or not 1 <= int(text) <= 65535:
        raise ConfigError(
            f"{variable} must be a TCP port from 1 to 65535 ({unset}), got {text[:40]!r}"
        )
    return int(text)


def _webhook_secret(value: str | None) -> str | None:
    if value is None or _blank(value):
        return None
    text = value.strip()
    if not _WEBHOOK_SECRET.match(text):
        # The value is a secret: say what is wrong with it, never what it is.
        problem = f"it has {len(text)} characters" if len(text) > 256 else "it has other characters"
        raise ConfigError(
            "NEWSBOT_WEBHOOK_SECRET must be 1 to 256 characters, each a letter A-Z or a-z, a "
            f"digit, _ or - (Telegram's rule for a webhook's secret token); {problem}. Unset, "
            "a random one is made at every start"
        )
    return text
