"""Full-text search gives the same answers on SQLite and PostgreSQL as in-memory matching.

One set of stories in six languages goes into both databases; one set of topics (words,
phrases, OR, exclusions, sources, demonyms) is asked of both, page by page with the keyset
cursor, and each answer must equal what `Topic.matches`, the push path, finds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from news.model import StoryDraft
from news.topics import document_terms, parse_topic
from storage import SqlStorage, create_engine
from storage.database import migrate
from storage.search import necessary
from tests.conftest import empty_storage
from tests.storage_helpers import all_pages

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

# (source, language, headline, seconds before T0); several share a second, one has microseconds.
STORIES = [
    ("bbc", "en", "Peace talks on Ukraine resume in Geneva", 0),
    ("bbc", "en", "Ukrainian drones strike a Russian refinery", 0),
    ("bbc", "en", "Talks about peace stall as winter comes", 0.25),
    ("reuters", "en", "Russia and Ukraine agree on a prisoner swap", 60),
    ("reuters", "en", "Ukraine out of the World Cup after a loss", 60),
    ("reuters", "en", "French farmers block roads around Paris", 61),
    ("reuters", "en", "A truce holds in Gaza for a second day", 120),
    ("bbc", "en", "Ceasefire talks in Gaza move to Cairo", 180),
    ("spiegel", "de", "Ukrainische Truppen halten die Front bei Charkiw", 240),
    ("spiegel", "de", "Friedensgespräche: Selenskyj trifft Macron in Paris", 300),
    ("monde", "fr", "Les forces ukrainiennes reprennent un village", 360),
    ("monde", "fr", "La France et l'Allemagne relancent leur coopération", 420),
    ("pais", "es", "Ucrania recibe nuevos sistemas de defensa aérea", 480),
    ("pais", "es", "Tregua en Gaza: Israel y Hamás negocian en El Cairo", 540),
    ("ria", "ru", "Переговоры России и Украины в Стамбуле", 600),
    ("ria", "ru", "Российские военные сообщили об ударах", 660),
    ("pravda", "uk", "Уряд України схвалив новий бюджет", 720),
    ("pravda", "uk", "Вибухи у Києві вночі: працює ППО", 780),
    ("pravda", "uk", "Переговори про мир з Росією відкладено", 840),
    ("bbc", "en", "United States imposes tariffs on Chinese steel", 900),
    ("bbc", "en", "American and Mexican officials meet on migration", 960),
    ("bbc", "en", "Peace talks: Ukraine and Russia meet in Riyadh", 0.9),
    ("ap", "en", "Russia deported thousands of Ukrainian children, court says", 1020),
    ("pais", "es", "Ucrania brilla en los deportes de invierno", 1080),
]

TOPICS = [
    "ukraine",
    "ukrainian",
    "Україна",
    "russia",
    "france",
    "peace talks",
    '"peace talks"',
    "ceasefire OR truce",
    "gaza ceasefire OR truce OR tregua",
    'ukraine -sports -"world cup"',
    "ukraine source:bbc",
    "ukraine -source:bbc",
    "source:bbc",
    "source:bbc -ukraine",
    'source:reuters source:pravda -"world cup"',
    "source:nowhere",
    "united states",
    "Київ",
    "переговоры",
    "nothing-matches-this",
    "ucrania -deportes",
    "ucrania -deportes -source:bbc",
    "source:pais -deportes",
]


def _drafts(source_ids: dict[str, int]) -> list[StoryDraft]:
    return [
        StoryDraft(
            source_id=source_ids[source],
            entry_id=str(number),
            title=headline,
            summary="",
            link=f"https://{source}.example/{number}",
            published_at=T0 - timedelta(seconds=ago),
            language=language,
            terms=document_terms(headline, language),
        )
        for number, (source, language, headline, ago) in enumerate(STORIES)
    ]


async def _filled(url: str) -> SqlStorage:
    storage = await empty_storage(url)
    source_ids = {}
    for name in sorted({source for source, *_ in STORIES}):
        source = await storage.add_source(f"https://{name}.example/feed", now=T0)
        source_ids[name] = source.id
    drafts = _drafts(source_ids)
    await storage.store_stories(drafts[:-1], now=T0)
    # Stored last, so with the highest id, yet published earlier within the same second as
    # "Talks about peace stall": order within a second is by time, not by id.
    await storage.store_stories(drafts[-1:], now=T0)
    return storage


@pytest.fixture
async def backends(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[dict[str, SqlStorage]]:
    stores = {"sqlite": await _filled(f"sqlite:///{tmp_path / 'search.db'}")}
    stores["postgresql"] = await _filled(request.getfixturevalue("postgres_database"))
    yield stores
    for store in stores.values():
        await store.close()


@pytest.mark.postgres
async def test_both_backends_and_push_matching_give_the_same_answers(
    backends: dict[str, SqlStorage],
) -> None:
    everything = await backends["sqlite"].latest(None, limit=100)
    assert len(everything) == len(STORIES)
    for raw in TOPICS:
        topic = parse_topic(raw)
        expected = [
            story.title
            for story in everything
            if topic.matches(story.terms, source=story.source_name, language=story.language)
        ]
        for name, storage in backends.items():
            for page in (1, 2, 5, 50):
                found = [story.title for story in await all_pages(storage, raw, page)]
                assert found == expected, (name, raw, page)


@pytest.mark.postgres
async def test_the_topics_find_what_they_should(backends: dict[str, SqlStorage]) -> None:
    async def titles(raw: str) -> set[str]:
        return {s.title for s in await backends["sqlite"].latest(parse_topic(raw), limit=50)}

    ukraine = await titles("ukraine")
    assert "Ukrainian drones strike a Russian refinery" in ukraine
    assert "Уряд України схвалив новий бюджет" in ukraine
    assert "Переговоры России и Украины в Стамбуле" in ukraine
    assert "Les forces ukrainiennes reprennent un village" in ukraine
    assert "French farmers block roads around Paris" not in ukraine
    assert await titles('"peace talks"') == {
        "Peace talks on Ukraine resume in Geneva",
        "Peace talks: Ukraine and Russia meet in Riyadh",
    }
    assert "Ukraine out of the World Cup after a loss" not in await titles('ukraine -"world cup"')
    outlet = await titles("source:reuters -gaza")
    assert outlet == {
        "Russia and Ukraine agree on a prisoner swap",
        "Ukraine out of the World Cup after a loss",
        "French farmers block roads around Paris",
    }
    assert await titles("source:nowhere") == set()
    # Spanish `-deportes` (sport) leaves out Spanish sport, not the English "deported".
    ucrania = await titles("ucrania -deportes")
    assert "Russia deported thousands of Ukrainian children, court says" in ucrania
    assert "Ucrania brilla en los deportes de invierno" not in ucrania
    assert await titles("united states") == {
        "United States imposes tariffs on Chinese steel",
        "American and Mexican officials meet on migration",
    }


async def test_migration_reanalyses_stories_stored_as_sorted_sets(tmp_path: Path) -> None:
    from storage.database import upgrade

    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(upgrade, "0002")
        await conn.execute(
            text(
                "INSERT INTO sources (id, url, origin, enabled, error_count, created_at) "
                "VALUES (1, 'https://a.example/feed', 'file', 1, 0, '2025-03-01 12:00:00.000000')"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO stories (source_id, entry_id, title, summary, link, published_at, "
                "first_seen_at, language, terms) VALUES (1, 'e1', 'Peace talks resume', "
                "'In Geneva.', 'https://a.example/1', '2025-03-01 11:00:00.000000', "
                "'2025-03-01 11:00:00.000000', 'en', 'genev in peac resum talk')"
            )
        )
    await migrate(engine)
    storage = SqlStorage(engine)
    try:
        [story] = await storage.latest(parse_topic('"peace talks" geneva'), limit=5)
        assert story.terms == document_terms("Peace talks resume In Geneva.", "en")
    finally:
        await storage.close()


async def test_migration_indexes_the_language_of_stories_stored_before(tmp_path: Path) -> None:
    """Migration 0017 (SQLite): stories stored before it are indexed with their language, so
    an exclusion in one language leaves out that language's stories only."""
    from storage.database import upgrade

    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(upgrade, "0015")
        await conn.execute(
            text(
                "INSERT INTO sources (id, url, origin, enabled, error_count, created_at) "
                "VALUES (1, 'https://a.example/feed', 'file', 1, 0, '2025-03-01 12:00:00.000000')"
            )
        )
        for number, (language, title) in enumerate(
            [
                ("en", "Russia deported thousands of Ukrainian children"),
                ("es", "Ucrania brilla en los deportes de invierno"),
            ]
        ):
            await conn.execute(
                text(
                    "INSERT INTO stories (source_id, entry_id, title, summary, link, "
                    "published_at, first_seen_at, language, terms) VALUES (1, :entry, :title, "
                    "'', :link, '2025-03-01 11:00:00.000000', '2025-03-01 11:00:00.000000', "
                    ":language, :terms)"
                ),
                {
                    "entry": str(number),
                    "title": title,
                    "link": f"https://a.example/{number}",
                    "language": language,
                    "terms": " ".join(document_terms(title, language)),
                },
            )
    await migrate(engine)
    storage = SqlStorage(engine)
    try:
        found = await storage.latest(parse_topic("ucrania -deportes"), limit=5)
        assert [story.language for story in found] == ["en"]
        assert len(await storage.latest(parse_topic("ucrania"), limit=5)) == 2
    finally:
        await storage.close()


