"""What the `newsbot` command prints: the use cases' results as plain English for a terminal.

The bot renders the same results as Telegram HTML in its reader's language (`handlers.render`);
a terminal gets no markup and no translation, so this module needs neither the handlers nor
Babel's locale data, which the short commands would otherwise load to print a line.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from news.model import DISABLED_BECAUSE, Source

if TYPE_CHECKING:
    from news.articles import Article
    from news.curation import SourceAdded, SourcesImported


def count(number: int, one: str, many: str) -> str:
    """ "1 story", "6,451 stories" """
    return f"{number:,} {one if number == 1 else many}"


def age(published: datetime, now: datetime) -> str:
    """How long ago, as the bot's English cards say it: "just now", "12 min ago", "2 days ago"."""
    delta = now - published
    if delta < timedelta(minutes=1):
        return "just now"
    if delta < timedelta(days=1):
        minutes = int(delta.total_seconds() // 60)
        return f"{minutes:,} min ago" if minutes < 60 else f"{minutes // 60:,} h ago"
    if delta.days < 30:
        return count(delta.days, "day", "days") + " ago"
    # Not strftime's %b: its month names follow the process's locale, the bot's are English.
    return f"{published.day:02} {_MONTHS[published.month - 1]} {published.year}"


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def more_sources(number: int) -> str:
    """ "+3 sources": how many more outlets report an event."""
    return "+" + count(number, "source", "sources")


def stories_kept(source: Source) -> str:
    """ "12 stories kept": a disabled source's stories stay searchable until retention."""
    return count(source.stories_count, "story kept", "stories kept")


def source_status(source: Source, now: datetime) -> str:
    """One line on how a source is doing, its last error as recorded."""
    if not source.enabled:
        reason = DISABLED_BECAUSE.get(source.disabled_reason or "")
        said = "⏸ disabled" if reason is None else f"⏸ disabled: {reason}"
        return f"{said} · {stories_kept(source)}"
    if source.last_polled_at is None:
        return "… not fetched yet"
    tried = f"({source.error_count}× in a row, last tried {age(source.last_polled_at, now)})"
    if source.last_error:
        return f"⚠ {source.last_error} {tried}"
    fetched = age(source.last_polled_at, now)
    return f"✓ fetched {fetched} · {count(source.stories_count, 'story', 'stories')}"


def added(result: SourceAdded) -> str:
    source = result.source
    kept = f"; {stories_kept(source)}" if source.stories_count else ""
    return f"Added {source.url} ({result.title}, {result.entries} entries{kept})."


def removed(source: Source) -> str:
    return (
        f"Removed {source.url}: it is no longer polled. Its {stories_kept(source)} stay "
        f"searchable until retention removes them; `newsbot sources add {source.url}` resumes it."
    )


def imported(result: SourcesImported) -> str:
    return (
        f"Imported {result.fresh} new sources ({result.resumed} read again, "
        f"{result.known} known already)."
    )


def article_card(article: Article) -> str:
    """`newsbot read`'s card: the headline, the key points, the article's text, its address."""
    lines = [article.title or "(no headline)", ""]
    if article.key_points:
        lines += ["Key points:", *(f"  • {point}" for point in article.key_points), ""]
    lines += [*article.text.splitlines(), "", article.url]
    return "\n".join(lines)
