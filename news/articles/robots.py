"""robots.txt, read once a day per host and asked before every page the bot reads there.

The rules are fetched by our own `Fetcher` (the same address guard, size cap and deadline as
pages) and parsed by `urllib.robotparser` from the bytes. As RFC 9309 says: a robots.txt that is
missing or refused (4xx) allows everything; one that cannot be read (5xx, network failure,
timeout) forbids everything until it can be, since the site may be saying "not now".
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal
from urllib.robotparser import RobotFileParser

#: How long a host's robots.txt is trusted before it is read again.
ROBOTS_TTL = 24 * 3600.0
#: Google reads the first 500 KiB of a robots.txt; so do we.
ROBOTS_MAX_BYTES = 500 * 1024
# Hosts remembered at most.
_MAX_HOSTS = 5_000

#: What robots.txt says of a page: read it, don't, or it could not be read (so don't, for now).
Verdict = Literal["allowed", "forbidden", "unreadable"]


@dataclass(frozen=True, slots=True)
class RobotsAnswer:
    """A robots.txt as fetched: its status and body, or `None` for "could not be read"."""

    status: int | None
    body: bytes = b""


@dataclass(slots=True)
class _Rules:
    parser: RobotFileParser | None  # None: everything allowed
    forbid_all: bool
    until: float


class RobotsCache:
    """Per-host robots.txt rules for one user agent; `fetch_robots(robots_url)` reads one."""

    def __init__(
        self,
        user_agent: str,
        fetch_robots: Callable[[str], Awaitable[RobotsAnswer]],
        *,
        clock: Callable[[], float] = time.monotonic,
        ttl: float = ROBOTS_TTL,
    ) -> None:
        self._agent = user_agent
        self._fetch = fetch_robots
        self._clock = clock
        self._ttl = ttl
        self._rules: dict[str, _Rules] = {}

    async def verdict(self, url: str, origin: str) -> Verdict:
        """May the bot read `url`, whose origin ("https://host:port") is `origin`?"""
        rules = self._rules.get(origin)
        if rules is None or rules.until <= self._clock():
            rules = self._parse(await self._fetch(f"{origin}/robots.txt"))
            self._rules.pop(origin, None)
            self._rules[origin] = rules
            if len(self._rules) > _MAX_HOSTS:
                del self._rules[next(iter(self._rules))]
        if rules.forbid_all:
            return "unreadable"
        if rules.parser is None or rules.parser.can_fetch(self._agent, url):
            return "allowed"
        return "forbidden"

    def _parse(self, answer: RobotsAnswer) -> _Rules:
        until = self._clock() + self._ttl
        if answer.status is None or answer.status >= 500:
            # Unreadable: try again sooner than a day, meanwhile read nothing there.
            return _Rules(None, forbid_all=True, until=self._clock() + self._ttl / 24)
        if answer.status >= 400:
            return _Rules(None, forbid_all=False, until=until)
        parser = RobotFileParser()
        parser.parse(answer.body.decode("utf-8", errors="replace").splitlines())
        return _Rules(parser, forbid_all=False, until=until)
