"""Article text: the reader against a fake news site on loopback, hostile pages, the teaser rule,
key points, and `newsbot read` as a whole process.

The site is `tests.fakes.article_site.ArticleHost` on 127.0.0.2 (the story's own site) and
127.0.0.3 (somewhere else). Deadlines and CPU bounds are injected small so that hostile pages end
in well under a second; the pace's clock and sleep are injected, so no test waits for it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import news.feeds.fetch as fetch_module
import news.feeds.safety
from news.articles import (
    TEASER_CHARS,
    Article,
    ArticleReader,
    ArticleUnavailable,
    HostPace,
    article_key_points,
    needs_article,
)
from news.articles.extract import Refusal, decode_page, extract_article
from news.feeds.fetch import USER_AGENT, Fetcher
from tests.fakes.article_site import (
    ArticleHost,
    Page,
    article_html,
    gzip_bomb,
    gzipped,
    html_page,
    nested_divs,
    paywall_html,
)
from tests.test_cli import clean_env, newsbot

TITLE = "Harbour city opens its first floating solar farm"
PARAGRAPHS = [
    "The harbour city of Northport switched on its first floating solar farm on Tuesday, "
    "covering a disused dock with 12,000 panels that will power about 4,000 homes.",
    "The project cost 38 million euros and took two years to build, the city council said, "
    "adding that the panels stay cooler on water and so produce more power than on a roof.",
    "Engineers anchored the platforms to the dock floor with cables that let them rise and "
    "fall with the tide, a design first tested at a reservoir near the city in 2022.",
    "Local fishermen had worried that the farm would block access to the inner harbour, but "
    "the final plan leaves a channel of 40 metres open for boats at all times.",
    "The council expects the farm to pay for itself within 11 years through lower electricity "
    "bills for municipal buildings and sales of surplus power to the grid.",
    "A second farm, twice the size, is planned for the old coal quay if the first one meets "
    "its targets over the next 18 months, the mayor told reporters at the opening.",
    "Environmental groups welcomed the project but asked the city to publish regular reports "
    "on how the shaded water affects fish and plants in the dock.",
]
CYRILLIC_TITLE = "В городе открыли первую плавучую солнечную электростанцию"
CYRILLIC = [
    "Портовый город Норпорт во вторник запустил свою первую плавучую солнечную электростанцию, "
    "покрыв заброшенный док двенадцатью тысячами панелей.",
    "Проект обошёлся в 38 миллионов евро и строился два года, сообщил городской совет, добавив, "
    "что на воде панели остаются прохладнее и поэтому вырабатывают больше энергии.",
    "Инженеры закрепили платформы на дне дока тросами, которые позволяют им подниматься и "
    "опускаться вместе с приливом.",
    "Совет рассчитывает, что станция окупится за одиннадцать лет благодаря более низким счетам "
    "за электричество для муниципальных зданий.",
]


class FakeTime:
    """A clock the pace reads and a sleep that moves it, recording every wait."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


@pytest.fixture
async def site() -> AsyncIterator[ArticleHost]:
    async with ArticleHost("127.0.0.2") as host:
        yield host


@pytest.fixture
async def elsewhere() -> AsyncIterator[ArticleHost]:
    async with ArticleHost("127.0.0.3") as host:
        yield host


def reader(fetcher: Fetcher, time_: FakeTime | None = None, **options: float) -> ArticleReader:
    time_ = time_ or FakeTime()
    pace = HostPace(clock=time_.clock, sleep=time_.sleep)
    return ArticleReader(fetcher, pace, clock=time_.clock, **options)  # type: ignore[arg-type]


async def unavailable(site_reader: ArticleReader, url: str, **kw: object) -> ArticleUnavailable:
    with pytest.raises(ArticleUnavailable) as caught:
        await site_reader.read(url, **kw)  # type: ignore[arg-type]
    message = str(caught.value)
    assert message and "\n" not in message
    return caught.value


# --- the article -------------------------------------------------------------------------------


