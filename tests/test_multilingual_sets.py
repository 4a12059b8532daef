"""The cross-language sets of issue 23 are what their headers say; no quality targets yet.

The event set (tests/data/clusters/multi.txt) and the topic set (tests/data/topic_eval/multi_*)
are checked for integrity only: the cross-language matcher they are meant to measure does not
exist yet. Today's figures, printed by `python -m tests.multilingual` (7 December 2026):

- events, today's clusterer (one language at a time): B-cubed precision 0.993, recall 0.212
  across languages (0.993 / 1.000 within each language); distractor pairs joined: 2 (Trump's
  inauguration and his WHO order in German; the Pope's Easter blessing and his death in English).
- topics, `parse_topic` and `Topic.matches`: precision / recall for stories in the topic's own
  language 0.85 / 0.64, in the other languages 0.83 / 0.16 (by the topic's language, own and
  other: en 0.84/0.73 and 0.56/0.07, de 0.85/0.52 and 1.00/0.00, fr 0.91/0.56 and 1.00/0.03,
  es 0.80/0.63 and 0.84/0.35, uk 0.83/0.62 and 0.86/0.32, ru 0.92/0.79 and 1.00/0.00). What is
  found across languages is almost only countries' names (`ucrania`, `Україна`); its wrong finds
  are the traps: Spanish "deportistas" for `deportation`, Moon Jae-in for `Moon`, and Ukrainian
  sport for `ucrania -deportes` and `Україна -спорт`, which leave out only stories with that word.
  Since exclusions apply in their topic's language only (`Topic.language`, same day): Spanish
  topics in other languages 0.84 / 0.37 (`ucrania -deportes` keeps "Russia deported …"), all
  other languages 0.83 / 0.17; every other figure unchanged.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from news.topics import parse_topic
from tests.labelled import DATA, Labelled, distractor_groups, multilingual_set
from tests.multilingual import STORIES, JudgedStory, JudgedTopic, judged_stories, judged_topics

LANGUAGES = {"en", "de", "fr", "es", "uk", "ru"}


@pytest.fixture(scope="module")
def events() -> list[Labelled]:
    return multilingual_set()


@pytest.fixture(scope="module")
def topics() -> list[JudgedTopic]:
    return judged_topics()


@pytest.fixture(scope="module")
def stories() -> list[JudgedStory]:
    return judged_stories()


def _stated(path: Path, pattern: str) -> tuple[int, ...]:
    """The numbers a file's header states, found by `pattern` (thousands may have commas)."""
    header = " ".join(
        line.lstrip("# ")
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.startswith("#")
    )
    found = re.search(pattern, header)
    assert found, pattern
    return tuple(int(number.replace(",", "")) for number in found.groups())


def _languages_by_event(events: list[Labelled]) -> dict[str, set[str]]:
    languages: dict[str, set[str]] = {}
    for story in events:
        languages.setdefault(story.label, set()).add(story.language)
    return languages


def test_every_event_is_reported_in_three_to_six_languages(events: list[Labelled]) -> None:
    languages = _languages_by_event(events)
    assert len(languages) >= 35
    assert all(3 <= len(told) <= 6 for told in languages.values()), languages
    assert sum(len(told) >= 4 for told in languages.values()) > len(languages) / 2
    assert {story.language for story in events} == LANGUAGES
    assert len({story.source for story in events}) >= 30


def test_event_set_is_as_its_header_says(events: list[Labelled]) -> None:
    path = DATA / "multi.txt"
    reports, labels = _stated(path, r"(\d+) reports of (\d+) real events")
    (groups,) = _stated(path, r"\((\d+) groups of 2 or 3 events")
    assert (len(events), len(_languages_by_event(events))) == (reports, labels)
    assert len(distractor_groups(events)) == groups
    by_count = _stated(path, r"(\d+) events in 3 languages, (\d+) in 4, (\d+) in 5, (\d+) in 6")
    counts = [len(told) for told in _languages_by_event(events).values()]
    assert tuple(counts.count(n) for n in (3, 4, 5, 6)) == by_count


def test_distractors_are_different_events_of_one_group(events: list[Labelled]) -> None:
    """Each group holds 2–3 events, each in 3+ languages; 15+ groups begin within a day."""
    groups = distractor_groups(events)
    languages = _languages_by_event(events)
    within_a_day = 0
    for group, labels in groups.items():
        assert 2 <= len(labels) <= 3, group
        assert all(len(languages[label]) >= 3 for label in labels), group
        starts = [min(s.published_at for s in events if s.label == label) for label in labels]
        within_a_day += max(starts) - min(starts) <= timedelta(days=1)
    assert len(groups) >= 15
    (stated,) = _stated(DATA / "multi.txt", r"(\d+) groups begin within a day")
    assert within_a_day == stated >= 15


def test_topics_are_six_in_each_language_and_parse(topics: list[JudgedTopic]) -> None:
    assert len({topic.text for topic in topics}) == len(topics)
    for language in LANGUAGES:
        assert len([topic for topic in topics if topic.language == language]) == 6, language
    for topic in topics:
        parse_topic(topic.text)


def test_judgements_name_existing_topics_and_stories(
    topics: list[JudgedTopic], stories: list[JudgedStory], events: list[Labelled]
) -> None:
    """The first stories are the event set's reports, in its order; every mark is a topic."""
    names = {topic.text for topic in topics}
    for story in stories:
        assert story.relevant | story.unsure <= names, (story.number, story.relevant, story.unsure)
        assert not story.relevant & story.unsure, story.number
        assert story.language in LANGUAGES
    in_file_order = sorted(events, key=lambda story: story.story_id)
    for story, report in zip(stories, in_file_order, strict=False):
        assert story.language == report.language
        assert story.text.startswith(report.title) and story.text.endswith(report.summary)


def test_topic_set_is_as_its_header_says(
    topics: list[JudgedTopic], stories: list[JudgedStory], events: list[Labelled]
) -> None:
    (count,) = _stated(STORIES, r"Stories: (\d+)\. The first (?:\d+)")
    (reused,) = _stated(STORIES, r"The first (\d+) are the reports")
    pairs, relevant, cross, unsure = _stated(
        STORIES,
        r"= ([\d,]+) \(topic, story\) pairs, of which (\d+) relevant "
        r"\((\d+) of .*?(\d+) unsure",
    )
    (topic_count,) = _stated(STORIES, r"(\d+) topics, 6 a language")
    language_of = {topic.text: topic.language for topic in topics}
    assert (len(stories), len(topics), reused) == (count, topic_count, len(events))
    assert len(stories) * len(topics) == pairs >= 220
    assert sum(len(story.relevant) for story in stories) == relevant
    assert sum(len(story.unsure) for story in stories) == unsure
    assert cross == sum(
        language_of[topic] != story.language for story in stories for topic in story.relevant
    )


def test_every_topic_has_relevant_stories_in_other_languages_and_traps(
    topics: list[JudgedTopic], stories: list[JudgedStory]
) -> None:
    """Each topic can be measured across languages: relevant stories in 3+ languages."""
    for topic in topics:
        relevant = [story for story in stories if topic.text in story.relevant]
        assert len({story.language for story in relevant}) >= 3, topic
        assert len(relevant) >= 5, topic
