"""Curating the news: which feeds the bot reads, which topics each chat follows.

These are the write-side use cases, beside the read side in `news.reading`: the admins'
/addsource and /removesource, `newsbot sources add | remove | import`, and /subscribe and
/unsubscribe (in a chat, for a channel, in a forum topic) all call them here, over the storage
port they change (`news.ports.Sources` or `news.ports.Chats`). Each returns what happened as a
value, or raises the domain's error (`SourceError` for a URL that is no usable feed), and the
front ends only render it: the bot in its reader's language, the CLI as plain English.

A source is added only once its URL was fetched and read as a feed (or led to the feed a web
page advertises, `news.feeds.discovery`), and only from a public address unless the operator allows
private ones (`news.feeds.safety`); adding a known source reads it again. A chat follows at most
`news.policy.MAX_SUBSCRIPTIONS` topics, over all its forum topics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from news.feeds import check_public_host
from news.model import Source
from news.policy import MAX_SUBSCRIPTIONS
from news.ports import Chats, Sources

if TYPE_CHECKING:
    from news.feeds.fetch import Fetcher
    from news.topics import Topic

# Sources


@dataclass(frozen=True, slots=True)
class SourceAdded:
    """A source added (or read again): as stored, the feed's title and its entries now."""

    source: Source
    title: str
    entries: int


async def add_source(
    sources: Sources,
    url: str,
    *,
    now: datetime,
    fetcher: Fetcher | None = None,
    allow_private: bool = False,
) -> SourceAdded:
    """Add the feed `url` is or advertises; `SourceError` says why it cannot be added.

    `fetcher` is the caller's (with its limits); without one, a fetcher is opened for this
    request alone, refusing private addresses unless `allow_private`.
    """
    # Imported here: only adding a source needs the HTTP client and the feed parser, and the
    # terminal's `sources list` and `remove` import this module too (tests/test_startup.py).
    from news.feeds.discovery import find_feed
    from news.feeds.fetch import Fetcher

    if fetcher is None:
        async with Fetcher(public_only=not allow_private) as own:
            return await add_source(sources, url, now=now, fetcher=own, allow_private=allow_private)
    found = await find_feed(url, fetcher, now=now, allow_private=allow_private)
    source = await sources.add_source(found.url, now=now)
    return SourceAdded(source, found.feed.title or source.name, len(found.feed.entries))


async def remove_source(sources: Sources, url: str) -> Source | None:
    """Stop reading the source at `url` (its stories stay until retention removes them); the
    source as it is now, or None when there is no source at `url`."""
    return await sources.remove_source(url)


@dataclass(frozen=True, slots=True)
class SourcesImported:
    """What importing a list of feeds did: sources new to the bot, sources read again after
    being removed or unlisted, and those it read already (left as they were)."""

    fresh: int
    resumed: int
    known: int


async def import_sources(
    sources: Sources, urls: Sequence[str], *, now: datetime, allow_private: bool = False
) -> SourcesImported:
    """Add every feed of `urls` (a sources file's, `news.feeds.sources.read_sources_file`).

    The list is trusted to name feeds, so they are not fetched here (the first poll reads
    them); but every host is checked to be public first, unless `allow_private`, so that a
    list with one private address adds nothing.
    """
    known = {source.url: source.enabled for source in await sources.list_sources()}
    if not allow_private:
        for url in urls:
            await check_public_host(url)
    for url in urls:
        await sources.add_source(url, now=now)
    fresh = sum(url not in known for url in urls)
    resumed = sum(known.get(url) is False for url in urls)
    return SourcesImported(fresh, resumed, len(urls) - fresh - resumed)


# Subscriptions


@dataclass(frozen=True, slots=True)
class ChatPlace:
    """Where a subscription pushes: a chat as Telegram describes it, and its forum topic
    `thread_id` (0: the chat itself)."""

    chat_id: int
    kind: str
    title: str | None
    thread_id: int = 0


@dataclass(frozen=True, slots=True)
class Changed:
    """The place follows `topic` from now on (subscribed), or no longer does (unsubscribed)."""

    topic: str


@dataclass(frozen=True, slots=True)
class Unchanged:
    """Nothing changed: the place followed `topic` already (subscribing), or did not
    (unsubscribing); then `following` are the topics it does, in the order it subscribed."""

    topic: str
    following: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TooManyTopics:
    """The chat follows `count` topics, `news.policy.MAX_SUBSCRIPTIONS` or more: nothing
    changed."""

    count: int


SubscribeResult = Changed | Unchanged | TooManyTopics


async def subscribe(
    chats: Chats, place: ChatPlace, topic: Topic, *, language: str, now: datetime
) -> SubscribeResult:
    """Have `place` follow `topic`, within the chat's limit; `language` is the subscriber's."""
    await chats.upsert_chat(place.chat_id, kind=place.kind, title=place.title, now=now)
    # The limit is the chat's, over all its forum topics; a topic followed already is no
    # new one, so a full chat is still told it follows it.
    existing = await chats.subscriptions(place.chat_id)
    here = {s.topic for s in existing if s.thread_id == place.thread_id}
    if len(existing) >= MAX_SUBSCRIPTIONS and topic.text not in here:
        return TooManyTopics(len(existing))
    if not await chats.subscribe(place.chat_id, topic.text, now=now, thread_id=place.thread_id):
        return Unchanged(topic.text)
    # Pushes are read by the chat, not by one person: they come in the language of whoever
    # subscribed it last.
    await chats.set_language(place.chat_id, language)
    return Changed(topic.text)


UnsubscribeResult = Changed | Unchanged


async def unsubscribe(
    chats: Chats, chat_id: int, topic: Topic, *, thread_id: int = 0
) -> UnsubscribeResult:
    """Have the chat (in its forum topic `thread_id`) stop following `topic`."""
    if await chats.unsubscribe(chat_id, topic.text, thread_id=thread_id):
        return Changed(topic.text)
    return Unchanged(topic.text, await followed(chats, chat_id, thread_id=thread_id))


async def followed(chats: Chats, chat_id: int, *, thread_id: int = 0) -> tuple[str, ...]:
    """The topics the chat follows in its forum topic `thread_id` (0: the chat itself), in the
    order it subscribed."""
    return tuple(s.topic for s in await chats.subscriptions(chat_id, thread_id=thread_id))
