"""Stories as Telegram HTML: the news card that is pushed and the list /latest answers with.

Everything that comes from a feed is escaped here, and only here, for Telegram's HTML mode. Every
word of the bot's own comes from `texts` (`handlers.i18n`), in the reader's language.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape, unescape
from urllib.parse import urlsplit, urlunsplit

from handlers.i18n import Texts
from news.delivery import DigestKind
from news.events import Event
from news.feeds import cut_at_word
from news.model import DISABLED_BECAUSE, Delivery, Source, Story
from news.policy import ALSO_NAMED, OTHER_REPORTS_SHOWN
from news.topics import source_term

MESSAGE_LIMIT = 4096
LIST_SUMMARY_LIMIT = 160
RELATED_SNIPPET_LIMIT = 140
_TAG = re.compile(r"<[^>]+>")


def _link(story: Story, texts: Texts) -> str:
    if not story.link:
        return ""
    # Translators: the link to the full story on its outlet's site, on a news card.
    label = texts._("Read more")
    return f'<a href="{escape(story.link, quote=True)}">{label}</a>'


def also_line(
    outlets: Sequence[str], texts: Texts, named: int = ALSO_NAMED, *, total: int | None = None
) -> str:
    """The other outlets of a pushed story's event: "Also: BBC, DW +3". `total` counts the
    other outlets when `outlets` holds only the first few."""
    # Translators: under a pushed story; {outlets} names the other outlets that report the same
    # event ("BBC, DW"), maybe followed by "+3" for more.
    line = texts._("Also: {outlets}", outlets=", ".join(escape(name) for name in outlets[:named]))
    unnamed = max(total or 0, len(outlets)) - named
    if unnamed > 0:
        line += f" +{unnamed}"
    return line


def story_card(
    story: Story,
    now: datetime,
    *,
    texts: Texts,
    topics: Sequence[str] = (),
    also: Sequence[str] = (),
    also_count: int | None = None,
) -> str:
    """The pushed message: bold headline, short summary, source and age, link, other outlets
    (`also`, or its first few of `also_count`)."""
    lines = [f"<b>{escape(story.title)}</b>"]
    if story.summary and story.summary != story.title:
        lines.append(escape(story.summary))
    meta = f"<i>{escape(story.source_name)}</i> · {texts.age(story.published_at, now)}"
    if story.link:
        meta += " · " + _link(story, texts)
    if also:
        meta += "\n" + also_line(also, texts, total=also_count)
    lines.append(meta)
    if topics:
        lines.append("🔔 " + ", ".join(escape(topic) for topic in topics))
    return "\n\n".join(lines)


def more_sources(count: int, texts: Texts) -> str:
    """How many more outlets report an event: "+1 source", "+3 sources"."""
    # Translators: after an outlet's name in /latest: {count} more outlets report the event.
    return texts.ngettext("+{count} source", "+{count} sources", count)


def _list_entry(position: int, event: Event, now: datetime, texts: Texts) -> str:
    story = event.lead
    entry = f"{position}. <b>{escape(story.title)}</b>"
    if story.summary and story.summary != story.title:
        entry += "\n" + escape(cut_at_word(story.summary, LIST_SUMMARY_LIMIT))
    entry += f"\n<i>{escape(story.source_name)}</i>"
    if event.more_sources:
        entry += " " + more_sources(event.more_sources, texts)
    entry += f" · {texts.age(story.published_at, now)}"
    if story.link:
        entry += " · " + _link(story, texts)
    return entry


def latest_messages(
    heading: str, events: Sequence[Event], now: datetime, *, texts: Texts, first_number: int = 1
) -> list[str]:
    """/latest's answer: a heading and one numbered entry per event (its lead report, and how
    many more outlets report it), split into messages Telegram accepts."""
    blocks = [f"<b>{escape(heading)}</b>"]
    blocks += [
        _list_entry(number, event, now, texts) for number, event in enumerate(events, first_number)
    ]
    return pack(blocks)


def details_messages(
    story: Story,
    now: datetime,
    *,
    key_points: Sequence[str],
    other_reports: Sequence[Story],
    related: Sequence[Event],
    texts: Texts,
    other_outlets: int | None = None,
) -> list[str]:
    """The card behind a pushed story's "More" button: the headline, its key points, the other
    outlets' headlines with links (`other_reports`, the first few of `other_outlets`), and
    related recent stories with a snippet each."""
    head = f"<b>{escape(story.title)}</b>\n<i>{escape(story.source_name)}</i> · "
    head += texts.age(story.published_at, now)
    if story.link:
        head += " · " + _link(story, texts)
    blocks = [head]
    if key_points:
        blocks.append(
            "<b>"
            # Translators: a heading of a story's card, over the key points of the story.
            + texts._("Keep in mind")
            + "</b>\n"
            + "\n".join(f"• {escape(point)}" for point in key_points)
        )
    if other_reports:
        # Translators: a heading of a story's card, over other outlets' headlines of the event.
        lines = ["<b>" + texts._("Also reported by") + "</b>"]
        for report in other_reports[:OTHER_REPORTS_SHOWN]:
            lines.append(f"• {_headline_link(report)} — <i>{escape(report.source_name)}</i>")
        outlets = max(other_outlets or 0, len(other_reports))
        if outlets > OTHER_REPORTS_SHOWN:
            unlisted = outlets - OTHER_REPORTS_SHOWN
            lines.append(
                # Translators: under the other outlets' headlines a story's card lists;
                # {count} is how many more outlets report the event.
                texts.ngettext("and {count} more outlet", "and {count} more outlets", unlisted)
            )
        blocks.append("\n".join(lines))
    if related:
        # Translators: a heading of a story's card, over related recent stories.
        lines = ["<b>" + texts._("Related") + "</b>"]
        for event in related:
            entry = f"• {_headline_link(event.lead)}"
            if event.lead.summary and event.lead.summary != event.lead.title:
                entry += " — " + escape(cut_at_word(event.lead.summary, RELATED_SNIPPET_LIMIT))
            entry += f"\n  <i>{escape(event.lead.source_name)}</i> · "
            entry += texts.age(event.lead.published_at, now)
            lines.append(entry)
        blocks.append("\n".join(lines))
    return pack(blocks)


def _headline_link(story: Story) -> str:
    headline = f"<b>{escape(cut_at_word(story.title, 300))}</b>"
    if not story.link:
        return headline
    return f'<a href="{escape(story.link, quote=True)}">{headline}</a>'


def digest_heading(kind: DigestKind, count: int, texts: Texts) -> str:
    """The heading of a digest of `count` stories, by why they go out as one."""
    if kind == "daily":
        # Translators: the heading of the daily digest message (/digest).
        return texts._("Your daily digest")
    if kind == "quiet":
        # Translators: the heading of the message that brings, when quiet hours end, the
        # stories held during them; {count} is how many.
        return texts.ngettext(
            "{count} story from your quiet hours", "{count} stories from your quiet hours", count
        )
    # Translators: the heading of one message bringing several new stories; {count} is how many.
    return texts.ngettext("{count} new story", "{count} new stories", count)


def digest_messages(
    heading: str, deliveries: Sequence[Delivery], now: datetime, *, texts: Texts
) -> list[tuple[str, list[Delivery]]]:
    """Several stories for one chat as one message (or a few, split between stories).

    Each message is returned with the deliveries it carries, so each can be marked sent.
    """
    messages: list[tuple[str, list[Delivery]]] = []
    current = f"<b>{escape(heading)}</b>"
    carried: list[Delivery] = []
    for number, delivery in enumerate(deliveries, 1):
        entry = _digest_entry(number, delivery.story, now, texts)
        if carried and len(current) + 2 + len(entry) > MESSAGE_LIMIT:
            messages.append((current, carried))
            current, carried = "", []
        current = f"{current}\n\n{entry}" if current else entry
        carried.append(delivery)
    if carried:
        messages.append((current, carried))
    return messages


def _digest_entry(position: int, story: Story, now: datetime, texts: Texts) -> str:
    headline = escape(cut_at_word(story.title, 300))
    if story.link:
        headline = f'<a href="{escape(story.link, quote=True)}">{headline}</a>'
    meta = f"<i>{escape(story.source_name)}</i> · {texts.age(story.published_at, now)}"
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


def stories_kept(source: Source, texts: Texts) -> str:
    """ "12 stories kept": a disabled source's stories stay searchable until retention."""
    # Translators: {count} stories of a disabled or removed source are still kept (and found).
    return texts.ngettext("{count} story kept", "{count} stories kept", source.stories_count)