async def test_an_article_page_gives_its_text_and_key_points_from_the_body(
    site: ArticleHost,
) -> None:
    url = site.set_page("/news/solar", article_html(TITLE, PARAGRAPHS))
    async with Fetcher() as fetcher:
        article = await reader(fetcher).read(url, site=site.origin)

    assert article.url == url
    assert article.title == TITLE
    for paragraph in PARAGRAPHS[1:]:
        assert paragraph in article.text
    for furniture in ("Sign up", "Getty", "All rights reserved", "Another story", "Sport"):
        assert furniture not in article.text
    assert 3 <= len(article.key_points) <= 4
    body = " ".join(PARAGRAPHS)
    for point in article.key_points:
        assert point in body, "every key point is a whole sentence of the article's body"
        assert not point.startswith(("LONDON", "By ", "Photo"))
    assert article.key_points == tuple(sorted(article.key_points, key=body.index)), "in order"


async def test_the_page_is_asked_for_politely(site: ArticleHost) -> None:
    site.set_page(
        "/robots.txt",
        Page(
            b"User-agent: *\nAllow: /\n", "text/plain", headers={"Set-Cookie": "visitor=1; Path=/"}
        ),
    )
    url = site.set_page("/news/solar", article_html(TITLE, PARAGRAPHS))
    async with Fetcher() as fetcher:
        await reader(fetcher).read(url)

    robots, page = site.requests_for("/robots.txt"), site.requests_for("/news/solar")
    assert len(robots) == 1 and len(page) == 1
    headers = page[0].headers
    assert headers["User-Agent"] == USER_AGENT
    assert headers["Accept"].startswith("text/html")
    assert "Cookie" not in headers, "no cookies kept"


async def test_robots_txt_is_read_once_per_host_and_the_pace_is_kept(site: ArticleHost) -> None:
    first = site.set_page("/news/1", article_html(TITLE, PARAGRAPHS))
    second = site.set_page("/news/2", article_html(TITLE, PARAGRAPHS))
    clock = FakeTime()
    async with Fetcher() as fetcher:
        articles = reader(fetcher, clock)
        await articles.read(first)
        await articles.read(second)

    assert len(site.requests_for("/robots.txt")) == 1
    assert clock.waits == [5.0], "the second page waited for the host's turn"


async def test_extraction_runs_in_a_parse_worker_process(site: ArticleHost) -> None:
    from news.feeds.offload import LazyProcessPool

    url = site.set_page("/news/solar", article_html(TITLE, PARAGRAPHS))
    pool = LazyProcessPool(1)
    try:
        async with Fetcher() as fetcher:
            articles = ArticleReader(fetcher, HostPace(0), executor=pool)
            article = await articles.read(url)
            deep = site.set_page("/deep", Page(nested_divs(200_000)))
            refused = await unavailable(articles, deep)
    finally:
        pool.shutdown()
    assert article.title == TITLE and 3 <= len(article.key_points) <= 4
    assert refused.kind == "too_complex"


async def test_a_feed_poll_noted_on_the_pace_delays_the_host_s_article(site: ArticleHost) -> None:
    url = site.set_page("/news/1", article_html(TITLE, PARAGRAPHS))
    clock = FakeTime()
    async with Fetcher() as fetcher:
        articles = ArticleReader(fetcher, pace := HostPace(clock=clock.clock, sleep=clock.sleep))
        clock.now += 2
        pace.note("127.0.0.2")
        clock.now += 1
        await articles.read(url)
    assert clock.waits == [4.0]


# --- pages the bot does not read ---------------------------------------------------------------


async def test_a_paywalled_page_is_unavailable(site: ArticleHost) -> None:
    url = site.set_page("/premium", paywall_html(TITLE, PARAGRAPHS[0]))
    async with Fetcher() as fetcher:
        error = await unavailable(reader(fetcher), url)
    assert error.kind == "paywall"


async def test_http_402_is_a_paywall(site: ArticleHost) -> None:
    url = site.set_page("/premium", html_page("<p>Pay</p>", status=402))
    async with Fetcher() as fetcher:
        assert (await unavailable(reader(fetcher), url)).kind == "paywall"


