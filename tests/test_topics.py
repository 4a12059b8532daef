"""What a reader may type as a topic, and what the bot makes of it."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from news.errors import TopicError
from news.topics import MAX_TOPIC_LENGTH, countries_named, document_terms, parse_topic, source_term


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("x" * 500, "characters long"),
        ("🔥🔥🔥", "no words"),
        ("* ( ) -- ;", "no words"),
        ('" * ( ) -- ;', "quote"),
        ('ukraine "peace talks', "quote"),
        ("-sports", "only says what to leave out"),
        ('-sports -"world cup"', "only says what to leave out"),
        ("-source:bbc", "only says what to leave out"),
        ("-sports -source:bbc", "only says what to leave out"),
        ("ukraine OR", "OR goes between"),
        ("OR ukraine", "OR goes between"),
        ("ukraine OR -sports", "OR goes between"),
        (" ".join(f"w{i}" for i in range(25)), "at most 20"),
        ('"' + " ".join(f"w{i}" for i in range(21)) + '"', "at most 20"),
    ],
)
def test_bad_topics_say_what_is_wrong(raw: str, reason: str) -> None:
    with pytest.raises(TopicError, match=reason):
        parse_topic(raw)


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("  Ukraine   UKRAINE ", "ukraine"),
        ("Ukraine -Sports", "ukraine -sports"),
        ("-sports ukraine -SPORTS", "ukraine -sports"),
        ("Ukraine −sports", "ukraine -sports"),  # a typographic minus, as phones type it
        ('"Peace   Talks"', '"peace talks"'),
        ("“peace talks” Gaza", '"peace talks" gaza'),  # curly quotes, as phones type them
        ("peace-talks", '"peace talks"'),
        ('"ukraine"', "ukraine"),
        ("ceasefire OR truce gaza", "ceasefire OR truce gaza"),
        ("ceasefire or truce", "ceasefire or truce"),  # lower-case "or" is a word
        ("gaza (ceasefire OR truce)", "gaza ceasefire OR truce"),
        ("ukraine Source:BBC source:bbc", "ukraine source:bbc"),
        (
            'ukraine source:"Kyiv Independent" -source:rt',
            'ukraine source:"kyiv independent" -source:rt',
        ),
        ("United States tariffs", '"united states" tariffs'),
        ("Україна", "україна"),
    ],
)
def test_topic_is_shown_in_normal_form(raw: str, normal: str) -> None:
    topic = parse_topic(raw)
    assert topic.text == normal
    assert parse_topic(normal) == topic


def test_the_same_topic_written_twice_is_one_topic() -> None:
    assert parse_topic("UKRAINE -sports") == parse_topic("-Sports   ukraine")


def test_query_syntax_is_just_words() -> None:
    assert parse_topic("Kyiv NEAR(talks) 1=1; --").text == 'kyiv "near talks" "1 1"'


def matches(topic: str, text: str, language: str = "en", source: str = "") -> bool:
    return parse_topic(topic).matches(document_terms(text, language), source=source)


@pytest.mark.parametrize(
    ("topic", "text", "expected"),
    [
        ("ukraine", "Ukraine's allies meet in Paris", True),
        ("peace talks", "Talk of peace grows", True),
        ("peace talks", "Peace concert tonight", False),
        ("geneve", "Talks resume in Genève", True),
        ("GENÈVE", "talks resume in geneve", True),
        ('"peace talks"', "Peace talks resume", True),
        ('"peace talks"', "Talks on peace resume", False),
        ("ceasefire OR truce", "A truce holds", True),
        ("ceasefire OR truce", "Fighting goes on", False),
        ("gaza ceasefire OR truce", "A truce holds in Gaza", True),
        ("gaza ceasefire OR truce", "A truce holds in Sudan", False),
        ("ukraine -sports", "Ukraine wins at sports", False),
        ("ukraine -sports", "Ukraine talks", True),
        ('ukraine -"world cup"', "Ukraine out of the World Cup", False),
        ('ukraine -"world cup"', "Ukraine: a world of trouble, a cup of tea", True),
    ],
)
def test_matching_ignores_case_accents_and_word_endings(
    topic: str, text: str, expected: bool
) -> None:
    assert matches(topic, text) is expected


@pytest.mark.parametrize(
    ("topic", "text", "language"),
    [
        ("ukraine", "Ukrainian drones hit a depot", "en"),
        ("ukrainian", "Ukraine's harvest", "en"),
        ("france", "French farmers protest", "en"),
        ("french", "France votes", "en"),
        ("russia", "Russian troops advance", "en"),
        ("russian", "Russia warns the West", "en"),
        ("ukraine", "Selenskyj besucht die Ukraine", "de"),
        ("ukraine", "Ukrainische Truppen rücken vor", "de"),
        ("ukraine", "Les forces ukrainiennes avancent", "fr"),
        ("ukraine", "Las tropas ucranianas avanzan", "es"),
        ("ukraine", "Украинские военные отступили", "ru"),
        ("ukraine", "Удар по Україні вночі", "uk"),
        ("Україна", "Уряд України схвалив бюджет", "uk"),
        ("Україна", "Удар по Україні вночі", "uk"),
        ("Київ", "Вибухи у Києві вночі", "uk"),
        ("Україна", "Ukraine's harvest", "en"),
        ("украина", "Переговоры об Украине", "ru"),
        ("united states", "American tariffs on steel", "en"),
        ("usa", "The United States imposes tariffs", "en"),
        ("germany", "Deutsche Autobauer unter Druck", "de"),
        ("mexico", "Mexican exports rise", "en"),
        ("japan", "Japanese yen falls", "en"),
    ],
)
def test_topics_are_multilingual_and_know_demonyms(topic: str, text: str, language: str) -> None:
    assert matches(topic, text, language)


@pytest.mark.parametrize(
    ("topic", "everyday", "about_it", "language"),
    [
        ("canada", "Prices can rise again next year", "Canada sets new tariffs", "en"),
        ("maputo", "Google Maps adds new map layers", "Floods cut roads to Maputo", "en"),
        ("cuba", "A bear cub was born at the zoo", "Cuba restores power after blackout", "en"),
        ("canada", "Los precios pueden subir", "Canadá anuncia nuevos aranceles", "es"),
    ],
)
def test_a_country_topic_never_matches_an_everyday_word_its_stems_look_like(
    topic: str, everyday: str, about_it: str, language: str
) -> None:
    """Spanish stems "Canada" to "can", Italian "Maputo" to "map": as alternatives of the
    topic, those matched (and pushed) every English story with "can" or "maps"."""
    assert not matches(topic, everyday, language)
    assert matches(topic, about_it, language)


@pytest.mark.parametrize(
    ("topic", "text", "language"),
    [
        ("russia", "Ukraine votes", "en"),
        ("togo", "Того же дня", "ru"),  # "того" ("of that") is Togo in Russian: left out
        ("united states", "United we stand, the states said", "en"),  # a country is a phrase
    ],
)
def test_country_names_do_not_spill_over(topic: str, text: str, language: str) -> None:
    assert not matches(topic, text, language)


def test_only_whole_country_names_count() -> None:
    assert countries_named(("guinea",)) == {"GN"}
    assert countries_named(("papua", "new", "guinea")) == {"PG"}
    assert countries_named(("new",)) == frozenset()


def test_source_filter_reads_the_source_name() -> None:
    assert matches("ukraine source:bbc", "Ukraine votes", source="BBC News")
    assert not matches("ukraine source:bbc", "Ukraine votes", source="Reuters")
    assert matches('ukraine source:"kyiv independent"', "Ukraine", source="The Kyiv Independent")
    assert not matches("ukraine -source:bbc", "Ukraine votes", source="BBC News")
    assert matches("ukraine source:bbc source:reuters", "Ukraine", source="Reuters World")


def test_a_topic_of_sources_alone_follows_the_whole_outlet() -> None:
    topic = parse_topic("Source:BBC")
    assert topic.is_outlet and topic.text == "source:bbc"
    assert matches("source:bbc", "Anything at all: a cricket score", source="BBC News")
    assert not matches("source:bbc", "Anything at all", source="Reuters")
    assert matches('source:"kyiv independent"', "Weather", source="The Kyiv Independent")
    assert not matches('source:"kyiv independent"', "Weather", source="Kyiv Post Independent")


def test_an_outlet_topic_may_leave_words_and_sources_out_and_reads_outlet_first() -> None:
    topic = parse_topic('-Sports source:BBC -"world cup" -source:sport')
    assert topic.text == 'source:bbc -source:sport -sports -"world cup"'
    assert topic.is_outlet
    assert matches(topic.text, "Elections in France", source="BBC News")
    assert not matches(topic.text, "Sports round-up", source="BBC News")
    assert not matches(topic.text, "The World Cup final", source="BBC News")
    assert not matches(topic.text, "Elections in France", source="BBC Sport")
    assert not parse_topic("ukraine source:bbc").is_outlet


def test_each_source_name_has_a_term_that_follows_it() -> None:
    assert source_term("BBC News") == 'source:"bbc news"'
    assert source_term("Reuters") == "source:reuters"
    assert source_term("🔥") == ""
    for name in ("BBC News", "The Kyiv Independent", "Le Monde.fr", "ТСН"):
        assert matches(source_term(name), "Anything", source=name)


_SOURCE_TERMS = st.lists(
    st.tuples(
        st.sampled_from(["source:", "-source:", "Source:", "-"]),
        st.sampled_from(["bbc", '"BBC News"', "dw", "Reuters", '"kyiv independent"', "sports"]),
    ).map("".join),
    min_size=1,
    max_size=6,
).map(" ".join)


@given(_SOURCE_TERMS)
def test_source_only_topics_normalise_idempotently(raw: str) -> None:
    try:
        topic = parse_topic(raw)
    except TopicError as error:
        assert "source:" not in raw.replace("-source:", "")  # only exclusions: refused
        assert "leave out" in error.template
        return
    assert topic.is_outlet
    assert parse_topic(topic.text) == topic
    assert topic.text.startswith("source:")


@given(st.text(max_size=MAX_TOPIC_LENGTH + 20))
def test_parser_raises_only_its_own_error(raw: str) -> None:
    with contextlib.suppress(TopicError):
        parse_topic(raw)


_SYNTAX = st.sampled_from(
    ["OR", "-", '"', "source:", "(", ")", " ", "ukraine", "United", "States", "Київ", "é"]
)


@settings(max_examples=300)
@given(st.lists(st.one_of(_SYNTAX, st.text(max_size=6)), max_size=12).map(" ".join))
# Found by hypothesis: a repeated word dropped brought "united" and "states" together.
@example("0 United 0 States")
@example("0:0 United 0:0 States")
def test_normal_form_is_idempotent(raw: str) -> None:
    try:
        topic = parse_topic(raw)
    except TopicError:
        return
    assert parse_topic(topic.text) == topic
    assert parse_topic(topic.text).text == topic.text


def test_a_word_the_lemmatiser_cannot_read_is_kept_as_it_is() -> None:
    topic = parse_topic("Київ 𗀀")  # a Tangut character: pymorphy3 has no shape for it
    assert "𗀀" in topic.text
    assert document_terms("Київ 𗀀 новини", "uk") == ("киів", "𗀀", "новина")
