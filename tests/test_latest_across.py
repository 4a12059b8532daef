"""/latest's pages with stories found by meaning: merged by time with those found by words,
paged on without repeats or gaps (`news.reading._merged`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from news.model import Cursor, Story
from news.reading import _merged

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def story(story_id: int, minutes_ago: int) -> Story:
    published = NOW - timedelta(minutes=minutes_ago)
    return Story(
        id=story_id,
        source_id=1,
        source_name="Wire",
        title=f"story {story_id}",
        summary="",
        link=f"https://wire.example/{story_id}",
        published_at=published,
        first_seen_at=published,
    )


def ids(stories: list[Story]) -> list[int]:
    return [s.id for s in stories]


def test_a_full_page_of_words_takes_meaning_s_finds_among_it_the_rest_later() -> None:
    words = [story(1, 1), story(2, 10), story(3, 20)]
    meant = [story(11, 5), story(12, 15), story(13, 30)]
    page, last = _merged(words, meant, set(), None, batch=3)
    assert ids(page) == [1, 11, 2]
    assert not last
    cursor = Cursor(page[-1].published_at, page[-1].id)
    # The next page of words starts after the cursor: story 3, then nothing more.
    page, last = _merged([story(3, 20)], meant, set(), cursor, batch=3)
    assert ids(page) == [12, 3, 13]
    assert last


def test_exclusions_by_meaning_take_stories_off_the_page() -> None:
    page, last = _merged([story(1, 1), story(2, 10)], [story(11, 5)], {2}, None, batch=5)
    assert ids(page) == [1, 11]
    assert last