def _holds(story: Sequence[str], phrase: Sequence[str]) -> bool:
    return any(
        tuple(story[start : start + len(phrase)]) == tuple(phrase)
        for start in range(len(story) - len(phrase) + 1)
    )


@given(
    phrases=st.lists(
        st.lists(st.sampled_from("abcd"), min_size=1, max_size=3).map(tuple),
        min_size=1,
        max_size=6,
        unique=True,
    ),
    story=st.lists(st.sampled_from("abcde"), max_size=8),
)
def test_phrases_a_topic_searches_match_the_same_stories_as_all_of_its_phrases(
    phrases: list[tuple[str, ...]], story: list[str]
) -> None:
    """The index is asked only for phrases that hold no other (a story with "republic of
    peru" has "peru"): never a different answer."""
    searched = necessary(phrases)
    assert set(searched) <= set(phrases)
    assert any(_holds(story, p) for p in searched) == any(_holds(story, p) for p in phrases)


async def test_a_country_topic_finds_its_long_names_through_the_short_one(
    storage: SqlStorage,
) -> None:
    source = await storage.add_source("https://news.example.org/feed", now=T0)
    await storage.store_stories(
        [
            StoryDraft(
                source.id, "e1", "La República del Perú vota", "", "https://news.example.org/1",
                T0, "es", document_terms("La República del Perú vota", "es"),
            ),
        ],
        now=T0,
    )  # fmt: skip
    found = await storage.latest(parse_topic("peru"), limit=5)
    assert [story.title for story in found] == ["La República del Perú vota"]


