"""Parsing and normalising: formats, links, times, languages, hints, and hostile XML."""

from __future__ import annotations

import contextlib
import json
import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from news.errors import ParseError
from news.feeds import strip_doctype
from news.feeds._language import guess_language
from news.feeds.parse import parse_feed
from tests.conftest import DATA, SHARED
from tests.fakes.feeds import FeedItem, atom_feed, rss_feed

NOW = datetime(2025, 2, 14, 12, 0, tzinfo=UTC)
URL = "https://example.com/blog/feed.xml"
CORPUS = DATA / "corpus"


def parse(body: bytes | str, **kwargs: object) -> object:
    data = body.encode() if isinstance(body, str) else body
    return parse_feed(data, url=URL, now=NOW, **kwargs)  # type: ignore[arg-type]


def test_relative_links_are_resolved_against_the_feed_url() -> None:
    feed = parse_feed((CORPUS / "atom_relative.xml").read_bytes(), url=URL, now=NOW)
    assert [entry.link for entry in feed.entries] == ["https://example.com/blog/2003/12/13/atom03"]
    assert feed.entries[0].title == "Atom-Powered Robots Run Amok"


def test_json_feed_is_read() -> None:
    feed = parse_feed((CORPUS / "jsonfeed_example_1.json").read_bytes(), url=URL, now=NOW)
    assert feed.title == "Daring Fireball"
    first = feed.entries[0]
    assert first.title == "How Jeff Bezos’s iPhone X Was Hacked"
    assert first.link == "https://daringfireball.net/linked/2020/01/24/bezos-iphone-x"
    assert first.published_at == datetime(2020, 1, 24, 23, 46, 57, tzinfo=UTC)
    assert "<" not in first.summary


def test_iso_8859_feed_without_language_is_decoded_and_its_language_guessed() -> None:
    feed = parse_feed((CORPUS / "rss_1.0_iso8859.xml").read_bytes(), url=URL, now=NOW)
    entry = feed.entries[0]
    assert "Glasfaserförderung" in entry.title
    assert entry.language == "de"


def test_rss_091_with_netscape_doctype_still_parses() -> None:
    feed = parse_feed((CORPUS / "rss_0.91_spec_1.xml").read_bytes(), url=URL, now=NOW)
    assert feed.title == "WriteTheWeb"
    assert len(feed.entries) == 2
    assert all(entry.published_at == NOW for entry in feed.entries), "missing date → first seen"


def test_entry_normalising_rules() -> None:
    body = rss_feed(
        [
            FeedItem(
                title="",
                link="https://news.example.org/a?utm_source=rss&id=7&fbclid=x#comments",
                summary="<p>First sentence here. Second &amp; more.</p>",
                published=NOW + timedelta(days=3),
            ),
            FeedItem(title="Bad link", link="javascript:alert(1)", summary="x"),
            FeedItem(title="Relative", link="/story/9", summary="  lots   of\n space "),
        ]
    )
    entries = parse(body).entries  # type: ignore[attr-defined]
    first, bad, relative = entries
    assert first.title == "First sentence here."
    assert first.summary == "First sentence here. Second & more."
    assert first.link == "https://news.example.org/a?id=7"
    assert first.published_at == NOW, "a date in the future becomes first seen"
    assert bad.link == "", "a javascript: link is dropped"
    assert relative.link == "https://example.com/story/9"
    assert relative.summary == "lots of space"


def test_feed_hints_are_read() -> None:
    body = rss_feed([FeedItem(title="a", link="https://e.org/a")]).replace(
        "<language>en</language>", "<language>en</language><ttl>45</ttl>"
    )
    assert parse(body).min_interval == timedelta(minutes=45)  # type: ignore[attr-defined]
    sy = atom_feed([FeedItem(title="a", link="https://e.org/a")]).replace(
        '<feed xmlns="http://www.w3.org/2005/Atom"',
        '<feed xmlns="http://www.w3.org/2005/Atom" '
        'xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"',
    )
    sy = sy.replace(
        "<title>Test Feed</title>",
        "<title>Test Feed</title><sy:updatePeriod>hourly</sy:updatePeriod>"
        "<sy:updateFrequency>2</sy:updateFrequency>",
    )
    assert parse(sy).min_interval == timedelta(minutes=30)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b"", "empty"),
        (b"  \n ", "empty"),
        (b"<!DOCTYPE html><html><head><title>Shop</title></head><body>hi</body></html>", "html"),
        (b"<?xml version='1.0'?><catalog><book>x</book></catalog>", "not-a-feed"),
        (b'{"hello": "world"}', "not-a-feed"),
        (b"{not json", "not-a-feed"),
    ],
)
def test_what_is_not_a_feed_gets_a_typed_error(body: bytes, kind: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(body)
    assert caught.value.kind == kind


def test_language_guesses() -> None:
    assert guess_language("The president said that the talks would go on") == "en"
    assert guess_language("Die Regierung hat sich auf neue Regeln für den Handel geeinigt") == "de"
    assert guess_language("Le gouvernement a annoncé que les mesures sont prises") == "fr"
    assert guess_language("Президент заявив, що переговори тривають і їх") == "uk"
    assert guess_language("Президент заявил, что переговоры продолжаются") == "ru"
    assert guess_language("12345") == "en"


# ------------------------------------------------------------------ hostile XML

BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY lol "lol">\n'
    + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">\n' for i in range(1, 10)).replace(
        "&lol0;", "&lol;"
    )
    + ']>\n<rss version="2.0"><channel><title>Laughs</title>'
    "<item><title>&lol9;</title><link>https://e.org/1</link></item></channel></rss>"
)


