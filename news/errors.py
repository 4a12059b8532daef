"""The one exception tree of the news domain.

    NewsbotError
    ├── ConfigError          a setting is missing or malformed (names the variable)
    ├── TopicError           a topic a user typed cannot be understood (says why)
    ├── SourceError          a source URL or sources file is unusable
    └── FeedError            one feed could not be fetched or read
        ├── FetchError       network, HTTP status, size cap, redirects
        └── ParseError       the bytes are not a feed we can read

Third-party errors (aiohttp, feedparser) are translated at the boundary where they arise:
`raise FetchError(...) from exc`. Expected per-feed failures become values (`PollOutcome`), not
crashes; anything else is a bug and reaches the application's error handler.
"""

from __future__ import annotations


class NewsbotError(Exception):
    """Base of every error Newsbot raises on purpose."""


class ConfigError(NewsbotError):
    """A setting is missing or malformed; the message names the variable."""


class TopicError(NewsbotError):
    """A topic cannot be understood; the message says what is wrong, for the user."""


class SourceError(NewsbotError):
    """A source URL or a sources file cannot be used."""


class FeedError(NewsbotError):
    """One feed could not be fetched or read. `kind` is a short machine-readable tag."""

    kind = "feed"

    def __init__(self, message: str, *, kind: str | None = None) -> None:
        super().__init__(message)
        if kind is not None:
            self.kind = kind


class FetchError(FeedError):
    """The feed could not be fetched: network failure, HTTP error, size cap, redirect trouble."""

    kind = "fetch"


class ParseError(FeedError):
    """The fetched bytes are not a feed Newsbot can read."""

    kind = "parse"