async def test_a_phrase_newer_than_the_single_words_is_listed_on_every_page(
    storage: SqlStorage,
) -> None:
    """A topic's group of single words and phrases ("maputo" holds "republica de mocambique"):
    SQLite bounds its window by the single words' newest hits, so phrase stories newer than
    them, older, and between them must all come, page by page, in time order."""
    source = await storage.add_source("https://news.example.org/feed", now=T0)
    headlines = [
        *(f"Maputo floods recede, day {day}" for day in range(8)),
        "Republica de Mocambique votes on a budget",
        "Republica de Mocambique signs a treaty",
        "Republica de Mocambique was founded in 1975",
        "Mocambique de Republica: words apart",
    ]
    # The phrase stories newest, one in the middle, one oldest; the last holds the words only.
    ages = [*range(10, 90, 10), 1, 2, 45, 0]
    drafts = [
        StoryDraft(
            source.id, f"e{n}", title, "", f"https://news.example.org/{n}",
            T0 - timedelta(minutes=age), "en", document_terms(title, "en"),
        )
        for n, (title, age) in enumerate(zip(headlines, ages, strict=True))
    ]  # fmt: skip
    await storage.store_stories(drafts, now=T0)
    expected = [
        title
        for title, _ in sorted(zip(headlines, ages, strict=True), key=lambda pair: pair[1])
        if not title.startswith("Mocambique de")
    ]
    for page in (1, 2, 3, 5, 6, 20):
        found = [story.title for story in await all_pages(storage, "maputo", page)]
        assert found == expected, page