def public_url(url: str) -> str:
    """A feed URL as readers may see it: without `user:password@` or the query and fragment,
    which may hold credentials or keys."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address goes back into brackets
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:  # a port out of range: leave it out
        port = None
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def sources_message(
    sources: Sequence[Source], now: datetime, *, texts: Texts, admin: bool = False
) -> list[str]:
    """/sources' answer: each source, the `source:` term that follows it, and how it is doing.

    Only an `admin` reads what a failing fetch answered; everyone else sees that it fails.
    """
    if not sources:
        # Translators: /sources when the bot reads no feed.
        return [texts._("No sources yet.")]
    disabled = sum(not source.enabled for source in sources)
    heading = (
        # Translators: the heading of /sources; {count} is how many sources there are,
        # {disabled} how many of them are disabled (not read).
        texts._("Sources ({count}, {disabled} disabled)", count=len(sources), disabled=disabled)
        if disabled
        # Translators: the heading of /sources; {count} is how many sources there are.
        else texts._("Sources ({count})", count=len(sources))
    )
    blocks = [
        f"<b>{heading}</b>\n"
        + texts._(
            "Follow one with /subscribe and the term beside it, as in: "
            "<code>/subscribe source:bbc</code>"
        )
    ]
    for source in sources:
        status = source_status(source, now, texts, details=admin)
        name = escape(source.name)
        term = source_term(source.name)
        if term:
            name += f" · <code>{escape(term)}</code>"
        blocks.append(f"{name}\n{escape(public_url(source.url))}\n{escape(status)}")
    return pack(blocks)


def source_status(source: Source, now: datetime, texts: Texts, *, details: bool = True) -> str:
    """One line on how a source is doing, for /sources (`newsbot sources list` prints its own,
    `bot.terminal.source_status`).

    With `details`, a fetch error is shown as it was recorded, in English: it quotes the feed's
    server (and may name hosts and paths readers need not see). Without, it says "failing".
    """
    if not source.enabled:
        kept = stories_kept(source, texts)
        reason = DISABLED_BECAUSE.get(source.disabled_reason or "")
        if reason is None:
            # Translators: a source's state in /sources; {kept} is "12 stories kept".
            return texts._("⏸ disabled · {kept}", kept=kept)
        # Translators: a source's state in /sources; {reason} is why it is disabled ("removed
        # by an admin"), {kept} "12 stories kept".
        return texts._("⏸ disabled: {reason} · {kept}", reason=texts._(reason), kept=kept)
    if source.last_polled_at is None:
        # Translators: a source's state in /sources: the bot has not tried to read it yet.
        return texts._("… not fetched yet")
    if source.last_error and not details:
        # Translators: a failing source's state in /sources; {count} is how many reads in a row
        # failed, {age} how long ago the last was tried ("12 min ago").
        return texts._(
            "⚠ failing ({count}× in a row, last tried {age})",
            count=source.error_count,
            age=texts.age(source.last_polled_at, now),
        )
    if source.last_error:
        # Translators: a failing source's state in /sources, for admins; {error} is the error,
        # in English; {count} is how many reads in a row failed, {age} how long ago the last was
        # tried ("12 min ago").
        return texts._(
            "⚠ {error} ({count}× in a row, last tried {age})",
            error=source.last_error,
            count=source.error_count,
            age=texts.age(source.last_polled_at, now),
        )
    # Translators: a source's state in /sources; {age} is how long ago it was last read
    # ("12 min ago").
    fetched = texts._("✓ fetched {age}", age=texts.age(source.last_polled_at, now))
    # Translators: after a source's state in /sources: the bot keeps {count} of its stories.
    return (
        fetched + " · " + texts.ngettext("{count} story", "{count} stories", source.stories_count)
    )
