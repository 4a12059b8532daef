"""Hypothesis strategies for what a hostile or broken feed server can send, and the one check.

Shared by the property tests (`tests/test_hostile_feeds.py`, a few hundred examples each) and
the long fuzz campaign (`tests/fuzz_parsers.py`, run by hand, not collected by pytest).

`check_parse` states what every parser owes any input: stories that fit the schema, or a
`ParseError` of a kind other than "internal" (which marks a failure nobody foresaw).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from xml.sax.saxutils import quoteattr

from hypothesis import strategies as st

from news.errors import ParseError
from news.feeds import EARLIEST, ENTRY_ID_LIMIT, LANGUAGE_LIMIT, URL_LIMIT
from news.feeds.parse import ParsedFeed, parse_feed

NOW = datetime(2025, 2, 14, 12, 0, tzinfo=UTC)
URL = "https://feeds.example.com/feed.xml"

# Values real feeds carry where a number, a date, a code or a link belongs.
ODD_VALUES = [
    "",
    "²",
    "1e17",
    "-5",
    "0",
    "99999999999999999999999999999",
    "9" * 5000,
    "٣",
    "\x00",
    "\ud800",
    "english",
    "x" * 40,
    "en-US",
    "0001-01-01T00:00:00Z",
    "Mon, 01 Jan 0001 00:00:00 GMT",
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "2025-02-30T25:61:00Z",
    "javascript:alert(1)",
    "http://" + "a" * 3000 + ".example/",
    "http://[::1",
    "&lol9;",
    "<![CDATA[x]]>",
]
CHARSETS = [
    "utf-8",
    "utf-16",
    "utf-16-le",
    "utf-16-be",
    "utf-32",
    "utf-32-le",
    "cp037",
    "iso-8859-1",
    "windows-1252",
    "utf-7",
    "x-unknown",
    "gb2312",
    "shift_jis",
]

text = st.one_of(st.text(max_size=60), st.sampled_from(ODD_VALUES))


@st.composite
def rss_documents(draw: st.DrawFn) -> bytes:
    """RSS 2.0 with hostile values in its elements, in any encoding feedparser may be told."""

    def element(name: str) -> str:
        value = draw(text)
        return f"<{name}>{value}</{name}>" if draw(st.booleans()) else ""

    def media(name: str, *attributes: str) -> str:
        """An empty element whose `url` and other attributes carry hostile values."""
        if not draw(st.booleans()):
            return ""
        values = "".join(f" {key}={quoteattr(draw(text))}" for key in ("url", *attributes))
        return f"<{name}{values}/>"

    items = "".join(
        "<item>"
        + element("title")
        + element("link")
        + element("guid")
        + element("description")
        + element("pubDate")
        + element("dc:date")
        + media("media:content", "medium", "type", "width")
        + media("media:thumbnail")
        + media("enclosure", "type")
        + "</item>"
        for _ in range(draw(st.integers(0, 4)))
    )
    document = (
        '<?xml version="1.0"?>'
        '<rss version="2.0" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:media="http://search.yahoo.com/mrss/"><channel>'
        + element("title")
        + element("language")
        + element("ttl")
        + element("sy:updatePeriod")
        + element("sy:updateFrequency")
        + items
        + "</channel></rss>"
    )
    codec = draw(st.sampled_from(["utf-8", "utf-16", "utf-32", "cp037", "latin-1"]))
    return document.encode(codec, errors="surrogatepass" if codec == "utf-8" else "replace")


def _json_values(leaves: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=20,
    )


json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    text,
)


@st.composite
def json_feeds(draw: st.DrawFn) -> bytes:
    """JSON Feed shapes: right keys with values of any type, items of any shape."""
    value = _json_values(json_leaves)
    item = st.one_of(
        value,
        st.fixed_dictionaries(
            {},
            optional={
                key: value
                for key in (
                    "id",
                    "url",
                    "external_url",
                    "title",
                    "content_html",
                    "content_text",
                    "summary",
                    "date_published",
                    "date_modified",
                    "image",
                    "banner_image",
                )
            },
        ),
    )
    document = draw(
        st.fixed_dictionaries(
            {"version": st.sampled_from(["https://jsonfeed.org/version/1.1", "x", 5])},
            optional={
                "title": value,
                "language": value,
                "home_page_url": value,
                "items": st.one_of(st.lists(item, max_size=5), value),
            },
        )
    )
    return json.dumps(document).encode()


def nested_json(depth: int) -> bytes:
    return (
        b'{"version": "https://jsonfeed.org/version/1.1", "items": '
        + b"[" * depth
        + b"]" * depth
        + b"}"
    )


headers: st.SearchStrategy[dict[str, str]] = st.one_of(
    st.just({}),
    st.builds(
        lambda media, charset: {"content-type": f"{media}; charset={charset}"},
        st.sampled_from(["application/xml", "text/xml", "text/html", "application/rss+xml"]),
        st.sampled_from(CHARSETS),
    ),
    st.dictionaries(
        st.sampled_from(["content-type", "content-location", "content-language"]),
        st.text(max_size=40),
    ),
)

bodies = st.one_of(
    st.binary(max_size=2000),
    rss_documents(),
    json_feeds(),
    st.builds(
        lambda prefix, body: prefix + body,
        st.sampled_from(
            [
                b"\xef\xbb\xbf",
                b"\xff\xfe",
                b"\xfe\xff",
                b"\xff\xfe\x00\x00",
                b"\x00\x00\xfe\xff",
                b"<?xml",
                b"{",
                b"<rss>",
                b"\x4c\x6f\xa7\x94",
            ]
        ),
        st.binary(max_size=500),
    ),
)


def check_parse(body: bytes, response_headers: dict[str, str]) -> ParsedFeed | None:
    """Parse `body`; assert it gave fitted stories or a foreseen `ParseError`."""
    try:
        feed = parse_feed(body, url=URL, headers=response_headers, now=NOW)
    except ParseError as error:
        assert error.kind != "internal", f"unforeseen failure: {error}"
        return None
    for entry in feed.entries:
        assert EARLIEST <= entry.published_at <= NOW
        assert len(entry.language) <= LANGUAGE_LIMIT
        assert not entry.link or entry.link.startswith(("http://", "https://"))
        assert entry.title or entry.summary
        draft = entry.draft(source_id=1)
        assert len(draft.entry_id) <= ENTRY_ID_LIMIT and len(draft.link) <= URL_LIMIT
        for value in (draft.entry_id, draft.title, draft.summary, draft.link, draft.body):
            assert "\x00" not in value
            value.encode("utf-8")  # no lone surrogates: every backend can store it
        if draft.image_url is not None:
            check_image_url(draft.image_url)
    return feed


def check_image_url(url: str) -> None:
    """What every kept image URL is: absolute http(s), no credentials, storable, bounded."""
    assert url.startswith(("http://", "https://")), url
    assert len(url) <= URL_LIMIT
    netloc = url.split("/", 3)[2]
    assert netloc and "@" not in netloc, url
    assert "#" not in url and not any(c.isspace() or ord(c) < 32 for c in url), url
    url.encode("utf-8")
