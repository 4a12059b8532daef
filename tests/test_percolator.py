"""Matching stories to subscriptions through the percolator agrees with checking every topic."""

from __future__ import annotations

import contextlib
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from news.errors import TopicError
from news.topics import Topic, document_terms, parse_topic
from news.topics.percolator import Percolator

STORIES = [
    "Ukraine and Russia resume peace talks in Riyadh",
    "Ukrainian drones strike a Russian refinery",
    "Ceasefire holds in Gaza as truce talks continue",
    "Central bank holds interest rates steady",
    "World Cup: France beat Spain in the final",
    "French president visits Kyiv",
]
TOPICS = [
    "ukraine",
    "peace talks",
    '"peace talks"',
    "ceasefire OR truce",
    "gaza truce",
    "france -sports",
    "interest rates",
    "russia -drones",
    "kyiv",
]


def terms(text: str) -> list[str]:
    return list(document_terms(text, "en"))


def test_percolator_finds_exactly_what_checking_every_topic_finds() -> None:
    percolator = Percolator()
    percolator.observe(terms(text) for text in STORIES)
    for chat, topic in enumerate(TOPICS):
        percolator.add(chat, parse_topic(topic).text)

    for story in STORIES:
        expected = {parse_topic(t).text for t in TOPICS if parse_topic(t).matches(terms(story))}
        assert set(percolator.matching_topics(terms(story))) == expected, story


def test_chats_get_one_entry_per_story_naming_their_topics() -> None:
    percolator = Percolator()
    percolator.add(1, "ukraine")
    percolator.add(1, "peace talks")
    percolator.add(2, "ukraine")

    owed = percolator.matching_chats(terms(STORIES[0]))

    assert owed == {1: ["peace talks", "ukraine"], 2: ["ukraine"]}


def test_removing_the_last_follower_removes_the_topic() -> None:
    percolator = Percolator()
    percolator.add(1, "ukraine")
    percolator.add(2, "ukraine")
    percolator.remove(1, "ukraine")
    assert percolator.matching_chats(terms(STORIES[0])) == {2: ["ukraine"]}
    percolator.remove(2, "ukraine")
    assert len(percolator) == 0
    assert percolator.matching_topics(terms(STORIES[0])) == []


WORDS = ["ukraine", "russia", "talks", "peace", "gaza", "truce", "bank", "rates", "kyiv", "war"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=4), min_size=1, max_size=15),
    st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=12), min_size=1, max_size=10),
    st.booleans(),
)
def test_percolator_agrees_with_brute_force(
    topic_words: list[list[str]], story_words: list[list[str]], learn: bool
) -> None:
    percolator = Percolator()
    stories = [terms(" ".join(words)) for words in story_words]
    if learn:
        percolator.observe(stories)
    topics = {parse_topic(" ".join(words)) for words in topic_words}
    for chat, topic in enumerate(topics):
        percolator.add(chat, topic.text)
    for story in stories:
        expected = {topic.text for topic in topics if topic.matches(story)}
        assert set(percolator.matching_topics(story)) == expected


def test_a_phrase_needs_its_words_together_and_in_order() -> None:
    percolator = Percolator()
    percolator.add(1, '"peace talks"')
    percolator.add(2, '"war war"')

    assert percolator.matching_topics(terms("Peace talks resume")) == ['"peace talks"']
    assert percolator.matching_topics(terms("Talks on peace resume")) == []
    assert percolator.matching_topics(terms("Peace returns; talks resume")) == []
    assert percolator.matching_topics(terms("War, war never changes")) == ['"war war"']
    assert percolator.matching_topics(terms("War never changes")) == []


def test_an_excluded_word_or_phrase_takes_the_story_out() -> None:
    percolator = Percolator()
    percolator.add(1, "france -sports")
    percolator.add(2, "france president -sports")
    percolator.add(3, 'france -"world cup"')
    percolator.add(4, "france source:bbc")

    assert percolator.matching_chats(terms("France and its president"), source="BBC") == {
        1: ["france -sports"],
        2: ["france president -sports"],
        3: ['france -"world cup"'],
        4: ["france source:bbc"],
    }
    assert percolator.matching_chats(terms("France president talks sports")) == {
        3: ['france -"world cup"']
    }
    assert percolator.matching_chats(terms("France wins the world cup"), source="RT") == {
        1: ["france -sports"]
    }


