"""Stories for tests that put them straight into storage, without a feed.

`english_story` builds a `StoryDraft` from what a test cares about (its source, title, link and
time) and indexes it, as ingestion would, under the words of its title.
"""

from __future__ import annotations

from datetime import datetime

from news.analysis import document_terms
from news.model import StoryDraft


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