def huge_entity_feed(uses: int = 3000) -> str:
    big = "A" * 100_000
    items = "".join(
        f"<item><title>t{i}</title><description>&big;</description>"
        f"<link>https://e.org/{i}</link></item>"
        for i in range(uses // 100)
    )
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY big "{big}">]>\n'
        f'<rss version="2.0"><channel><title>Big</title>{items}'
        + "<item><title>many</title><description>"
        + "&big;" * uses
        + "</description></item></channel></rss>"
    )


XXE = (
    '<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    '<rss version="2.0"><channel><title>XXE</title>'
    "<item><title>x &xxe; y</title><link>https://e.org/1</link></item></channel></rss>"
)


@pytest.mark.parametrize(
    "body", [BILLION_LAUGHS, huge_entity_feed(), XXE], ids=["laughs", "huge", "xxe"]
)
def test_entity_attacks_neither_expand_nor_fetch(body: str) -> None:
    tracemalloc.start()
    try:
        feed = parse(body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024 * 1024
    for entry in feed.entries:  # type: ignore[attr-defined]
        assert "lollollol" not in entry.title
        assert "AAAAAAAAAA" not in entry.summary
        assert "root:" not in entry.title


def test_doctype_is_stripped_in_utf16_too() -> None:
    body = XXE.replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="utf-16"?>')
    stripped = strip_doctype(body.encode("utf-16"))
    assert "<!DOCTYPE" not in stripped.decode("utf-16")
    assert "<!ENTITY" not in stripped.decode("utf-16")
    feed = parse_feed(stripped, url=URL, now=NOW)
    assert feed.title == "XXE"


def test_doctype_with_brackets_and_quotes_inside_is_stripped_whole() -> None:
    body = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "]>">]><rss version="2.0"/>'
    assert strip_doctype(body) == b'<?xml version="1.0"?><rss version="2.0"/>'


def test_a_doctype_inside_the_document_is_left_to_fail_parsing() -> None:
    body = b'<rss version="2.0"><!DOCTYPE x [<!ENTITY a "b">]><channel/></rss>'
    assert strip_doctype(body) == body


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_arbitrary_bytes_give_stories_or_a_parse_error(body: bytes) -> None:
    with contextlib.suppress(ParseError):
        parse(body)


@settings(max_examples=30, deadline=None)
@given(st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=5))
def test_arbitrary_json_objects_give_stories_or_a_parse_error(document: dict[str, str]) -> None:
    body = json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": [document]})
    with contextlib.suppress(ParseError):
        parse(body)


RELATIVE_IDS = """<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
<item><title>Permalink</title><guid>posts/1</guid></item>
<item><title>Not a permalink</title><guid isPermaLink="false">posts/2</guid></item>
</channel></rss>"""
XML_BASE = """<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" xml:base="/news/">
<title>T</title><entry><title>Based</title><id>tag:example.com,2025:1</id>
<link href="a.html"/><updated>2025-02-01T00:00:00Z</updated></entry></feed>"""


def test_ids_and_links_resolve_against_the_feed_url_as_feedparser_does() -> None:
    permalink, opaque = parse(RELATIVE_IDS).entries  # type: ignore[attr-defined]
    assert permalink.entry_id == "https://example.com/blog/posts/1"
    assert permalink.link == "https://example.com/blog/posts/1"
    assert opaque.entry_id == "posts/2"
    [based] = parse(XML_BASE).entries  # type: ignore[attr-defined]
    assert based.link == "https://example.com/news/a.html"


def test_skipping_the_base_url_changes_nothing_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path (feedparser without the URL) reads what a parse with it reads."""
    files = [path for path in sorted(CORPUS.iterdir()) if path.is_file()]
    shared = SHARED / "corpus" / "fixtures"
    files += sorted(path for path in shared.rglob("*") if path.is_file())
    bodies = [path.read_bytes() for path in files]
    bodies += [RELATIVE_IDS.encode(), XML_BASE.encode(), RELATIVE_IDS.encode("utf-16")]

    def read_all() -> list[object]:
        results: list[object] = []
        for body in bodies:
            try:
                results.append(parse(body))
            except ParseError as error:
                results.append((error.kind, str(error)))
        return results

    fast = read_all()
    monkeypatch.setattr("news.feeds.parse._resolution_matters", lambda *_: True)
    assert fast == read_all()


def test_the_text_beyond_the_summary_is_kept_for_the_story_card() -> None:
    sentence = "The council approved the new budget for schools and roads after a long debate. "
    long_item = FeedItem(title="Budget", link="https://e.org/b", summary="<p>" + sentence * 40)
    short_item = FeedItem(title="Short", link="https://e.org/s", summary=sentence)
    feed = parse_feed(rss_feed([long_item, short_item]).encode(), url="https://e.org/feed", now=NOW)
    long_entry, short_entry = feed.entries
    assert len(long_entry.summary) <= 300 and long_entry.body.startswith(long_entry.summary[:-1])
    assert 300 < len(long_entry.body) <= 2_000 and long_entry.body.endswith(" approved…")
    assert short_entry.body == "", "a summary that is the whole text is not stored twice"