def test_removing_topics_leaves_the_others_matching() -> None:
    percolator = Percolator()
    topics = ["france -sports", '"peace talks"', "peace talks", "gaza truce", "truce -sports"]
    for chat, topic in enumerate(topics):
        percolator.add(chat, topic)
        percolator.add(99, topic)
    story = terms("Peace talks on a Gaza truce as France watches")
    for chat, topic in enumerate(topics):
        percolator.remove(chat, topic)
        percolator.remove(99, topic)
        assert set(percolator.matching_topics(story)) == set(topics[chat + 1 :])
    assert len(percolator) == 0
    assert not percolator._entries


# Stems, a country of two words, a word that is also a source's name, words to repeat.
VOCABULARY = [
    "ukraine",
    "peace",
    "talks",
    "talk",
    "gaza",
    "truce",
    "bbc",
    "war",
    "united",
    "states",
]
SOURCES = ["", "BBC News", "Kyiv Independent", "Reuters"]


@st.composite
def topic_texts(draw: st.DrawFn) -> str:
    word = st.sampled_from(VOCABULARY)
    phrase = st.lists(word, min_size=2, max_size=3).map(lambda w: '"' + " ".join(w) + '"')
    item = st.one_of(
        word,
        word,
        phrase,
        st.tuples(st.one_of(word, phrase), st.one_of(word, phrase)).map(" OR ".join),
        st.one_of(word, phrase).map(lambda found: "-" + found),
        st.sampled_from(["source:bbc", "-source:bbc", 'source:"kyiv independent"']),
    )
    return " ".join(draw(st.lists(item, min_size=1, max_size=4)))


# Outlets followed whole: alone, less words or phrases, less another source.
OUTLET_TOPICS = st.sampled_from(
    [
        "source:bbc",
        "source:bbc -war",
        'source:"kyiv independent" -"peace talks"',
        "source:news -source:bbc",
        "source:reuters source:bbc -ukraine",
    ]
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.one_of(topic_texts(), OUTLET_TOPICS), min_size=1, max_size=12),
    st.lists(
        st.tuples(st.lists(st.sampled_from(VOCABULARY), max_size=10), st.sampled_from(SOURCES)),
        min_size=1,
        max_size=8,
    ),
    st.booleans(),
    st.randoms(use_true_random=False),
)
def test_percolator_agrees_with_every_topic_checked_on_its_own(
    raw_topics: list[str],
    story_words: list[tuple[list[str], str]],
    learn: bool,
    rng: random.Random,
) -> None:
    """Every shape of topic (phrases, OR, exclusions, sources), several chats following several
    topics, before and after unsubscribing: the same pushes as `Topic.matches` on each topic."""
    stories = [(terms(" ".join(words)), source) for words, source in story_words]
    topics: list[Topic] = []
    for raw in raw_topics:
        with contextlib.suppress(TopicError):
            topics.append(parse_topic(raw))
    percolator = Percolator()
    if learn:
        percolator.observe(story for story, _ in stories)
    following = {(rng.randrange(5), topic) for topic in topics for _ in range(rng.randint(1, 3))}
    for chat, topic in following:
        percolator.add(chat, topic if rng.random() < 0.5 else topic.text)
    for _ in range(2):
        for story, source in stories:
            expected: dict[int, list[str]] = {}
            for chat, topic in sorted(following, key=lambda pair: (pair[0], pair[1].text)):
                if topic.matches(story, source=source):
                    expected.setdefault(chat, []).append(topic.text)
            assert percolator.matching_chats(story, source=source) == expected
            assert set(percolator.matching_topics(story, source=source)) == {
                text for texts in expected.values() for text in texts
            }
        leaving = {pair for pair in following if rng.random() < 0.5}
        for chat, topic in leaving:
            percolator.remove(chat, topic.text)
        following -= leaving
    assert len(percolator) == len({topic.text for _, topic in following})


