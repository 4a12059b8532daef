"""Matching stories to subscriptions through the percolator agrees with checking every topic."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from news.analysis import document_terms
from news.percolator import Percolator
from news.topics import parse_topic

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
