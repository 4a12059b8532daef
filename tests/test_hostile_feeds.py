"""Hostile feeds meet typed errors or fitted stories: properties, encodings, numbers, threads.

The long fuzz campaign over the same strategies is `tests/fuzz_parsers.py` (run by hand).
"""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from news.errors import ParseError
from news.feeds import bounded_int, fit_draft, fit_language, is_public_address
from news.feeds.parse import feedparser_document, parse_feed
from news.model import StoryDraft
from news.polling import ScheduleSettings, max_age, retry_after
from news.topics import document_terms, stem
from tests.hostile import NOW, URL, bodies, check_parse, headers, json_feeds, nested_json, text
from tests.test_parse import BILLION_LAUGHS, XXE

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(bodies, headers)
def test_any_bytes_and_headers_give_fitted_stories_or_a_typed_error(
    body: bytes, response_headers: dict[str, str]
) -> None:
    check_parse(body, response_headers)


@PROPERTY
@given(json_feeds())
def test_any_json_feed_shape_gives_fitted_stories_or_a_typed_error(body: bytes) -> None:
    check_parse(body, {"content-type": "application/feed+json"})


@PROPERTY
@given(text)
def test_numbers_from_servers_are_bounded_or_ignored(value: str) -> None:
    found = bounded_int(value, maximum=1000)
    assert found is None or 0 <= found <= 1000
    age = max_age({"Cache-Control": f"max-age={value}"})
    assert age is None or timedelta(0) <= age <= timedelta(days=3650)
    delay = retry_after(value, NOW, ScheduleSettings())
    assert delay is None or timedelta(0) < delay <= timedelta(days=1)


def test_json_feed_with_items_not_a_list_is_a_parse_error() -> None:
    body = b'{"version": "https://jsonfeed.org/version/1.1", "title": "x", "items": 5}'
    with pytest.raises(ParseError) as caught:
        parse_feed(body, url=URL, now=NOW)
    assert caught.value.kind == "not-a-feed" and "items" in str(caught.value)


def test_json_nested_200000_deep_is_a_parse_error_not_a_recursion_error() -> None:
    with pytest.raises(ParseError) as caught:
        parse_feed(nested_json(200_000), url=URL, now=NOW)
    assert caught.value.kind == "not-a-feed"


def rss(channel: str, item: str = "") -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0" '
        'xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"><channel><title>T</title>'
        f"{channel}<item><title>Story</title><link>https://e.org/1</link>{item}</item>"
        "</channel></rss>"
    ).encode()


@pytest.mark.parametrize(
    ("channel", "hint"),
    [
        ("<ttl>²</ttl>", None),
        ("<ttl>1e17</ttl>", None),
        ("<ttl>-5</ttl>", None),
        ("<ttl>" + "9" * 5000 + "</ttl>", timedelta(minutes=1_000_000)),
        ("<ttl> 45 </ttl>", timedelta(minutes=45)),
        (
            "<sy:updatePeriod>hourly</sy:updatePeriod><sy:updateFrequency>²</sy:updateFrequency>",
            timedelta(hours=1),
        ),
        (
            "<sy:updatePeriod>daily</sy:updatePeriod><sy:updateFrequency>4</sy:updateFrequency>",
            timedelta(hours=6),
        ),
    ],
)
def test_feed_numbers_are_plain_bounded_integers(channel: str, hint: timedelta | None) -> None:
    feed = parse_feed(rss(channel), url=URL, now=NOW)
    assert feed.min_interval == hint
    assert [entry.title for entry in feed.entries] == ["Story"]


def test_header_numbers_are_plain_bounded_integers() -> None:
    assert max_age({"Cache-Control": "max-age=1e17"}) is None
    assert max_age({"Cache-Control": "public, max-age=600"}) == timedelta(minutes=10)
    assert max_age({"Cache-Control": "max-age=" + "9" * 40}) == timedelta(days=3650)
    schedule = ScheduleSettings()
    assert retry_after("1e17", NOW, schedule) is None
    assert retry_after("²", NOW, schedule) is None
    assert retry_after("9" * 5000, NOW, schedule) == timedelta(days=1)
    assert retry_after("900", NOW, schedule) == timedelta(minutes=15)


@pytest.mark.parametrize(
    ("declared", "stored"),
    [
        ("en-US", "en"),
        ("pt_BR", "pt"),
        ("English", "en"),
        ("Deutsch", "de"),
        ("x" * 40, None),  # over the column: guessed from the text instead
        ("en-" + "a" * 20, None),
        ("<b>en</b>", None),
    ],
)
def test_languages_are_tags_names_or_guessed(declared: str, stored: str | None) -> None:
    body = rss(f"<language>{declared}</language>").replace(b"<b>", b"&lt;b>")
    entry = parse_feed(body, url=URL, now=NOW).entries[0]
    assert entry.language == (stored or "en")
    assert fit_language(declared) is None or len(fit_language(declared) or "") <= 16


def test_implausible_dates_are_treated_as_missing() -> None:
    body = rss(
        "",
        "<pubDate>Mon, 01 Jan 0001 00:00:00 GMT</pubDate>",
    ).replace(
        b"</item>",
        b"</item><item><title>Old</title><pubDate>Thu, 01 Jan 1970 "
        b"00:00:00 GMT</pubDate><link>https://e.org/2</link></item>",
    )
    feed = parse_feed(body, url=URL, now=NOW)
    assert [entry.published_at for entry in feed.entries] == [NOW, NOW]


