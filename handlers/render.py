"""Stories as Telegram HTML: the news card that is pushed and the list /latest answers with.

Everything that comes from a feed is escaped here, and only here, for Telegram's HTML mode.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape, unescape

from news.coverage import Event
from news.model import Delivery, Source, Story
from news.policy import ALSO_NAMED
from news.text import age, cut_at_word

MESSAGE_LIMIT = 4096
LIST_SUMMARY_LIMIT = 160
RELATED_SNIPPET_LIMIT = 140
# Other outlets' headlines listed on a story card before the rest are counted.
OTHER_REPORTS_LISTED = 10
_TAG = re.compile(r"<[^>]+>")


def _link(story: Story) -> str:
    if not story.link:
        return ""
    return f'<a href="{escape(story.link, quote=True)}">Read more</a>'


def also_line(outlets: Sequence[str], named: int = ALSO_NAMED) -> str:
    """The other outlets of a pushed story's event: "Also: BBC, DW +3"."""
    line = "Also: " + ", ".join(escape(name) for name in outlets[:named])
    if len(outlets) > named:
        line += f" +{len(outlets) - named}"
    return line


def story_card(
    story: Story, now: datetime, *, topics: Sequence[str] = (), also: Sequence[str] = ()
) -> str:
    """The pushed message: bold headline, short summary, source and age, link, other outlets."""
    lines = [f"<b>{escape(story.title)}</b>"]
    if story.summary and story.summary != story.title:
        lines.append(escape(story.summary))
    meta = f"<i>{escape(story.source_name)}</i> · {age(story.published_at, now)}"
    if story.link:
        meta += " · " + _link(story)
    if also:
        meta += "\n" + also_line(also)
    lines.append(meta)
    if topics:
        lines.append("🔔 " + ", ".join(escape(topic) for topic in topics))
    return "\n\n".join(lines)


def _list_entry(position: int, event: Event, now: datetime) -> str:
    story = event.lead
    entry = f"{position}. <b>{escape(story.title)}</b>"
    if story.summary and story.summary != story.title:
        entry += "\n" + escape(cut_at_word(story.summary, LIST_SUMMARY_LIMIT))
    entry += f"\n<i>{escape(story.source_name)}</i>"
    if event.more_sources:
        entry += f" +{event.more_sources} source" + ("s" if event.more_sources > 1 else "")
    entry += f" · {age(story.published_at, now)}"
    if story.link:
        entry += " · " + _link(story)
    return entry


def latest_messages(
    heading: str, events: Sequence[Event], now: datetime, *, first_number: int = 1
) -> list[str]:
    """/latest's answer: a heading and one numbered entry per event (its lead report, and how
    many more outlets report it), split into messages Telegram accepts."""
    blocks = [f"<b>{escape(heading)}</b>"]
    blocks += [_list_entry(number, event, now) for number, event in enumerate(events, first_number)]
    return pack(blocks)


def details_messages(
    story: Story,
    now: datetime,
    *,
    key_points: Sequence[str],
    other_reports: Sequence[Story],
    related: Sequence[Event],
) -> list[str]:
    """The card behind a pushed story's "More" button: the headline, its key points, the other
    outlets' headlines with links, and related recent stories with a snippet each."""
    head = f"<b>{escape(story.title)}</b>\n<i>{escape(story.source_name)}</i> · "
    head += age(story.published_at, now)
    if story.link:
        head += " · " + _link(story)
    blocks = [head]
    if key_points:
        blocks.append(
            "<b>Keep in mind</b>\n" + "\n".join(f"• {escape(point)}" for point in key_points)
        )
    if other_reports:
        lines = ["<b>Also reported by</b>"]
        for report in other_reports[:OTHER_REPORTS_LISTED]:
            lines.append(f"• {_headline_link(report)} — <i>{escape(report.source_name)}</i>")
        if len(other_reports) > OTHER_REPORTS_LISTED:
            lines.append(f"and {len(other_reports) - OTHER_REPORTS_LISTED} more outlets")
        blocks.append("\n".join(lines))
    if related:
        lines = ["<b>Related</b>"]
        for event in related:
            entry = f"• {_headline_link(event.lead)}"
            if event.lead.summary and event.lead.summary != event.lead.title:
                entry += " — " + escape(cut_at_word(event.lead.summary, RELATED_SNIPPET_LIMIT))
            entry += f"\n  <i>{escape(event.lead.source_name)}</i> · "
            entry += age(event.lead.published_at, now)
            lines.append(entry)
        blocks.append("\n".join(lines))
    return pack(blocks)


def _headline_link(story: Story) -> str:
    headline = f"<b>{escape(cut_at_word(story.title, 300))}</b>"
    if not story.link:
        return headline
    return f'<a href="{escape(story.link, quote=True)}">{headline}</a>'


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
    """Join blocks with blank lines into as few messages as fit under `limit` characters.

    A block too long for one message is split between its lines, never inside one, so no tag
    or link is cut in half (a line longer than a message is cut at a word, with its tags
    removed).
    """
    messages: list[str] = []
    current = ""
    for block in blocks:
        for part in _fitting(block, limit):
            candidate = f"{current}\n\n{part}" if current else part
            if len(candidate) <= limit:
                current = candidate
                continue
            if current:
                messages.append(current)
            current = part
    if current:
        messages.append(current)
    return messages


def _fitting(block: str, limit: int) -> list[str]:
    if len(block) <= limit:
        return [block]
    parts: list[str] = []
    current = ""
    for line in block.split("\n"):
        if len(line) > limit:
            line = escape(cut_at_word(unescape(_TAG.sub("", line)), limit // 2))
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit and current:
            parts.append(current)
            candidate = line
        current = candidate
    if current:
        parts.append(current)
    return parts


DISABLED_BECAUSE = {
    "unlisted": "no longer in the sources file",
    "removed": "removed by an admin",
    "gone": "the feed is gone (HTTP 410)",
}


def stories_kept(source: Source) -> str:
    """ "12 stories kept": a disabled source's stories stay searchable until retention."""
    return f"{source.stories_count:,} {'story' if source.stories_count == 1 else 'stories'} kept"


def sources_message(sources: Sequence[Source], now: datetime) -> list[str]:
    """/sources' answer: each source with the outcome of its last fetch."""
    if not sources:
        return ["No sources yet."]
    disabled = sum(not source.enabled for source in sources)
    heading = f"Sources ({len(sources)}" + (f", {disabled} disabled)" if disabled else ")")
    blocks = [f"<b>{heading}</b>"]
    for source in sources:
        blocks.append(
            f"{escape(source.name)}\n{escape(source.url)}\n{escape(source_status(source, now))}"
        )
    return pack(blocks)


def source_status(source: Source, now: datetime) -> str:
    """One line on how a source is doing, for /sources and `newsbot sources list`."""
    if not source.enabled:
        reason = DISABLED_BECAUSE.get(source.disabled_reason or "", "")
        return f"⏸ disabled{': ' + reason if reason else ''} · {stories_kept(source)}"
    if source.last_polled_at is None:
        return "… not fetched yet"
    if source.last_error:
        return (
            f"⚠ {source.last_error} ({source.error_count}× in a row, "
            f"last tried {age(source.last_polled_at, now)})"
        )
    return f"✓ fetched {age(source.last_polled_at, now)} · {source.stories_count} stories"
