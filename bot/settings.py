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
            http_port=_http_port(values.get("NEWSBOT_HTTP_PORT")),
            http_listen=_http_listen(values.get("NEWSBOT_HTTP_LISTEN")),
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


def _http_port(value: str | None) -> int | None:
    if _blank(value):
        return None
    assert value is not None
    text = value.strip()
    if not _whole(text) or not 1 <= int(text) <= 65535:
        raise ConfigError(
            f"NEWSBOT_HTTP_PORT must be a TCP port from 1 to 65535 for /healthz and /metrics "
            f"(unset: no HTTP endpoint), got {text[:40]!r}"
        )
    return int(text)


def _http_listen(value: str | None) -> str:
    if _blank(value):
        return DEFAULT_HTTP_LISTEN
    assert value is not None
    text = value.strip()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ConfigError(
            f"NEWSBOT_HTTP_LISTEN must be an IP address to listen on, such as 127.0.0.1 "
            f"(the default) or 0.0.0.0 (every interface, as in a container), got {text[:60]!r}"
        ) from None
