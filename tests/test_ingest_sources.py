"""Managing sources: discovery of a page's feed, refusing private hosts, the CLI, OPML."""

from __future__ import annotations

from pathlib import Path

import pytest

from news.errors import SourceError
from news.feeds import check_public_host, is_public_address
from news.feeds.discovery import advertised_feeds, find_feed
from news.feeds.fetch import Fetcher
from tests.conftest import Clock
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import FeedItem, rss_feed
from tests.test_cli import clean_env, newsbot

PAGE = """<!doctype html><html><head><title>Blog</title>
<link rel="stylesheet" href="/style.css">
<link rel="alternate" type="application/rss+xml" title="Posts" href="/feed.xml">
</head><body>hello</body></html>"""
FEED = rss_feed([FeedItem(title="Hello", link="https://blog.example/hello")], title="The Blog")


def test_advertised_feeds_are_found_and_made_absolute() -> None:
    page = PAGE.replace(
        "</head>", '<link rel="alternate" type="application/atom+xml" href="atom.xml"></head>'
    )
    assert advertised_feeds(page.encode(), "https://blog.example/posts/") == [
        "https://blog.example/feed.xml",
        "https://blog.example/posts/atom.xml",
    ]


async def test_a_page_leads_to_the_feed_it_advertises(feeds: FeedServer, clock: Clock) -> None:
    feeds.set_feed("/", PAGE, content_type="text/html; charset=utf-8")
    feeds.set_feed("/feed.xml", FEED)
    feeds.set_feed("/plain", "<!doctype html><html><body>no feed</body></html>")
    async with Fetcher() as fetcher:
        found = await find_feed(feeds.url("/"), fetcher, now=clock(), allow_private=True)
        assert found.url == feeds.url("/feed.xml")
        assert found.feed.title == "The Blog"
        direct = await find_feed(feeds.url("/feed.xml"), fetcher, now=clock(), allow_private=True)
        assert direct.url == feeds.url("/feed.xml")
        with pytest.raises(SourceError, match="HTML and advertises no feed"):
            await find_feed(feeds.url("/plain"), fetcher, now=clock(), allow_private=True)
        with pytest.raises(SourceError, match="not an http"):
            await find_feed("javascript:alert(1)", fetcher, now=clock())


async def test_private_and_loopback_hosts_are_refused(feeds: FeedServer, clock: Clock) -> None:
    for address in ("127.0.0.1", "10.1.2.3", "192.168.0.1", "169.254.169.254", "::1", "fc00::1"):
        assert not is_public_address(address), address
    assert is_public_address("93.184.216.34")
    with pytest.raises(SourceError, match="NEWSBOT_ALLOW_PRIVATE_SOURCES"):
        await check_public_host("http://localhost:8080/feed")
    feeds.set_feed("/feed.xml", FEED)
    async with Fetcher() as fetcher:
        with pytest.raises(SourceError, match="loopback, private or link-local"):
            await find_feed(feeds.url("/feed.xml"), fetcher, now=clock())
    assert not feeds.requests, "a refused source is never fetched"


async def test_cli_sources_add_list_export_import_remove(feeds: FeedServer, tmp_path: Path) -> None:
    feeds.set_feed("/", PAGE, content_type="text/html; charset=utf-8")
    feeds.set_feed("/feed.xml", FEED)
    sources_file = tmp_path / "file-sources.txt"
    sources_file.write_text("")
    env = clean_env(tmp_path, NEWSBOT_SOURCES=str(sources_file))

    code, out, err = await newsbot("sources", "add", feeds.url("/"), env=env, cwd=tmp_path)
    assert code == 0, err
    assert f"Added {feeds.url('/feed.xml')} (The Blog, 1 entries)" in out

    code, out, _ = await newsbot("sources", "export", env=env, cwd=tmp_path)
    assert code == 0 and f'xmlUrl="{feeds.url("/feed.xml")}"' in out
    (tmp_path / "out.opml").write_text(out)

    code, out, _ = await newsbot("sources", "remove", feeds.url("/feed.xml"), env=env, cwd=tmp_path)
    assert code == 0
    code, out, err = await newsbot(
        "sources", "import", str(tmp_path / "out.opml"), env=env, cwd=tmp_path
    )
    assert code == 0, err
    assert "Imported 0 new sources (1 read again, 0 known already)" in out

    feeds.set_response("/feed.xml", status=500)
    code, out, _ = await newsbot("poll", "--once", env=env, cwd=tmp_path)
    code, out, _ = await newsbot("sources", "list", env=env, cwd=tmp_path)
    assert "HTTP 500" in out and "1× in a row" in out and "last error: http-500 at" in out

    strict = {**env, "NEWSBOT_ALLOW_PRIVATE_SOURCES": "0"}
    code, _, err = await newsbot("sources", "add", feeds.url("/"), env=strict, cwd=tmp_path)
    assert code == 1 and "loopback, private or link-local" in err
