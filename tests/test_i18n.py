"""The bot speaks its readers' languages: complete catalogs, sound translations, right plurals.

The catalog checks read the shipped `.po` files and the texts marked in the code, so a text added
without `make i18n`, an untranslated or fuzzy entry, a placeholder lost in translation, a
translation Telegram would refuse as HTML, or a `.mo` older than its `.po` fails here; so does a
placeholder or short label without a translator comment saying what it holds, and what a native
editor of each language has already caught once: a formal *Sie* in the German *du* catalog,
*chaîne* (Telegram's French says *canal*) and a Russian or Ukrainian topic declined by nobody
after a preposition ("подписаны на {topic}"). The rest
goes through the real code and, for replies and the command menu, the real client and the fake
Bot API.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.i18n import DOMAIN, LANGUAGES, LOCALE_DIR, english, language_for, texts_in
from handlers.render import more_sources
from handlers.routes import command_menu
from handlers.settings import settings_keyboard, settings_text
from news.errors import N_plural, TopicError
from news.model import ChatSettings
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import FeedItem, rss_feed
from tests.fakes.telegram import FakeBotApi
from tests.fakes.telegram.text_rules import parse_html
from tests.harness import RunningBot, ask, seeded_bot

ROOT = Path(__file__).resolve().parent.parent
TRANSLATED = [language for language in LANGUAGES if language != "en"]
# The keywords `make i18n` extracts with (see the Makefile).
KEYWORDS = {
    "_": None,
    "ngettext": (1, 2),
    "pgettext": ((1, "c"), 2),
    "N_": None,
    "N_plural": (1, 2),
}
PLACEHOLDER = re.compile(r"\{(\w+)\}")
NOW = datetime(2025, 2, 14, 12, 0, tzinfo=UTC)


def catalog(language: str) -> Catalog:
    with (LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as po:
        return read_po(po, locale=language)


def messages(language: str) -> Iterator[Message]:
    return (message for message in catalog(language) if message.id)


def forms(message: Message) -> list[str]:
    return list(message.string) if isinstance(message.string, tuple) else [str(message.string)]


def sources(message: Message) -> list[str]:
    return list(message.id) if isinstance(message.id, tuple) else [str(message.id)]


def key(message: Message) -> tuple[str | None, str]:
    return message.context, sources(message)[0]


def filled(text: str, value: str = "x") -> str:
    return PLACEHOLDER.sub(lambda _: value, text)


def entity_types(html_text: str) -> Counter[str]:
    return Counter(entity["type"] for entity in parse_html(html_text)[1])


def code_texts() -> set[tuple[str | None, str]]:
    """Every text marked for translation in the code, as `make i18n` extracts it."""
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    found: set[tuple[str | None, str]] = set()
    for package in ("handlers", "news"):
        for _, _, text, _, context in extract_from_dir(
            str(ROOT / package), method_map, options_map, keywords=KEYWORDS
        ):
            found.add((context, text[0] if isinstance(text, tuple) else text))
    return found


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_text_of_the_code_is_in_the_catalog_and_translated(language: str) -> None:
    shipped = catalog(language)
    entries = {key(message): message for message in messages(language)}
    assert entries.keys() == code_texts(), "run `make i18n`: the catalog and the code differ"
    for message in entries.values():
        assert not message.fuzzy, f"{language}: fuzzy translation of {message.id!r}"
        assert all(form.strip() for form in forms(message)), f"{language}: {message.id!r}"
        if message.pluralizable:
            assert len(forms(message)) == shipped.num_plurals, message.id


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_keep_the_placeholders_and_the_telegram_html(language: str) -> None:
    for message in messages(language):
        wanted = set(PLACEHOLDER.findall(sources(message)[-1]))
        original = entity_types(filled(sources(message)[-1]))
        for form in forms(message):
            assert set(PLACEHOLDER.findall(form)) == wanted, f"{language}: {form!r}"
            assert entity_types(filled(form)) == original, f"{language}: {form!r}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_compiled_catalog_is_the_compilation_of_its_po(language: str) -> None:
    compiled = io.BytesIO()
    write_mo(compiled, catalog(language))
    shipped = (LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.mo").read_bytes()
    assert shipped == compiled.getvalue(), "run `make i18n`: the .mo is older than its .po"


# A word of a text that is no sentence, and so needs a word on where it stands.
SHORT_LABEL_WORDS = 3
# The formal address of German: "Sie", "Ihnen", "Ihr", "Ihre", … capitalised. Lowercase "sie"
# (they, she) is another word; so is a capitalised "Sie" opening a sentence (they), which is
# allowed there only (a formal "Sie" that opens one, "Sie können …", reads the same and is
# left to the reviewer).
_FORMAL_GERMAN = re.compile(r"\b(Sie|Ihnen|Ihr|Ihre|Ihrem|Ihren|Ihrer|Ihres)\b")
_SENTENCE_START = re.compile(r"(^|[.!?:–—]\s+|\n|[„“\"(]\s*)$")
# A preposition right before the topic, which Russian and Ukrainian would need declined.
_PREPOSITION_BEFORE_TOPIC = re.compile(
    r"(?<!\w)(на|по|о|об|про|за|от|від|до|для|с|со|з|із|у|в|во)\s+(<b>)?\{topic\}",
    re.IGNORECASE,
)


def translator_comment(message: Message) -> str:
    return " ".join(message.auto_comments)


def test_every_placeholder_and_short_label_has_a_translator_comment() -> None:
    """Each `{name}` a text holds is explained in its `# Translators:` comment (which `make i18n`
    carries into every catalog), and each short label says where it stands (comment or
    `pgettext` context)."""
    unexplained: list[str] = []
    for message in messages("de"):  # every catalog has the same entries and comments
        source = " ".join(sources(message))
        comment = translator_comment(message)
        for name in sorted(set(PLACEHOLDER.findall(source))):
            if f"{{{name}}}" not in comment:
                unexplained.append(f"{{{name}}} in {source!r}")
        words = sources(message)[0].split()
        label = len(words) <= SHORT_LABEL_WORDS and not sources(message)[0].endswith(".")
        if label and not PLACEHOLDER.search(source) and not (comment or message.context):
            unexplained.append(f"the label {source!r}")
    assert unexplained == [], "add a `# Translators:` comment in the code: " + "; ".join(
        unexplained
    )


def test_the_german_catalog_says_du_and_never_the_formal_sie() -> None:
    formal = [
        form
        for message in messages("de")
        for form in forms(message)
        for found in _FORMAL_GERMAN.finditer(form)
        if not (found.group(1) == "Sie" and _SENTENCE_START.search(form[: found.start()]))
    ]
    assert formal == []


def test_the_formal_sie_check_catches_what_a_reviewer_caught() -> None:
    caught = "Senden Sie /settings.", "{count} Meldung aus Ihren Ruhezeiten", "(in Ihrer /timezone)"
    passed = "Sie bleiben auffindbar.", "Die Quellen: sie bleiben.", "Sende /settings."
    for text in caught:
        assert any(
            not (m.group(1) == "Sie" and _SENTENCE_START.search(text[: m.start()]))
            for m in _FORMAL_GERMAN.finditer(text)
        ), text
    for text in passed:
        assert all(
            m.group(1) == "Sie" and _SENTENCE_START.search(text[: m.start()])
            for m in _FORMAL_GERMAN.finditer(text)
        ), text


def test_french_calls_a_telegram_channel_a_canal() -> None:
    chaine = [
        form
        for message in messages("fr")
        for form in forms(message)
        if re.search(r"\bcha[iî]nes?\b", form, re.IGNORECASE)
    ]
    assert chaine == []


@pytest.mark.parametrize("language", ["uk", "ru"])
def test_a_topic_never_follows_a_preposition_that_would_decline_it(language: str) -> None:
    """The topic is the user's words as typed, in the nominative: "на тему «украина»", never
    "подписаны на украина"."""
    declined = [
        form
        for message in messages(language)
        for form in forms(message)
        if _PREPOSITION_BEFORE_TOPIC.search(form)
    ]
    assert declined == []


@pytest.mark.parametrize(
    ("language", "one", "few", "many"),
    [
        ("uk", "У темі 1 слово", "У темі 22 слова", "У темі 25 слів"),
        ("ru", "В теме 1 слово", "В теме 22 слова", "В теме 25 слов"),
        ("de", "Das Thema hat 1 Wort", "Das Thema hat 22 Wörter", "Das Thema hat 25 Wörter"),
    ],
)
def test_a_topic_error_with_a_number_takes_the_numbers_form(
    language: str, one: str, few: str, many: str
) -> None:
    texts = texts_in(language)
    for count, expected in ((1, one), (22, few), (25, many)):
        error = TopicError(
            N_plural(
                "That topic has {count} word; use at most {limit}.",
                "That topic has {count} words; use at most {limit}.",
            ),
            count=count,
            limit=20,
        )
        assert texts.topic_error(error).startswith(expected)
    assert str(error) == "That topic has 25 words; use at most 20."


@pytest.mark.parametrize(
    ("language", "silent", "quiet_off", "previews_off"),
    [
        ("de", "Ohne Ton: aus", "Ruhezeiten: keine", "Linkvorschau: aus"),
        ("uk", "Без звуку: ні", "Тихі години: немає", "Перегляд посилань: вимкнено"),
        ("ru", "Без звука: нет", "Тихие часы: нет", "Предпросмотр ссылок: выключен"),
        (
            "fr",
            "Envoi sans son\N{NO-BREAK SPACE}: désactivé",
            "Heures calmes\N{NO-BREAK SPACE}: aucune",
            "Aperçu des liens\N{NO-BREAK SPACE}: désactivé",
        ),
        ("es", "Envío sin sonido: desactivado", "Horas de silencio: ninguna", None),
    ],
)
def test_settings_say_off_as_each_setting_wants_and_silent_as_telegram_does(
    language: str, silent: str, quiet_off: str, previews_off: str | None
) -> None:
    texts = texts_in(language)
    lines = settings_text(ChatSettings(1, "private", preview="off"), texts, None).splitlines()
    assert silent in lines and quiet_off in lines
    if previews_off is not None:
        assert previews_off in lines
    keyboard = settings_keyboard(ChatSettings(1, "private", silent=True), texts)
    sound = keyboard.inline_keyboard[1][0].text
    assert sound.removeprefix("🔕 ").split(":")[0].strip().lower() in silent.lower()


# Telegram HTML from users' text: the values a reply fills in are escaped by the handlers.
@settings(max_examples=60, deadline=None)
@given(value=st.text(max_size=40))
def test_any_escaped_value_keeps_every_translation_valid_html(value: str) -> None:
    for language in TRANSLATED:
        for message in messages(language):
            for form in forms(message):
                parse_html(filled(form, escape(value)))


@pytest.mark.parametrize(
    ("code", "language"),
    [
        *[("uk", "uk"), ("ru", "ru"), ("de-AT", "de"), ("FR", "fr"), ("es_MX", "es")],
        *[("en-GB", "en"), ("pt-br", "en"), ("pt-BR", "en"), ("", "en"), (None, "en")],
        ("zz", "en"),
    ],
)
def test_the_language_is_the_users_base_language_when_the_bot_speaks_it(
    code: str | None, language: str
) -> None:
    assert language_for(code) == language


@given(st.one_of(st.none(), st.text(max_size=20)))
def test_any_language_code_gets_a_language_the_bot_speaks(code: str | None) -> None:
    assert language_for(code) in LANGUAGES


def test_english_counts_sources_in_the_singular_and_the_plural() -> None:
    assert more_sources(1, english()) == "+1 source"
    assert more_sources(2, english()) == "+2 sources"
    assert more_sources(1234, english()) == "+1,234 sources"


@pytest.mark.parametrize(
    ("language", "one", "few", "many"),
    [("uk", "джерело", "джерела", "джерел"), ("ru", "источник", "источника", "источников")],
)
def test_ukrainian_and_russian_have_three_plural_forms(
    language: str, one: str, few: str, many: str
) -> None:
    texts = texts_in(language)
    expected = {1: one, 2: few, 5: many, 11: many, 21: one, 22: few, 25: many, 111: many}
    for count, word in expected.items():
        assert more_sources(count, texts) == f"+{count} {word}"


@pytest.mark.parametrize(
    ("language", "minutes", "days", "old"),
    [
        ("en", "12 min ago", ["1 day ago", "2 days ago", "5 days ago"], "Nov 16, 2024"),
        (
            "uk",
            "12 хв тому",
            ["1 день тому", "2 дні тому", "5 днів тому"],
            "16 лист. 2024\N{NARROW NO-BREAK SPACE}р.",
        ),
        (
            "ru",
            "12 мин назад",
            ["1 день назад", "2 дня назад", "5 дней назад"],
            "16 нояб. 2024\N{NARROW NO-BREAK SPACE}г.",
        ),
        ("de", "vor 12 Min.", ["vor 1 Tag", "vor 2 Tagen", "vor 5 Tagen"], "16. Nov. 2024"),
        (
            "fr",
            "il y a 12 min",
            ["il y a 1 jour", "il y a 2 jours", "il y a 5 jours"],
            "16 nov. 2024",
        ),
        ("es", "hace 12 min", ["hace 1 día", "hace 2 días", "hace 5 días"], "16 nov 2024"),
    ],
)
def test_ages_read_like_a_news_card_in_each_language(
    language: str, minutes: str, days: list[str], old: str
) -> None:
    texts = texts_in(language)
    assert texts.age(NOW - timedelta(seconds=20), NOW) == texts._("just now")
    assert texts.age(NOW - timedelta(minutes=12), NOW) == minutes
    assert texts.age(NOW - timedelta(hours=3, minutes=5), NOW).count("3") == 1
    got = [texts.age(NOW - timedelta(days=n, hours=1), NOW) for n in (1, 2, 5)]
    assert got == days
    assert texts.age(NOW - timedelta(days=90), NOW) == old


def test_the_menu_has_the_same_commands_in_every_language() -> None:
    english_menu = command_menu(english())
    for language in LANGUAGES:
        menu = command_menu(texts_in(language))
        assert [c.command for c in menu] == [c.command for c in english_menu]
        assert all(1 <= len(c.description) <= 256 for c in menu)


# Through the real client and the fake Bot API.

GREETINGS = {
    "en": "What I can do",
    "uk": "Що я вмію",
    "ru": "Что я умею",
    "de": "Was ich kann",
    "fr": "Ce que je sais faire",
    "es": "Lo que sé hacer",
}


@pytest.fixture
async def bot(telegram: FakeBotApi, feeds: FeedServer, tmp_path: Path) -> AsyncIterator[RunningBot]:
    async with seeded_bot(telegram, feeds, tmp_path) as running:
        yield running


async def test_help_comes_in_the_language_of_whoever_asks_and_lists_every_command(
    bot: RunningBot, telegram: FakeBotApi
) -> None:
    commands = [c.command for c in command_menu(english()) if c.command not in ("start", "help")]
    for user, language in enumerate(LANGUAGES, 2001):
        answer = await ask(telegram, user, "/help", language_code=language)
        assert answer.startswith(f"<b>{GREETINGS[language]}</b>"), (language, answer[:80])
        missing = [command for command in commands if f"/{command}" not in answer]
        assert missing == [], f"/help in {language} does not list {missing}"

    assert (await ask(telegram, 2101, "/help", language_code="pt-BR")).startswith(
        "<b>What I can do</b>"
    )
    assert (await ask(telegram, 2102, "/help", language_code="uk-UA")).startswith(
        "<b>Що я вмію</b>"
    )


async def test_a_topic_that_cannot_be_parsed_is_explained_in_the_users_language(
    bot: RunningBot, telegram: FakeBotApi
) -> None:
    ukrainian = await ask(telegram, 2201, '/subscribe "unbalanced', language_code="uk")
    assert "відкривна лапка" in ukrainian
    german = await ask(telegram, 2202, "/latest " + "y" * 300, language_code="de")
    assert german == "Das Thema ist 300 Zeichen lang; erlaubt sind höchstens 200."
    english_answer = await ask(telegram, 2203, '/subscribe "unbalanced', language_code="pt-BR")
    assert "opening quote" in english_answer


async def test_the_command_menu_is_set_in_every_language_and_by_default_in_english(
    bot: RunningBot, telegram: FakeBotApi
) -> None:
    menus = {
        call.params.get("language_code"): call.params["commands"]
        for call in telegram.calls_to("setMyCommands")
    }
    assert menus.keys() == {None, *LANGUAGES}
    assert menus[None] == menus["en"]
    assert menus[None][0]["description"] == "Newest stories on a topic: /latest ukraine"
    assert menus["uk"][0]["description"] == "Найсвіжіші новини на тему: /latest україна"
    assert menus["de"][0]["description"] == "Neueste Meldungen zu einem Thema: /latest ukraine"
    for language in LANGUAGES:
        assert [c["command"] for c in menus[language]] == [c["command"] for c in menus[None]]
    assert len({str(menu) for menu in menus.values()}) == len(LANGUAGES)


async def test_pushes_come_in_the_language_of_whoever_subscribed_the_chat(
    bot: RunningBot, telegram: FakeBotApi, feeds: FeedServer
) -> None:
    oksana, pedro = 2301, 2302
    await ask(telegram, oksana, "/subscribe ukraine", language_code="uk")
    await ask(telegram, pedro, "/subscribe ukraine", language_code="pt-BR")
    mark = telegram.mark()
    now = datetime.now(UTC)
    story = FeedItem(
        title="Ukraine and EU open accession chapter",
        link="https://news.example.org/world/ukraine-eu-chapter",
        published=now - timedelta(minutes=12),
    )
    feeds.set_feed("/world.xml", rss_feed([story], title="Example World News"))

    card = await telegram.wait_for_message(oksana, contains="accession", after=mark)
    assert "<i>Example World News</i> · 12 хв тому" in card["text"]
    assert ">Читати</a>" in card["text"]
    assert card["reply_markup"]["inline_keyboard"][0][0]["text"] == "Докладніше ▸"
    card = await telegram.wait_for_message(pedro, contains="accession", after=mark)
    assert "<i>Example World News</i> · 12 min ago" in card["text"]
    assert card["reply_markup"]["inline_keyboard"][0][0]["text"] == "More ▸"

    mark = telegram.mark()
    headlines = [
        "Ukraine wins the Eurovision public vote",
        "Egypt signs a wheat deal with Ukraine",
        "Chess olympiad opens in Lviv, Ukraine",
        "Ukraine's parliament passes budget for schools",
    ]
    burst = [
        FeedItem(
            title=headline,
            link=f"https://news.example.org/world/{number}",
            published=now - timedelta(minutes=number),
        )
        for number, headline in enumerate(headlines, 1)
    ]
    feeds.set_feed("/world.xml", rss_feed([story, *burst], title="Example World News"))
    digest = await telegram.wait_for_message(oksana, contains="Eurovision", after=mark)
    assert digest["text"].startswith("<b>4 свіжі новини</b>")
