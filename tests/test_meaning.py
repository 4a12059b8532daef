"""Story meanings (`news.meaning`): reports of one event in two languages are closer than
unrelated stories, Ukrainian included; packing keeps the direction; no text makes it raise."""

from __future__ import annotations

import itertools
import statistics

import numpy
from hypothesis import given, settings
from hypothesis import strategies as st

from news.meaning import (
    MEANING_TEXT_LIMIT,
    default_encoder,
    pack,
    story_meaning_text,
    unpack,
)
from tests.labelled import multilingual_set


def test_reports_of_one_event_in_other_languages_are_closer_than_unrelated_stories() -> None:
    stories = multilingual_set()
    encoder = default_encoder()
    vectors = encoder.encode([story_meaning_text(s.title, s.summary) for s in stories])
    assert vectors.shape == (len(stories), encoder.dimensions)
    assert vectors.dtype == numpy.float32
    similarity = vectors @ vectors.T
    same: list[float] = []
    unrelated: list[float] = []
    ukrainian_same: list[float] = []
    wins = pairs = 0
    for i, j in itertools.combinations(range(len(stories)), 2):
        a, b = stories[i], stories[j]
        if a.language == b.language:
            continue
        # Distractors share people and places: not "unrelated"; left out of both sides.
        if a.label != b.label and a.label.partition("~")[0] == b.label.partition("~")[0]:
            continue
        if a.label == b.label:
            same.append(float(similarity[i, j]))
            if "uk" in (a.language, b.language):
                ukrainian_same.append(float(similarity[i, j]))
        else:
            unrelated.append(float(similarity[i, j]))
    # Each report, against every other-language report: its own event's reports rank above
    # the median unrelated one.
    for i, story in enumerate(stories):
        others = [j for j, other in enumerate(stories) if other.language != story.language]
        own = [float(similarity[i, j]) for j in others if stories[j].label == story.label]
        if not own:
            continue
        pairs += 1
        foreign = [float(similarity[i, j]) for j in others if stories[j].label != story.label]
        wins += int(max(own) > float(numpy.percentile(foreign, 99)))
    assert statistics.median(same) > statistics.median(unrelated) + 0.25, (
        statistics.median(same),
        statistics.median(unrelated),
    )
    assert statistics.median(ukrainian_same) > statistics.median(unrelated) + 0.2
    assert wins / pairs > 0.9, f"{wins} of {pairs}"


def test_a_ukrainian_topic_is_closest_to_the_english_report_of_it() -> None:
    encoder = default_encoder()
    topic, *headlines = encoder.encode(
        [
            "мирні переговори",
            "Russia and Ukraine agree to resume peace talks in Istanbul",
            "Apple unveils a thinner iPhone with a faster chip",
            "Heavy rain floods streets in southern Spain",
        ]
    )
    scores = [float(topic @ headline) for headline in headlines]
    assert scores[0] == max(scores) and scores[0] - max(scores[1:]) > 0.1, scores


def test_packed_meanings_keep_their_direction() -> None:
    vectors = default_encoder().encode(["Election results", "Wahlergebnis", "Fußballspiel"])
    blobs = pack(vectors)
    assert [len(blob) for blob in blobs] == [512] * 3
    back = unpack(blobs)
    assert back.shape == (3, 512) and back.dtype == numpy.float32
    assert numpy.allclose(numpy.linalg.norm(back, axis=1), 1, atol=1e-5)
    assert float(numpy.min(numpy.sum(back * vectors, axis=1))) > 0.999
    assert numpy.allclose(back @ back.T, vectors @ vectors.T, atol=0.003)


def test_empty_inputs() -> None:
    encoder = default_encoder()
    assert encoder.encode([]).shape == (0, encoder.dimensions)
    assert pack(numpy.empty((0, 512), dtype=numpy.float32)) == []
    assert unpack([]).shape == (0, 512)
    [row] = encoder.encode([""])
    assert abs(float(numpy.linalg.norm(row)) - 1) < 1e-5
    assert story_meaning_text("", "") == ""


def test_a_zero_row_packs_and_unpacks_to_zeros() -> None:
    back = unpack(pack(numpy.zeros((1, 512), dtype=numpy.float32)))
    assert not back.any()


def test_a_packed_meaning_of_the_wrong_size_is_refused() -> None:
    try:
        unpack([b"\x01" * 100])
    except ValueError:
        return
    raise AssertionError("a 100-byte meaning was read as 512 dimensions")


def test_very_long_texts_are_bounded() -> None:
    title = "Parliament passes the budget"
    summary = "The vote was close. " + "Word " * 50_000
    text = story_meaning_text(title, summary)
    assert text.startswith("Parliament passes the budget. The vote was close.")
    assert len(text) <= MEANING_TEXT_LIMIT
    long_sentence = story_meaning_text(title, "x" * 10_000)
    assert long_sentence.startswith(title) and len(long_sentence) <= MEANING_TEXT_LIMIT
    [row] = default_encoder().encode(["Budget " * 200_000])  # cut, not tokenized whole
    assert abs(float(numpy.linalg.norm(row)) - 1) < 1e-5


def test_the_meaning_text_is_the_headline_and_the_lead_s_first_sentences() -> None:
    assert (
        story_meaning_text("Storm hits coast", "Storm hits coast. Thousands lose power. More.")
        == "Storm hits coast. Thousands lose power. More."
    )
    assert story_meaning_text("Storm hits coast!", "  Thousands\n lose power.") == (
        "Storm hits coast! Thousands lose power."
    )


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=3000), st.text(max_size=3000))
def test_any_text_has_a_meaning(title: str, summary: str) -> None:
    text = story_meaning_text(title, summary)
    assert len(text) <= MEANING_TEXT_LIMIT
    vectors = default_encoder().encode([text, title, summary])
    assert vectors.shape == (3, 512)
    assert numpy.isfinite(vectors).all()
    assert numpy.allclose(numpy.linalg.norm(vectors, axis=1), 1, atol=1e-4)
    assert numpy.isfinite(unpack(pack(vectors))).all()
