"""`DATABASE_URL` checked and given its async driver, without importing SQLAlchemy.

Every command reads its settings, and the settings check `DATABASE_URL` at once; a command that
opens no database (`newsbot read`) should not pay a quarter of a second to import SQLAlchemy for
that. The URL is read as SQLAlchemy's `make_url` reads it (`driver[+dialect]://rest`, a numeric
port if any); SQLAlchemy parses it again when the engine is made.
"""

from __future__ import annotations

import re

from news.errors import ConfigError, without_passwords

ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}
_URL = re.compile(r"(?P<name>[\w+]+)://(?P<rest>.*)", re.DOTALL)
# A host and its port: "[v6]:port" or "name:port", the port optional.
_HOST_PORT = re.compile(r"(?:\[[^\]]*\]|[^:\[\]]*)(?::(?P<port>.*))?", re.DOTALL)


def async_url(database_url: str) -> str:
    """`DATABASE_URL` with the async driver Newsbot uses for its backend."""
    found = _URL.fullmatch(database_url)
    if found is None or not _port_is_number(found["rest"]):
        raise ConfigError(
            f"DATABASE_URL is not a database URL: {without_passwords(database_url)!r}"
        )
    name = found["name"]
    backend = name.split("+")[0]
    if backend not in ASYNC_DRIVERS:
        raise ConfigError(f"DATABASE_URL must start with sqlite:// or postgresql://, not {name}://")
    return f"{ASYNC_DRIVERS[backend]}://{found['rest']}"


def _port_is_number(rest: str) -> bool:
    """Whether the host part's port, if it has one, is digits (as make_url demands)."""
    netloc = re.split(r"[/?]", rest, maxsplit=1)[0]
    host = netloc.rpartition("@")[2]
    found = _HOST_PORT.fullmatch(host)
    return found is not None and (found["port"] is None or found["port"].isdigit())