async def test_robots_txt_that_forbids_the_bot_is_obeyed(site: ArticleHost) -> None:
    site.set_robots("User-agent: Newsbot\nDisallow: /news/\n\nUser-agent: *\nAllow: /\n")
    url = site.set_page("/news/solar", article_html(TITLE, PARAGRAPHS))
    async with Fetcher() as fetcher:
        error = await unavailable(reader(fetcher), url)
    assert error.kind == "robots"
    assert not site.requests_for("/news/solar"), "the page was never asked for"


@pytest.mark.parametrize(("status", "readable"), [(404, True), (403, True), (500, False)])
async def test_robots_txt_missing_allows_and_unreadable_forbids(
    site: ArticleHost, status: int, readable: bool
) -> None:
    site.set_robots("oops", status=status)
    url = site.set_page("/news/solar", article_html(TITLE, PARAGRAPHS))
    async with Fetcher() as fetcher:
        if readable:
            assert (await reader(fetcher).read(url)).title == TITLE
        else:
            assert (await unavailable(reader(fetcher), url)).kind == "robots"


async def test_a_page_off_the_story_s_site_is_not_fetched(
    site: ArticleHost, elsewhere: ArticleHost
) -> None:
    url = elsewhere.set_page("/any", article_html(TITLE, PARAGRAPHS))
    async with Fetcher() as fetcher:
        error = await unavailable(reader(fetcher), url, site=[site.url("/feed.xml")])
    assert error.kind == "off_site"
    assert not elsewhere.requests


async def test_a_redirect_off_the_site_is_not_followed(
    site: ArticleHost, elsewhere: ArticleHost
) -> None:
    elsewhere.set_page("/any", article_html(TITLE, PARAGRAPHS))
    url = site.redirect("/go", elsewhere.url("/any"))
    async with Fetcher() as fetcher:
        assert (await unavailable(reader(fetcher), url, site=site.origin)).kind == "off_site"
    assert not elsewhere.requests


