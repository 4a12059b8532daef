"""No feed can stall another: hostile values in one tick beside healthy feeds, on both backends.

Real HTTP against the loopback feed server and a real database (SQLite and PostgreSQL through
the `storage` fixture); one variant is the real `newsbot poll --once` on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import random
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from news.errors import FetchError
from news.feeds import LANGUAGE_LIMIT
from news.feeds.fetch import Fetcher, FetchLimits
from news.polling.pipeline import Poller, PollSettings
from storage import SqlStorage
from tests.conftest import Clock
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import FeedItem, rss_feed
from tests.hostile import nested_json
from tests.test_cli import clean_env, newsbot

HEALTHY = 5
PER_FEED = 8
JSON_FEED = "https://jsonfeed.org/version/1.1"


def poller(storage: SqlStorage, fetcher: Fetcher) -> Poller:
    return Poller(
        storage,
        fetcher,
        PollSettings(interval=timedelta(minutes=1), concurrency=32),
        rng=random.Random(3),
    )


def healthy_items(feed: int) -> list[FeedItem]:
    return [
        FeedItem(
            title=f"Healthy story {feed}-{n}",
            link=f"https://news.example.org/{feed}/{n}",
            summary=f"Story {n} of healthy feed {feed}.",
        )
        for n in range(PER_FEED)
    ]


def one_story_rss(channel: str = "", item: str = "", *, title: str = "A story") -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Hostile</title>'
        f"{channel}<item><title>{title}</title>{item}</item></channel></rss>"
    )


def serve_hostile_tick(feeds: FeedServer) -> tuple[list[str], dict[str, str]]:
    """Five healthy feeds and one source per hostile value; (healthy URLs, hostile URLs)."""
    healthy = []
    for feed in range(HEALTHY):
        feeds.set_feed(
            f"/healthy{feed}.xml", rss_feed(healthy_items(feed), title=f"Healthy {feed}")
        )
        healthy.append(feeds.url(f"/healthy{feed}.xml"))
    link = "<link>https://e.org/{}</link>"
    hostile_feeds: dict[str, str | bytes] = {
        "language": one_story_rss("<language>" + "en-" + "x" * 30 + "</language>", link.format(1)),
        "long-link": one_story_rss(item=f"<link>https://e.org/{'a' * 3000}</link>"),
        "nul-title": one_story_rss(item=link.format(3), title="Nul\x00 in a title").encode(),
        "ttl": one_story_rss("<ttl>²</ttl>", link.format(4)),
        "year-1": one_story_rss(
            item=link.format(5) + "<pubDate>Mon, 01 Jan 0001 00:00:00 GMT</pubDate>"
        ),
        "json-nul": json.dumps(
            {"version": JSON_FEED, "title": "J", "items": [{"id": "1", "title": "Nul\u0000 too"}]}
        ),
        "json-items-5": json.dumps({"version": JSON_FEED, "title": "J", "items": 5}),
        "json-deep": nested_json(200_000),
    }
    urls = {}
    for name, body in hostile_feeds.items():
        content_type = "application/feed+json" if name.startswith("json") else "application/rss+xml"
        feeds.set_feed(f"/{name}", body, content_type=content_type)
        urls[name] = feeds.url(f"/{name}")
    feeds.set_feed(
        "/max-age",
        one_story_rss(item=link.format(6)),
        headers={"Cache-Control": "max-age=1e17"},
    )
    urls["max-age"] = feeds.url("/max-age")
    for status in (503, 429):
        feeds.set_response(f"/retry-{status}", status=status, headers={"Retry-After": "1e17"})
        urls[f"retry-{status}"] = feeds.url(f"/retry-{status}")
    return healthy, urls


STORED = {"language", "long-link", "nul-title", "ttl", "year-1", "json-nul", "max-age"}
REFUSED = {"json-items-5": "not-a-feed", "json-deep": "not-a-feed", "retry-503": "http-503",
           "retry-429": "http-429"}  # fmt: skip


async def test_hostile_values_beside_healthy_feeds_in_one_tick(
    storage: SqlStorage, feeds: FeedServer, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    healthy, hostile = serve_hostile_tick(feeds)
    for url in [*healthy, *hostile.values()]:
        await storage.add_source(url, now=clock())

    async with Fetcher(FetchLimits(per_host=32)) as fetcher:
        outcomes = await poller(storage, fetcher).poll_due(clock())

    assert not [record for record in caplog.records if record.exc_info], "no traceback logged"
    by_url = {outcome.source_url: outcome for outcome in outcomes}
    assert [by_url[url].new_stories for url in healthy] == [PER_FEED] * HEALTHY
    for name in STORED:
        assert by_url[hostile[name]].status == "ok", (name, by_url[hostile[name]])
        assert by_url[hostile[name]].new_stories == 1, name
    sources = {source.url: source for source in await storage.list_sources()}
    for name, kind in REFUSED.items():
        source = sources[hostile[name]]
        assert source.last_error_kind == kind, (name, source.last_error)
        assert source.next_poll_at is not None and source.next_poll_at > clock()
    # Retry-After: 1e17 is no number: the source backs off as from any failure, and is back
    # within the backoff's first step (not a day, not never).
    assert sources[hostile["retry-503"]].next_poll_at <= clock() + timedelta(minutes=1)  # type: ignore[operator]

    stories = {story.source_id: story for story in await storage.latest(None, limit=200)}
    assert len(await storage.latest(None, limit=200)) == HEALTHY * PER_FEED + len(STORED)
    fitted = {name: stories[sources[hostile[name]].id] for name in STORED}
    assert len(fitted["language"].language) <= LANGUAGE_LIMIT
    assert fitted["long-link"].link == ""
    assert "\x00" not in fitted["nul-title"].title and "Nul" in fitted["nul-title"].title
    assert fitted["json-nul"].title == "Nul too"
    assert fitted["year-1"].published_at == clock()


async def test_a_source_whose_write_fails_costs_only_its_own_poll(
    storage: SqlStorage, feeds: FeedServer, clock: Clock
) -> None:
    for feed in range(3):
        feeds.set_feed(f"/f{feed}.xml", rss_feed(healthy_items(feed)))
        await storage.add_source(feeds.url(f"/f{feed}.xml"), now=clock())
    claimed = await storage.list_sources()
    # The first source's row is deleted while its poll runs: storing its stories now fails.
    # (`remove_source` only disables a source, so this goes around it.)
    async with storage.engine.begin() as connection:
        await connection.execute(
            text("DELETE FROM sources WHERE url = :url"), {"url": claimed[0].url}
        )

    async with Fetcher() as fetcher:
        outcomes = await poller(storage, fetcher).poll_sources(claimed, clock())

    assert [outcome.status for outcome in outcomes] == ["error", "ok", "ok"]
    assert outcomes[0].error_kind == "storage"
    assert len(await storage.latest(None, limit=100)) == 2 * PER_FEED


async def test_entries_without_links_and_with_new_guids_are_stored_once(
    storage: SqlStorage, feeds: FeedServer, clock: Clock
) -> None:
    def feed(run: int) -> str:
        return (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>Linkless</title>'
            + "".join(
                f"<item><title>Bulletin {n}</title><description>Text {n}</description>"
                f'<guid isPermaLink="false">{run}-{n}-{random.random()}</guid></item>'
                for n in range(3)
            )
            + "</channel></rss>"
        )

    feeds.set_feed("/linkless.xml", feed(1))
    await storage.add_source(feeds.url("/linkless.xml"), now=clock())
    async with Fetcher() as fetcher:
        first = await poller(storage, fetcher).poll_sources(await storage.list_sources(), clock())
        feeds.set_feed("/linkless.xml", feed(2))
        clock.advance(minutes=5)
        second = await poller(storage, fetcher).poll_sources(await storage.list_sources(), clock())

    assert (first[0].new_stories, second[0].status, second[0].new_stories) == (3, "ok", 0)
    assert len(await storage.latest(None, limit=10)) == 3


@pytest.mark.parametrize(
    "address",
    ["2002:7f00:1::1", "2001:0:4136:e378:8000:63bf:80ff:fffe", "64:ff9b::7f00:1"],
    ids=["6to4", "teredo", "nat64"],
)
async def test_ipv6_forms_of_a_private_ipv4_are_refused_by_the_fetcher(address: str) -> None:
    async with Fetcher(public_only=True) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.fetch(f"http://[{address}]/feed.xml")
    assert caught.value.kind == "private-address"


async def test_waiting_for_a_host_slot_does_not_count_against_the_deadline(
    feeds: FeedServer,
) -> None:
    # One request at a time to this host, each answered after 0.4 s, a deadline of 1 s: the
    # fifth feed waits 1.6 s for its turn, and must still be read.
    for feed in range(5):
        feeds.set_feed(f"/slow{feed}.xml", rss_feed(healthy_items(feed)))
        feeds.delay(f"/slow{feed}.xml", 0.4)
    feeds.set_feed("/slower.xml", rss_feed(healthy_items(9)))
    feeds.delay("/slower.xml", 3.0)
    async with Fetcher(FetchLimits(per_host=1, total_timeout=1.0)) as fetcher:
        results = await asyncio.gather(
            *(fetcher.fetch(feeds.url(f"/slow{feed}.xml")) for feed in range(5))
        )
        with pytest.raises(FetchError) as caught:
            await fetcher.fetch(feeds.url("/slower.xml"))  # the deadline still holds a request

    assert [result.status for result in results] == [200] * 5
    assert caught.value.kind == "timeout"


@pytest.mark.parametrize("storage", ["postgresql"], indirect=True)
async def test_poll_once_on_postgresql_survives_the_hostile_tick(
    storage: SqlStorage, postgres_database: str, feeds: FeedServer, tmp_path: Path
) -> None:
    healthy, hostile = serve_hostile_tick(feeds)
    sources = tmp_path / "sources.txt"
    sources.write_text("".join(url + "\n" for url in [*healthy, *hostile.values()]))
    env = {**clean_env(tmp_path, NEWSBOT_SOURCES=str(sources)), "DATABASE_URL": postgres_database}

    code, out, err = await newsbot("poll", "--once", env=env, cwd=tmp_path)

    assert code == 0, err
    assert "Traceback" not in err
    total = len(healthy) + len(hostile)
    stored = HEALTHY * PER_FEED + len(STORED)
    assert f"{total} sources polled, {stored} new stories, {len(REFUSED)} failed" in out
    for url in healthy:
        assert f"✓ {url}: {PER_FEED} entries, {PER_FEED} new" in out

    code, listed, err = await newsbot("sources", "list", env=env, cwd=tmp_path)
    assert code == 0 and "Traceback" not in err
    blocks = {block.split("\n", 1)[0]: block for block in listed.split("\n" + "http")}
    for name in REFUSED:
        block = next(text for first, text in blocks.items() if first.endswith(f"/{name}"))
        assert "⚠" in block and "last error" in block, block
    for name in STORED:
        block = next(text for first, text in blocks.items() if first.endswith(f"/{name}"))
        assert "✓ fetched" in block and "1 story" in block, block
