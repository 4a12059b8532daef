"""Stories as Telegram HTML: the news card that is pushed and the list /latest answers with.

Everything that comes from a feed is escaped here, and only here, for Telegram's HTML mode.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape

from news.model import Delivery, Source, Story
from news.text import age, cut_at_word

MESSAGE_LIMIT = 4096
LIST_SUMMARY_LIMIT = 160


def _link(story: Story) -> str:
    if not story.link:
        return ""
    return f'<a href="{escape(story.link, quote=True)}">Read more</a>'


def story_card(story: Story, now: datetime, *, topics: Sequence[str] = ()) -> str:
    """The pushed message: bold headline, short summary, source and age, link."""
    lines = [f"<b>{escape(story.title)}</b>"]
    if story.summary and story.summary != story.title:
        lines.append(escape(story.summary))
    meta = f"<i>{escape(story.source_name)}</i> · {age(story.published_at, now)}"
    if story.link:
        meta += " · " + _link(story)
    lines.append(meta)
    if topics:
        lines.append("🔔 " + ", ".join(escape(topic) for topic in topics))
    return "\n\n".join(lines)


def _list_entry(position: int, story: Story, now: datetime) -> str:
    entry = f"{position}. <b>{escape(story.title)}</b>"
    if story.summary and story.summary != story.title:
        entry += "\n" + escape(cut_at_word(story.summary, LIST_SUMMARY_LIMIT))
    entry += f"\n<i>{escape(story.source_name)}</i> · {age(story.published_at, now)}"
    if story.link:
        entry += " · " + _link(story)
    return entry


def latest_messages(
    heading: str, stories: Sequence[Story], now: datetime, *, first_number: int = 1
) -> list[str]:
    """/latest's answer: a heading and numbered entries, split into messages Telegram accepts."""
    blocks = [f"<b>{escape(heading)}</b>"]
    blocks += [
        _list_entry(number, story, now) for number, story in enumerate(stories, first_number)
    ]
    return pack(blocks)


def digest_messages(
    heading: str, deliveries: Sequence[Delivery], now: datetime
) -> list[tuple[str, list[Delivery]]]:
    """Several stories for one chat as one message (or a few, split between stories).

    Each message is returned with the deliveries it carries, so each can be marked sent.
    """
    messages: list[tuple[str, list[Delivery]]] = []
    current = f"<b>{escape(heading)}</b>"
    carried: list[Delivery] = []
    for number, delivery in enumerate(deliveries, 1):
        entry = _digest_entry(number, delivery.story, now)
        if carried and len(current) + 2 + len(entry) > MESSAGE_LIMIT:
            messages.append((current, carried))
            current, carried = "", []
        current = f"{current}\n\n{entry}" if current else entry
        carried.append(delivery)
    if carried:
        messages.append((current, carried))
    return messages


def _digest_entry(position: int, story: Story, now: datetime) -> str:
    headline = escape(cut_at_word(story.title, 300))
    if story.link:
        headline = f'<a href="{escape(story.link, quote=True)}">{headline}</a>'
    meta = f"<i>{escape(story.source_name)}</i> · {age(story.published_at, now)}"
    return f"{position}. <b>{headline}</b>\n{meta}"


def pack(blocks: Iterable[str], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Join blocks with blank lines into as few messages as fit under `limit` characters."""
    messages: list[str] = []
    current = ""
    for block in blocks:
        candidate = f"{current}\n\n{block}" if current else block
        if len(candidate) <= limit:
            current = candidate
            continue
        if current:
            messages.append(current)
        current = block[:limit]
    if current:
        messages.append(current)
    return messages


def sources_message(sources: Sequence[Source], now: datetime) -> list[str]:
    """/sources' answer: each source with the outcome of its last fetch."""
    if not sources:
        return ["No sources yet."]
    blocks = [f"<b>Sources ({len(sources)})</b>"]
    for source in sources:
        blocks.append(
            f"{escape(source.name)}\n{escape(source.url)}\n{escape(source_status(source, now))}"
        )
    return pack(blocks)


def source_status(source: Source, now: datetime) -> str:
    """One line on how a source is doing, for /sources and `newsbot sources list`."""
    if not source.enabled:
        return "⏸ disabled"
    if source.last_polled_at is None:
        return "… not fetched yet"
    if source.last_error:
        return (
            f"⚠ {source.last_error} ({source.error_count}× in a row, "
            f"last tried {age(source.last_polled_at, now)})"
        )
    return f"✓ fetched {age(source.last_polled_at, now)} · {source.stories_count} stories"