async def test_a_redirect_to_a_private_address_is_refused(
    site: ArticleHost, elsewhere: ArticleHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    """127.0.0.2 stands in for a public site (the one address the guard is told is public);
    its redirect to 127.0.0.3, a loopback address, must be refused before any request."""
    real = news.feeds.safety.is_public_address
    monkeypatch.setattr(
        fetch_module, "is_public_address", lambda address: address == "127.0.0.2" or real(address)
    )
    elsewhere.set_page("/internal", article_html(TITLE, PARAGRAPHS))
    url = site.redirect("/go", elsewhere.url("/internal"))
    async with Fetcher(public_only=True) as fetcher:
        error = await unavailable(reader(fetcher), url, site=[site.origin, elsewhere.origin])
    assert error.kind == "private_address"
    assert "NEWSBOT_ALLOW_PRIVATE_SOURCES" in str(error)
    assert site.requests_for("/go") and not elsewhere.requests


async def test_429_pauses_the_host_and_says_when_to_come_back(site: ArticleHost) -> None:
    url = site.set_page("/busy", html_page("<p>busy</p>", status=429))
    site.pages["/busy"] = Page(b"busy", status=429, headers={"Retry-After": "120"})
    clock = FakeTime()
    async with Fetcher() as fetcher:
        articles = reader(fetcher, clock)
        error = await unavailable(articles, url)
        assert (error.kind, error.retry_after) == ("slow", 120.0)
        again = await unavailable(articles, site.set_page("/other", "<p>x</p>"))
    assert again.kind == "slow" and again.retry_after == pytest.approx(120.0)
    assert not site.requests_for("/other"), "the paused host was left alone"


# --- hostile pages: each a clear reason, fast ---------------------------------------------------


async def test_an_image_served_as_the_article(site: ArticleHost) -> None:
    url = site.set_page("/photo", Page(b"\x89PNG\r\n\x1a\n" + b"\0" * 5000, "image/png"))
    async with Fetcher() as fetcher:
        error = await unavailable(reader(fetcher), url)
    assert error.kind == "not_html" and "image/png" in str(error)


async def test_a_60_mb_page_stops_at_the_cap(site: ArticleHost) -> None:
    chunk = b"<p>" + b"x" * 65_530 + b"</p>"
    url = site.set_page("/huge", Page(chunk, stream_bytes=60 * 1024 * 1024))
    started = time.monotonic()
    async with Fetcher() as fetcher:
        error = await unavailable(reader(fetcher), url)
    assert error.kind == "too_large"
    assert time.monotonic() - started < 10


async def test_a_gzip_bomb_stops_at_the_cap(site: ArticleHost) -> None:
    url = site.set_page("/bomb", Page(gzip_bomb(64 * 1024 * 1024), gzipped=True))
    async with Fetcher() as fetcher:
        error = await unavailable(reader(fetcher), url)
    assert error.kind == "too_large"


async def test_a_gzipped_article_is_read(site: ArticleHost) -> None:
    url = site.set_page("/zipped", gzipped(html_page(article_html(TITLE, PARAGRAPHS))))
    async with Fetcher() as fetcher:
        assert (await reader(fetcher).read(url)).title == TITLE


async def test_a_byte_a_second_server_meets_the_deadline(site: ArticleHost) -> None:
    url = site.set_page("/slow", Page(article_html(TITLE, PARAGRAPHS).encode(), trickle=0.05))
    started = time.monotonic()
    async with Fetcher() as fetcher:
        error = await unavailable(reader(fetcher, deadline=0.5), url)
    assert error.kind == "timeout"
    assert time.monotonic() - started < 5


async def test_200000_nested_divs_end_fast_with_a_reason(site: ArticleHost) -> None:
    url = site.set_page("/deep", Page(nested_divs(200_000)))
    started = time.monotonic()
    async with Fetcher() as fetcher:
        error = await unavailable(reader(fetcher), url)
    assert error.kind == "too_complex" and "40,000" in str(error)
    assert time.monotonic() - started < 5


def test_extraction_over_its_cpu_bound_is_stopped() -> None:
    page = article_html(TITLE, PARAGRAPHS * 400).encode()
    result = extract_article(page, url="http://127.0.0.2/", cpu_seconds=0.01)
    assert getattr(result, "kind", None) == "timeout"


async def test_a_page_without_article_text(site: ArticleHost) -> None:
    shell = '<html><head><title>App</title></head><body><div id="root"></div>'
    url = site.set_page("/app", shell + "<script>render()</script></body></html>")
    async with Fetcher() as fetcher:
        assert (await unavailable(reader(fetcher), url)).kind == "no_text"


@pytest.mark.parametrize(
    ("charset", "declared_in"),
    [
        ("utf-16", "header"),
        ("windows-1251", "header"),
        ("windows-1251", "meta"),
        ("windows-1251", "nowhere"),
    ],
)
async def test_pages_in_other_encodings_are_decoded_right(
    site: ArticleHost, charset: str, declared_in: str
) -> None:
    document = article_html(
        CYRILLIC_TITLE,
        CYRILLIC,
        dateline="",
        byline="Иван Петров",
        meta_charset=charset if declared_in == "meta" else None,
    )
    content_type = f"text/html; charset={charset}" if declared_in == "header" else "text/html"
    url = site.set_page("/ru", Page(document.encode(charset), content_type=content_type))
    async with Fetcher() as fetcher:
        article = await reader(fetcher).read(url)
    assert article.title == CYRILLIC_TITLE
    assert CYRILLIC[1] in article.text


def test_utf16_without_a_header_is_found_by_its_byte_order_mark() -> None:
    assert decode_page("<p>Привет</p>".encode("utf-16")) == "<p>Привет</p>"


# --- the teaser rule and key points ------------------------------------------------------------


def test_the_teaser_rule() -> None:
    assert needs_article("")
    assert needs_article("A short teaser of one sentence.")
    assert needs_article("<p>" + "Word " * 70 + "</p>")  # 350 characters of plain text
    assert not needs_article(" ".join(PARAGRAPHS))
    assert needs_article(" ".join(PARAGRAPHS) + " Continue reading...")
    assert needs_article(" ".join(PARAGRAPHS) + ' <a href="/x">Read more »</a>')
    assert needs_article(" ".join(PARAGRAPHS) + " [&#8230;]")


@settings(deadline=None)  # CPU-bound examples; the machine may be busy
@given(st.text(max_size=TEASER_CHARS - 1))
def test_any_short_text_is_a_teaser(text: str) -> None:
    assert needs_article(text)


@settings(deadline=None)  # CPU-bound examples; the machine may be busy
@given(st.text(alphabet=st.characters(codec="utf-8"), min_size=0, max_size=3000))
def test_the_teaser_rule_never_fails(text: str) -> None:
    needs_article(text)


WORDS = "the city council said panels water tide boats power fish engineers built harbour"
WORDS += " new solar farm homes"
sentence = st.builds(
    lambda words: " ".join(words).capitalize() + ".",
    st.lists(
        st.sampled_from(WORDS.split()),
        min_size=6,
        max_size=20,
    ),
)


@settings(deadline=None)  # CPU-bound examples; the machine may be busy
@given(st.lists(sentence, min_size=0, max_size=30), st.text(max_size=80))
def test_key_points_are_two_to_four_whole_sentences_of_the_text(
    sentences: list[str], title: str
) -> None:
    text = "\n".join(sentences)
    points = article_key_points(text, title)
    assert len(points) <= 4
    for point in points:
        assert point in text
        assert point.endswith(".")
    if len(text) > 1500 and len(set(sentences)) >= 10:
        assert len(points) >= 2


def test_key_points_skip_bylines_credits_newsletters_and_the_headline() -> None:
    text = "\n".join(
        [
            TITLE + ".",
            "By Jane Doe, Staff Reporter.",
            "LONDON (Reuters) - " + PARAGRAPHS[0],
            "Photo: Getty Images.",
            *PARAGRAPHS[1:],
            "Sign up for our newsletter to get the news every morning.",
            "Read more about solar power here.",
        ]
    )
    points = article_key_points(text, TITLE)
    assert 3 <= len(points) <= 4
    assert points[0] == PARAGRAPHS[0], "the dateline is cut from the sentence it opens"
    joined = " ".join(points)
    for noise in ("Jane Doe", "Getty", "newsletter", "Read more", "LONDON"):
        assert noise not in joined
    assert TITLE + "." not in points


# --- newsbot read, as a whole process ---------------------------------------------------------


async def test_newsbot_read_prints_the_card(site: ArticleHost, tmp_path: Path) -> None:
    url = site.set_page("/news/solar", article_html(TITLE, PARAGRAPHS))
    code, out, err = await newsbot("read", url, env=clean_env(tmp_path), cwd=tmp_path)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == TITLE
    assert "Key points:" in lines
    assert PARAGRAPHS[2] in out and url in out


async def test_newsbot_read_json(site: ArticleHost, tmp_path: Path) -> None:
    url = site.set_page("/news/solar", article_html(TITLE, PARAGRAPHS))
    code, out, _ = await newsbot("read", url, "--json", env=clean_env(tmp_path), cwd=tmp_path)
    assert code == 0
    card = json.loads(out)
    assert set(card) == {"url", "title", "text", "key_points"}
    assert card["url"] == url and card["title"] == TITLE
    assert PARAGRAPHS[3] in card["text"]
    assert 3 <= len(card["key_points"]) <= 4


@pytest.mark.parametrize("private_allowed", [True, False])
async def test_newsbot_read_without_article_text_exits_1_with_one_line(
    site: ArticleHost, tmp_path: Path, private_allowed: bool
) -> None:
    url = site.set_page("/premium", paywall_html(TITLE, PARAGRAPHS[0]))
    env = clean_env(tmp_path)
    if not private_allowed:
        env.pop("NEWSBOT_ALLOW_PRIVATE_SOURCES")
    code, out, err = await newsbot("read", url, env=env, cwd=tmp_path)
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and "Traceback" not in err
    expected = "subscribers only" if private_allowed else "NEWSBOT_ALLOW_PRIVATE_SOURCES"
    assert expected in err


async def test_newsbot_read_imports_no_database_layer(tmp_path: Path) -> None:
    code, _, err = await newsbot("read", "not a url", env=clean_env(tmp_path), cwd=tmp_path)
    assert code == 1 and "not a web page address" in err
    probe = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import sys, bot.cli, bot.settings, news.articles; "
        "bot.settings.Settings.from_environment(); "
        "print('sqlalchemy' in sys.modules, 'trafilatura' in sys.modules)",
        env=clean_env(tmp_path),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
    )
    out_bytes, _ = await probe.communicate()
    assert out_bytes.decode().split() == ["False", "False"]


