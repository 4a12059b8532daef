"""What a reader may type as a topic, and what the bot makes of it."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from news.analysis import document_terms
from news.errors import TopicError
from news.topics import MAX_TOPIC_LENGTH, parse_topic


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("x" * 500, "characters long"),
        ("🔥🔥🔥", "no words"),
        ('" * ( ) -- ;', "no words"),
        (" ".join(f"w{i}" for i in range(25)), "at most 20"),
    ],
)
def test_bad_topics_say_what_is_wrong(raw: str, reason: str) -> None:
    with pytest.raises(TopicError, match=reason):
        parse_topic(raw)


def test_topic_is_shown_in_normal_form_and_repeats_collapse() -> None:
    assert parse_topic("  Ukraine   UKRAINE peace-talks ").text == "ukraine peace talks"


def test_fts_and_sql_syntax_are_just_words() -> None:
    assert parse_topic('"Kyiv" NEAR(talks) OR 1=1; --').text == "kyiv near talks or 1"


@pytest.mark.parametrize(
    ("topic", "text", "expected"),
    [
        ("ukraine", "Ukraine's allies meet in Paris", True),
        ("peace talks", "Talk of peace grows", True),
        ("peace talks", "Peace concert tonight", False),
        ("geneve", "Talks resume in Genève", True),
        ("GENÈVE", "talks resume in geneve", True),
        ("russia", "Russian drones", False),
    ],
)
def test_matching_ignores_case_accents_and_word_endings(
    topic: str, text: str, expected: bool
) -> None:
    assert parse_topic(topic).matches(document_terms(text, "en")) is expected


@given(st.text(max_size=MAX_TOPIC_LENGTH + 20))
def test_parser_raises_only_its_own_error(raw: str) -> None:
    with contextlib.suppress(TopicError):
        parse_topic(raw)


@given(st.text(max_size=MAX_TOPIC_LENGTH))
def test_normal_form_is_idempotent(raw: str) -> None:
    try:
        topic = parse_topic(raw)
    except TopicError:
        return
    assert parse_topic(topic.text) == topic