def test_an_outlet_topic_gets_every_story_of_its_sources_and_nothing_else() -> None:
    percolator = Percolator()
    percolator.add(1, "source:bbc")
    percolator.add(2, "source:bbc -sports")
    percolator.add(3, "ukraine source:bbc")

    assert percolator.matching_chats(terms("Cricket scores and sports"), source="BBC News") == {
        1: ["source:bbc"]
    }
    assert percolator.matching_chats(terms("Ukraine votes"), source="BBC World") == {
        1: ["source:bbc"],
        2: ["source:bbc -sports"],
        3: ["ukraine source:bbc"],
    }
    assert percolator.matching_chats(terms("Ukraine votes"), source="Reuters") == {}
    assert percolator.matching_chats(terms("Ukraine votes"), source="") == {}


def test_outlet_topics_coming_and_going_change_what_a_known_source_leads_to() -> None:
    percolator = Percolator()
    percolator.add(1, "source:bbc")
    story = terms("Elections in France")
    assert percolator.matching_topics(story, source="BBC News") == ["source:bbc"]

    percolator.add(2, 'source:"bbc news"')
    assert set(percolator.matching_topics(story, source="BBC News")) == {
        "source:bbc",
        'source:"bbc news"',
    }
    percolator.remove(1, "source:bbc")
    assert percolator.matching_topics(story, source="BBC News") == ['source:"bbc news"']
    percolator.remove(2, 'source:"bbc news"')
    assert percolator.matching_topics(story, source="BBC News") == []
    assert len(percolator) == 0
    assert not percolator._entries and not percolator._outlets


def test_thousands_of_followed_outlets_are_looked_up_by_name_not_scanned() -> None:
    percolator = Percolator()
    for number in range(5000):
        percolator.add(number, f"source:outlet{number}")
    story = terms("Anything at all")

    assert percolator.matching_chats(story, source="Outlet1234 Daily") == {
        1234: ["source:outlet1234"]
    }
    # Filed under the first word of the name each asks for: one list a name word, not one
    # list of every outlet's topic.
    assert len(percolator._outlets) == 5000
    assert all(len(topics) == 1 for topics in percolator._outlets.values())


def test_an_exclusion_in_the_topics_language_spares_other_languages() -> None:
    """`ucrania -deportes` is Spanish (`ucrania`): its stem "deport" leaves out Spanish stories
    only, so the English "deported" is pushed; the same with a phrase and an outlet's topic."""
    percolator = Percolator()
    percolator.add(1, "ucrania -deportes")
    percolator.add(2, 'ucrania -"deportes de invierno"')
    percolator.add(3, "source:bbc -deportes -rusia")
    deported = document_terms("Russia deported thousands of Ukrainian children", "en")
    deported_es = document_terms("Ucrania: el tribunal y los niños deportados", "es")
    sport = document_terms("Ucrania brilla en los deportes de invierno", "es")

    for language in ("en", "de"):
        assert percolator.matching_chats(deported, language=language) == {
            1: ["ucrania -deportes"],
            2: ['ucrania -"deportes de invierno"'],
        }
    assert percolator.matching_chats(deported_es, source="BBC Mundo", language="es") == {
        2: ['ucrania -"deportes de invierno"']
    }
    assert percolator.matching_chats(sport, source="BBC Mundo", language="es") == {}
    # A story of unknown language is taken to be in the topic's.
    assert percolator.matching_chats(deported) == {2: ['ucrania -"deportes de invierno"']}
    topics = [parse_topic(text) for text in percolator.matching_topics([], source="BBC")]
    topics += [parse_topic("ucrania -deportes"), parse_topic('ucrania -"deportes de invierno"')]
    for story in (deported, deported_es, sport):
        for story_language in ("en", "es", None):
            expected = {
                t.text for t in topics if t.matches(story, source="BBC", language=story_language)
            }
            found = percolator.matching_topics(story, source="BBC", language=story_language)
            assert set(found) == expected, (story, story_language)