# --- the feed's own full text ---------------------------------------------------------------


def test_a_teaser_description_beside_full_content_takes_the_body_from_the_content() -> None:
    """WordPress feeds: a one-line description, the whole post in content:encoded. The summary
    stays the description's; the body (and so the card's key points) is the content."""
    from datetime import UTC, datetime

    from news.feeds.parse import parse_feed

    content = "".join(f"<p>{paragraph}</p>" for paragraph in PARAGRAPHS)
    feed = f"""<?xml version="1.0"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>
<title>Northport Daily</title><link>https://northport.example/</link>
<item><title>{TITLE}</title><link>https://northport.example/solar</link>
<description>The city switched on its floating solar farm. Continue reading…</description>
<content:encoded><![CDATA[{content}]]></content:encoded></item>
<item><title>Short news</title><link>https://northport.example/short</link>
<description>Only a teaser here.</description></item>
</channel></rss>"""
    solar, short = parse_feed(
        feed.encode(), url="https://northport.example/feed", now=datetime.now(UTC)
    ).entries

    assert solar.summary.startswith("The city switched on its floating solar farm.")
    assert solar.body.startswith(PARAGRAPHS[0])
    assert not needs_article(solar.body)
    assert (short.summary, short.body) == ("Only a teaser here.", "")
    assert needs_article(short.body or short.summary)


