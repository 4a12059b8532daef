"""Stories for tests that put them straight into storage, without a feed.

`english_story` builds a `StoryDraft` from what a test cares about (its source, title, link and
time) and indexes it, as ingestion would, under the words of its title; `made_up` words keep
stories apart (no two share one). `PRISONER_SWAP` is one
event as three outlets word it: each outlet's title and summary.
"""

from __future__ import annotations

from datetime import datetime

from news.model import StoryDraft
from news.topics import document_terms


def english_story(
    source_id: int,
    title: str,
    *,
    link: str,
    published_at: datetime,
    entry_id: str | None = None,
    summary: str = "",
) -> StoryDraft:
    """An English story, searchable by its title's words; its entry id is the title unless
    given."""
    return StoryDraft(
        source_id=source_id,
        entry_id=title if entry_id is None else entry_id,
        title=title,
        summary=summary,
        link=link,
        published_at=published_at,
        language="en",
        terms=document_terms(title, "en"),
    )


# One event (a prisoner exchange) as three outlets word it: each outlet's title and summary.
PRISONER_SWAP: dict[str, tuple[str, str]] = {
    "BBC": (
        "Ukraine and Russia swap 300 prisoners in UAE-brokered exchange",
        "Ukraine and Russia exchanged 300 prisoners of war in a deal brokered by the "
        "United Arab Emirates; the soldiers crossed near Chernihiv.",
    ),
    "DW": (
        "Kyiv and Moscow exchange 300 prisoners of war, UAE mediated",
        "Russia and Ukraine carried out a prisoner exchange of 300 soldiers mediated by "
        "the United Arab Emirates. The men were taken to Chernihiv.",
    ),
    "Reuters": (
        "Russia, Ukraine trade 300 prisoners of war in Emirati-brokered swap near Chernihiv",
        "Three hundred prisoners of war from each side were exchanged under a United Arab "
        "Emirates mediation, Ukraine's coordination headquarters said.",
    ),
}


def made_up(number: int, prefix: str) -> str:
    """A word of letters no stemmer shortens and no other story shares: zbab, zbac, …"""
    letters = "bcdfghjklmnpqrstvwz"
    word = ""
    while True:
        number, digit = divmod(number, len(letters))
        word += "a" + letters[digit]
        if not number:
            return prefix + word