def test_fitting_caps_lengths_and_removes_what_databases_refuse() -> None:
    draft = fit_draft(
        StoryDraft(
            source_id=1,
            entry_id="id-" + "x" * 3000,
            title="Nul\x00 in a title, and a lone \ud800 surrogate",
            summary="ok",
            link="https://e.org/" + "a" * 3000,
            published_at=NOW,
            language="english-as-spoken-in-the-uk",
        )
    )
    assert draft.title == "Nul in a title, and a lone  surrogate"
    assert draft.link == ""  # a cut link leads nowhere: the story is kept without one
    assert draft.entry_id.startswith("sha256:") and len(draft.entry_id) <= 1000
    assert draft.language == "en"


XXE_PASSWD = XXE.replace('<?xml version="1.0"?>\n', "")
LAUGHS = BILLION_LAUGHS.replace('<?xml version="1.0"?>\n', "")


@pytest.mark.parametrize("attack", [LAUGHS, XXE_PASSWD], ids=["laughs", "xxe"])
@pytest.mark.parametrize(
    ("codec", "declaration", "content_type"),
    [
        ("utf-16", "utf-16", None),  # with a byte order mark
        ("utf-16-le", "utf-16", None),
        ("utf-16-be", "utf-16", None),
        ("utf-32", "utf-32", None),
        ("utf-32-le", "utf-32", None),
        ("utf-32-be", "utf-32", None),
        ("cp037", "cp037", None),  # EBCDIC
        ("utf-7", "utf-7", None),
        ("utf-16-le", None, "application/xml; charset=utf-16le"),  # said only by the server
        ("utf-32-be", None, "text/xml; charset=utf-32be"),
    ],
)
def test_entity_attacks_are_defused_in_every_encoding(
    attack: str, codec: str, declaration: str | None, content_type: str | None
) -> None:
    prolog = f'<?xml version="1.0" encoding="{declaration}"?>\n' if declaration else ""
    body = (prolog + attack).encode(codec)
    response_headers = {"content-type": content_type} if content_type else {}
    document, _ = feedparser_document(body, response_headers)
    assert b"<!DOCTYPE" not in document and b"<!ENTITY" not in document
    assert b"<rss" in document  # decoded, not just left unreadable
    try:
        feed = parse_feed(body, url=URL, headers=response_headers, now=NOW)
    except ParseError as error:
        assert error.kind != "internal"
        return
    for entry in feed.entries:
        assert "lollol" not in entry.title and "root:" not in entry.title
    assert feed.title in ("Laughs", "XXE")


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("2002:7f00:1::1", False),  # 6to4 of 127.0.0.1
        ("2002:a00:1::1", False),  # 6to4 of 10.0.0.1
        ("2002:c0a8:101::1", False),  # 6to4 of 192.168.1.1
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", False),  # Teredo, client 127.0.0.1
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", False),  # Teredo, client 10.0.0.1
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of 169.254.169.254 (cloud metadata)
        ("64:ff9b:1::a00:1", False),  # local-use NAT64 of 10.0.0.1
        ("::ffff:10.0.0.1", False),
        ("2002:808:808::1", True),  # 6to4 of 8.8.8.8
        ("64:ff9b::808:808", True),
        ("2a00:1450:4001:82b::200e", True),
    ],
)
def test_ipv6_addresses_are_judged_by_the_ipv4_they_lead_to(address: str, public: bool) -> None:
    assert is_public_address(address) is public


def test_stemming_from_many_threads_at_once_gives_each_thread_the_right_terms() -> None:
    rng = random.Random(11)
    words = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyzäöüéß") for _ in range(rng.randint(2, 14)))
        for _ in range(40_000)
    ]
    stem.cache_clear()  # the cache would hide the stemmers' own state
    failures: list[BaseException] = []
    results: dict[int, list[str]] = {}

    def work(number: int) -> None:
        try:
            language = ("en", "de", "fr", "ru")[number % 4]
            results[number] = [stem(word, language) for word in words[number::6]]
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=work, args=(number,)) for number in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    stem.cache_clear()
    for number, found in results.items():
        language = ("en", "de", "fr", "ru")[number % 4]
        assert found == [stem(word, language) for word in words[number::6]]
    assert document_terms("Ukraine's talks", "en") == ("ukrain", "talk")


def test_year_one_dates_from_the_wire_are_not_plausible() -> None:
    moment = datetime(1, 1, 1, tzinfo=UTC)
    body = (
        '{"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": '
        '[{"id": "1", "title": "t", "url": "https://e.org/1", '
        f'"date_published": "{moment.isoformat()}"}}]}}'
    ).encode()
    assert parse_feed(body, url=URL, now=NOW).entries[0].published_at == NOW


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_6to4_and_nat64_of_any_non_public_ipv4_are_refused(number: int) -> None:
    from ipaddress import IPv4Address, IPv6Address

    inner = IPv4Address(number)
    for wrapped in (
        IPv6Address(0x2002 << 112 | number << 80),
        IPv6Address(0x64FF9B << 96 | number),
    ):
        if not is_public_address(str(inner)):
            assert not is_public_address(str(wrapped))
