"""The country table's disk cache: a topic finds the same countries whether the table was built,
read from the cache, or rebuilt because the cache was damaged or cannot be written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from news.topics import countries, document_terms, parse_topic


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    countries._table.cache_clear()
    yield tmp_path / "newsbot"
    countries._table.cache_clear()


def finds_ukraine_in_ukrainian() -> bool:
    return parse_topic("ukraine").matches(document_terms("Удар по Україні вночі", "uk"))


def test_the_cached_table_is_the_built_one(cache_home: Path) -> None:
    built = countries._table()
    assert len(list(cache_home.glob("countries-*.json"))) == 1
    countries._table.cache_clear()

    assert countries._table() == built
    assert finds_ukraine_in_ukrainian()
    assert countries.countries_named(("papua", "new", "guinea")) == {"PG"}


def test_a_damaged_cache_is_built_again(cache_home: Path) -> None:
    built = countries._table()
    [cached_file] = cache_home.glob("countries-*.json")
    cached_file.write_text('{"alternatives": {"UA": [["ukrain"', encoding="utf-8")
    countries._table.cache_clear()

    assert countries._table() == built
    assert finds_ukraine_in_ukrainian()
    countries._table.cache_clear()
    assert countries._table() == built  # and the rebuilt table was cached again


def test_an_unwritable_cache_still_answers(cache_home: Path) -> None:
    cache_home.parent.mkdir(parents=True, exist_ok=True)
    cache_home.write_text("a file where the cache folder would be", encoding="utf-8")

    assert finds_ukraine_in_ukrainian()
    assert not any(cache_home.parent.glob("**/countries-*.json"))
