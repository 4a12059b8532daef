"""Every example topic the bot's texts give works in the language it is given in (issue 23).

Each example of every text (/help, /start, topic errors, "For example: /subscribe …"), as the
catalogs write it, is run against the topic set's stories in six languages and the few written
for the examples (tests/data/topic_eval/help_stories.tsv): it must find a story in its own
language, from a source its `source:` names where it has one. An exclusion must do what the
text says in that language, and only there: it leaves out a story of its language, and no story
of another language that lacks the excluded word (Spanish `-deportes` once left out "Russia
deported thousands of Ukrainian children", stemmed alike).
"""

from __future__ import annotations

import re

import pytest

from handlers.i18n import LANGUAGES
from news.topics import document_terms, parse_topic, words
from news.topics.analysis import strip_accents
from tests.help_examples import Example, Story, examples, stories
from tests.test_bundled_sources import bundled

_EXCLUSION = re.compile(r'(?:^|\s)-(?!source:)("[^"]*"|\S+)')
_SOURCE = re.compile(r'(?:^|\s)-?source:("[^"]*"|\S+)')


@pytest.fixture(scope="module")
def story_set() -> list[tuple[Story, tuple[str, ...]]]:
    return [(story, document_terms(story.text, story.language)) for story in stories()]


def _finds(topic: str, story_set: list[tuple[Story, tuple[str, ...]]]) -> list[Story]:
    parsed = parse_topic(topic)
    return [
        story
        for story, terms in story_set
        if parsed.matches(terms, source=story.source, language=story.language)
    ]


def _every_example() -> list[Example]:
    return list({(example.language, example.topic): example for example in examples()}.values())


def test_every_language_gives_examples_of_each_kind() -> None:
    """The extraction finds what the texts show: words, a phrase, OR, an exclusion, a source."""
    for language in LANGUAGES:
        topics = [example.topic for example in _every_example() if example.language == language]
        assert len(topics) >= 8, (language, topics)
        assert any(topic.startswith('"') for topic in topics), language
        assert any(" OR " in topic for topic in topics), language
        assert any(_EXCLUSION.search(topic) for topic in topics), language
        assert any(topic.startswith("source:") for topic in topics), language


@pytest.mark.parametrize("example", _every_example(), ids=lambda e: f"{e.language}:{e.topic}")
def test_an_example_finds_stories_in_its_own_language(
    example: Example, story_set: list[tuple[Story, tuple[str, ...]]]
) -> None:
    found = [
        story for story in _finds(example.topic, story_set) if story.language == example.language
    ]
    assert found, f"{example.language} {example.topic!r} (from {example.text[:60]!r}) finds nothing"


def _excluded_words(topic: str) -> list[tuple[str, ...]]:
    return [
        tuple(strip_accents(word) for word in words(match.strip('"')))
        for match in _EXCLUSION.findall(topic)
    ]


def _has_words(text: str, phrase: tuple[str, ...]) -> bool:
    """True when `text` has the words of `phrase`, each as typed or inflected by an ending
    (`sport` in "sports", `футбол` in "футболу"): a story in another language may be left out
    for the same word, not for another word that stems alike ("deported" for `-deportes`)."""
    found = [strip_accents(word) for word in words(text)]
    return any(
        all(
            start + offset < len(found) and found[start + offset].startswith(word)
            for offset, word in enumerate(phrase)
        )
        for start in range(len(found))
    )


@pytest.mark.parametrize(
    "example",
    [example for example in _every_example() if _EXCLUSION.search(example.topic)],
    ids=lambda e: f"{e.language}:{e.topic}",
)
def test_an_exclusion_leaves_out_only_what_its_words_say(
    example: Example, story_set: list[tuple[Story, tuple[str, ...]]]
) -> None:
    wanted = _EXCLUSION.sub("", example.topic).strip()
    kept = {id(story) for story in _finds(example.topic, story_set)}
    dropped = [story for story in _finds(wanted, story_set) if id(story) not in kept]
    excluded = _excluded_words(example.topic)
    wrongly = [
        story.text
        for story in dropped
        if story.language != example.language
        and not any(_has_words(story.text, phrase) for phrase in excluded)
    ]
    assert not wrongly, f"{example.language} {example.topic!r} leaves out {wrongly}"


def test_each_languages_first_exclusion_leaves_out_a_story_of_its_language(
    story_set: list[tuple[Story, tuple[str, ...]]],
) -> None:
    """`ukraine -sports` and its translations show an exclusion at work in their language."""
    for language in LANGUAGES:
        example = next(
            e for e in _every_example() if e.language == language and re.search(r"\s-\w", e.topic)
        )
        wanted = _EXCLUSION.sub("", example.topic).strip()
        kept = {id(story) for story in _finds(example.topic, story_set)}
        dropped = [
            story
            for story in _finds(wanted, story_set)
            if id(story) not in kept and story.language == language
        ]
        assert dropped, f"{language} {example.topic!r} leaves out no story in {language}"


def test_a_source_example_names_an_outlet_of_its_language_that_the_bot_reads() -> None:
    """`source:tagesschau` in German: a fresh install reads a German outlet of that name."""
    for example in _every_example():
        for name in _SOURCE.findall(example.topic):
            wanted = tuple(words(name.strip('"')))
            assert any(
                language == example.language and _has_words(outlet, wanted)
                for _, language, outlet in bundled()
            ), f"{example.language} {example.topic!r}: no bundled {example.language} outlet {name}"


def test_a_spanish_exclusion_leaves_english_words_alone() -> None:
    """`ucrania -deportes` (sport) keeps "Russia deported …": Spanish and English stem
    "deportes" and "deported" alike, so the exclusion, Spanish by `ucrania`, applies to Spanish
    stories only."""
    topic = parse_topic("ucrania -deportes")
    assert topic.language == "es"
    english = document_terms("Russia deported thousands of Ukrainian children", "en")
    spanish = document_terms("Ucrania brilla en los deportes de invierno", "es")
    assert topic.matches(english, language="en")
    assert not topic.matches(spanish, language="es")
    assert not topic.matches(english), "a story of unknown language is taken to be Spanish"