async def test_an_unreadable_robots_txt_is_said_so(site: ArticleHost) -> None:
    site.set_robots("down", status=503)
    url = site.set_page("/news/solar", article_html(TITLE, PARAGRAPHS))
    async with Fetcher() as fetcher:
        error = await unavailable(reader(fetcher), url)
    assert error.kind == "robots" and "could not be read" in str(error)


def test_markup_the_parser_cannot_take_is_a_reason_not_a_crash() -> None:
    for page in (b"", b"\0\0\0\0", b"<" * 10_000, "<p>\ud800</p>".encode("utf-8", "surrogatepass")):
        result = extract_article(page, url="http://127.0.0.2/")
        assert getattr(result, "kind", None) in ("no_text", "too_complex")


@settings(deadline=None)  # CPU-bound examples; the machine may be busy
@given(
    st.binary(max_size=3000),
    st.sampled_from(
        [None, "text/html", "text/html; charset=utf-16", "text/html; charset=nonsense"]
    ),
)
def test_any_bytes_give_an_article_or_a_reason(body: bytes, content_type: str | None) -> None:
    result = extract_article(body, url="http://127.0.0.2/", content_type=content_type)
    assert isinstance(result, (Article, Refusal))


@settings(deadline=None)  # CPU-bound examples; the machine may be busy
@given(st.text(max_size=200))
def test_any_site_names_a_domain_or_nothing(text: str) -> None:
    from news.articles.sites import on_site, site_domains

    domains = site_domains([text])
    assert on_site("http://127.0.0.2/x", domains) in (True, False)


def test_registrable_domains_come_from_the_bundled_suffix_list() -> None:
    from news.articles.sites import on_site, registrable_domain, site_domains

    assert registrable_domain("feeds.bbci.co.uk") == "bbci.co.uk"
    assert registrable_domain("www.bbc.co.uk") == "bbc.co.uk"
    assert registrable_domain("127.0.0.2") == "127.0.0.2"
    feed_and_links = site_domains(["https://feeds.bbci.co.uk/news/rss.xml", "www.bbc.co.uk"])
    assert on_site("https://www.bbc.co.uk/news/articles/x", feed_and_links)
    assert on_site("https://feeds.bbci.co.uk/other", feed_and_links)
    assert not on_site("https://bbc.co.uk.evil.example/x", feed_and_links)
    assert not on_site("https://co.uk/x", feed_and_links)
