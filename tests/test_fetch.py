"""The fault matrix: every way a feed host fails, in one tick beside a healthy source.

Real HTTP against the loopback feed server, a real database, a hand-moved clock. Each fault is
handled (recorded, backed off, disabled, followed or refused) while the healthy source in the
same tick is still ingested.
"""

from __future__ import annotations

import asyncio
import gzip
import random
import socket
from datetime import timedelta

import pytest

from news.errors import FetchError
from news.feeds.fetch import Fetcher, FetchLimits
from news.model import PollOutcome
from news.polling.pipeline import Poller, PollSettings
from storage import SqlStorage
from tests.conftest import Clock
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import FeedItem, rss_feed
from tests.test_parse import BILLION_LAUGHS, XXE, huge_entity_feed

CAP = 256 * 1024
FLOOR = timedelta(minutes=1)


def items(count: int, prefix: str = "story") -> list[FeedItem]:
    return [
        FeedItem(title=f"{prefix} {n}", link=f"https://news.example.org/{prefix}/{n}")
        for n in range(count)
    ]


def refused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def poller(storage: SqlStorage, fetcher: Fetcher) -> Poller:
    return Poller(
        storage, fetcher, PollSettings(interval=FLOOR, concurrency=32), rng=random.Random(7)
    )


def limits(**overrides: float) -> FetchLimits:
    return FetchLimits(max_bytes=CAP, total_timeout=overrides.get("total_timeout", 5.0))


async def refusal(feeds: FeedServer, path: str) -> str:
    """The kind of the `FetchError` that fetching `path` raises."""
    async with Fetcher(limits()) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.fetch(feeds.url(path))
    return caught.value.kind


async def test_fault_matrix(storage: SqlStorage, feeds: FeedServer, clock: Clock) -> None:
    now = clock()
    healthy = feeds.url("/healthy.xml")
    feeds.set_feed("/healthy.xml", rss_feed(items(3, "healthy")))
    feeds.stall("/timeout.xml")
    feeds.set_response("/gone.xml", status=410)
    feeds.set_response("/busy.xml", status=429, headers={"Retry-After": "120"})
    feeds.set_response("/broken.xml", status=500, body="oops")
    for hop in range(3):
        feeds.set_response(f"/chain{hop}", status=302, headers={"Location": f"/chain{hop + 1}"})
    feeds.set_feed("/chain3", rss_feed(items(2, "chain")))
    feeds.set_response("/loop-a", status=302, headers={"Location": "/loop-b"})
    feeds.set_response("/loop-b", status=307, headers={"Location": "/loop-a"})
    feeds.set_response("/old.xml", status=301, headers={"Location": "/new.xml"})
    feeds.set_feed("/new.xml", rss_feed(items(2, "moved")))
    latin = rss_feed([FeedItem(title="Café crème à Zürich", link="https://e.org/c")])
    feeds.set_feed(
        "/charset.xml",
        latin.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').encode("latin-1"),
        content_type="application/rss+xml; charset=utf-8",
    )
    feeds.set_feed("/huge-body.xml", rss_feed(items(3000, "big")))
    bomb = gzip.compress(b"<rss>" + b" " * (50 * 1024 * 1024))
    feeds.set_response(
        "/bomb.xml",
        status=200,
        body=bomb,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/rss+xml"},
    )
    feeds.set_feed("/laughs.xml", BILLION_LAUGHS)
    feeds.set_feed("/xxe.xml", XXE.replace("file:///etc/passwd", feeds.url("/secret")))
    feeds.set_feed("/entity.xml", huge_entity_feed(uses=1000)[: CAP - 1000] + "</rss>")
    feeds.set_feed("/page.html", "<!doctype html><html><body>shop</body></html>", etag=False)
    feeds.set_response("/empty.xml", status=200, body=b"")
    feeds.set_feed("/many.xml", rss_feed(items(5000, "many")))

    urls = {
        "healthy": healthy,
        "timeout": feeds.url("/timeout.xml"),
        "refused": f"http://127.0.0.1:{refused_port()}/feed.xml",
        "missing": feeds.url("/missing.xml"),
        "gone": feeds.url("/gone.xml"),
        "busy": feeds.url("/busy.xml"),
        "broken": feeds.url("/broken.xml"),
        "chain": feeds.url("/chain0"),
        "loop": feeds.url("/loop-a"),
        "moved": feeds.url("/old.xml"),
        "charset": feeds.url("/charset.xml"),
        "huge-body": feeds.url("/huge-body.xml"),
        "bomb": feeds.url("/bomb.xml"),
        "laughs": feeds.url("/laughs.xml"),
        "xxe": feeds.url("/xxe.xml"),
        "entity": feeds.url("/entity.xml"),
        "html": feeds.url("/page.html"),
        "empty": feeds.url("/empty.xml"),
        "many": feeds.url("/many.xml"),
    }
    for url in urls.values():
        await storage.add_source(url, now=now)

    async with Fetcher(
        FetchLimits(max_bytes=2 * 1024 * 1024, total_timeout=3.0, per_host=32)
    ) as fetcher:
        outcomes = await poller(storage, fetcher).poll_due(now)
    by_url: dict[str, PollOutcome] = {outcome.source_url: outcome for outcome in outcomes}
    got = {name: by_url[url] for name, url in urls.items()}

    def error_kind(name: str) -> str | None:
        return got[name].error_kind

    assert got["healthy"].status == "ok" and got["healthy"].new_stories == 3
    assert error_kind("timeout") == "timeout"
    assert error_kind("refused") == "connect"
    assert error_kind("missing") == "http-404"
    assert error_kind("gone") == "http-410" and got["gone"].disabled
    assert error_kind("busy") == "http-429"
    assert got["busy"].next_poll_at == now + timedelta(seconds=120)
    assert error_kind("broken") == "http-500"
    assert got["broken"].next_poll_at is not None
    assert now + FLOOR / 2 <= got["broken"].next_poll_at <= now + FLOOR
    assert got["chain"].status == "ok" and got["chain"].moved_to is None, got["chain"]
    assert error_kind("loop") == "redirect-loop"
    assert got["moved"].status == "ok" and got["moved"].moved_to == feeds.url("/new.xml")
    assert got["charset"].status == "ok" and got["charset"].new_stories == 1
    assert got["huge-body"].status == "ok"
    assert error_kind("bomb") == "too-large"
    assert got["laughs"].status in ("ok", "error")
    assert got["xxe"].status in ("ok", "error")
    assert not feeds.requests_for("/secret"), "an external entity is never fetched"
    assert got["entity"].status in ("ok", "error")
    assert error_kind("html") == "html"
    assert error_kind("empty") == "empty"
    assert got["many"].status == "ok" and got["many"].new_stories == 5000

    listed = {source.url: source for source in await storage.list_sources()}
    assert feeds.url("/new.xml") in listed and feeds.url("/old.xml") not in listed
    assert not listed[urls["gone"]].enabled
    broken = listed[urls["broken"]]
    assert broken.last_error == "HTTP 500 Internal Server Error"
    assert broken.last_error_kind == "http-500"
    assert broken.last_error_at == now and broken.error_count == 1
    assert listed[healthy].stories_count == 3 and listed[healthy].error_count == 0
    feeds.release("/timeout.xml")


async def test_over_the_cap_is_refused_while_streaming(feeds: FeedServer) -> None:
    feeds.set_feed("/big.xml", rss_feed(items(4000)))
    assert await refusal(feeds, "/big.xml") == "too-large"


async def test_gzip_and_conditional_get_and_user_agent(feeds: FeedServer) -> None:
    body = rss_feed(items(2)).encode()
    feeds.set_response(
        "/z.xml",
        status=200,
        body=gzip.compress(body),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/rss+xml"},
    )
    tag = feeds.set_feed("/feed.xml", body, last_modified="Tue, 02 Jan 2024 03:04:05 GMT")
    async with Fetcher(limits()) as fetcher:
        zipped = await fetcher.fetch(feeds.url("/z.xml"))
        first = await fetcher.fetch(feeds.url("/feed.xml"))
        again = await fetcher.fetch(
            feeds.url("/feed.xml"), etag=first.etag, last_modified=first.last_modified
        )
    assert zipped.body == body and "content-encoding" not in zipped.headers
    assert first.etag == tag and first.body == body
    assert again.not_modified and again.body == b""
    request = feeds.requests_for("/feed.xml")[-1]
    assert request.headers["if-none-match"] == tag
    assert request.headers["user-agent"].startswith("Newsbot/")
    assert "gzip" in request.headers["accept-encoding"]


async def test_more_than_five_redirects_is_an_error(feeds: FeedServer) -> None:
    for hop in range(7):
        feeds.set_response(f"/r{hop}", status=301, headers={"Location": f"/r{hop + 1}"})
    feeds.set_feed("/r7", rss_feed(items(1)))
    assert await refusal(feeds, "/r0") == "too-many-redirects"


async def test_temporary_then_permanent_redirect_keeps_the_url(feeds: FeedServer) -> None:
    feeds.set_response("/a", status=302, headers={"Location": "/b"})
    feeds.set_response("/b", status=301, headers={"Location": "/c"})
    feeds.set_feed("/c", rss_feed(items(1)))
    async with Fetcher(limits()) as fetcher:
        result = await fetcher.fetch(feeds.url("/a"))
    assert result.url == feeds.url("/c") and result.permanent_url is None


async def test_redirect_to_another_scheme_is_refused(feeds: FeedServer) -> None:
    feeds.set_response("/a", status=302, headers={"Location": "file:///etc/passwd"})
    assert await refusal(feeds, "/a") == "url"


async def test_unchanged_body_without_validators_costs_no_parse(
    storage: SqlStorage, feeds: FeedServer, clock: Clock
) -> None:
    feeds.set_feed("/plain.xml", rss_feed(items(2)), etag=False)
    feeds.set_feed("/tagged.xml", rss_feed(items(2, "t")))
    for path in ("/plain.xml", "/tagged.xml"):
        await storage.add_source(feeds.url(path), now=clock())
    async with Fetcher(limits()) as fetcher:
        poll = poller(storage, fetcher)
        first = await poll.poll_sources(await storage.list_sources(), clock())
        second = await poll.poll_sources(await storage.list_sources(), clock.advance(minutes=5))
    assert [o.status for o in first] == ["ok", "ok"]
    assert [o.status for o in second] == ["unchanged", "not-modified"]


async def test_backoff_then_recovery_returns_to_the_normal_schedule(
    storage: SqlStorage, feeds: FeedServer, clock: Clock
) -> None:
    feeds.set_response("/flaky.xml", status=503)
    source = await storage.add_source(feeds.url("/flaky.xml"), now=clock())
    delays = []
    async with Fetcher(limits()) as fetcher:
        poll = poller(storage, fetcher)
        for _ in range(12):
            (outcome,) = await poll.poll_sources(
                [s for s in await storage.list_sources() if s.id == source.id], clock()
            )
            assert outcome.next_poll_at is not None
            delays.append(outcome.next_poll_at - clock())
            clock.now = outcome.next_poll_at
        assert all(FLOOR / 2 <= delay <= timedelta(hours=6) for delay in delays)
        assert delays[-1] >= timedelta(hours=3), "capped at 6 h, jittered into its upper half"
        assert delays[4] > delays[0] * 4
        feeds.set_feed("/flaky.xml", rss_feed(items(2)))
        (outcome,) = await poll.poll_sources(await storage.list_sources(), clock())
    assert outcome.status == "ok"
    assert outcome.next_poll_at is not None
    assert outcome.next_poll_at - clock() <= FLOOR * 1.5 * 1.1
    (listed,) = await storage.list_sources()
    assert listed.error_count == 0 and listed.last_error is None


async def test_per_host_and_global_limits_hold_requests_back() -> None:
    from aiohttp import web

    in_flight: dict[str, int] = {}
    peak: dict[str, int] = {}
    total_peak = 0
    gate = asyncio.Event()
    full = asyncio.Event()
    limited = FetchLimits(per_host=2, max_in_flight=5)

    async def handle(request: web.Request) -> web.Response:
        nonlocal total_peak
        host = request.host.split(":")[0]
        in_flight[host] = in_flight.get(host, 0) + 1
        peak[host] = max(peak.get(host, 0), in_flight[host])
        total_peak = max(total_peak, sum(in_flight.values()))
        if sum(in_flight.values()) == limited.max_in_flight:
            full.set()
        await gate.wait()
        in_flight[host] -= 1
        return web.Response(body=rss_feed(items(1)).encode(), content_type="application/rss+xml")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    ports = []
    for host in ("127.0.0.1", "127.0.0.2", "127.0.0.3"):  # three hosts, all on loopback
        site = web.TCPSite(runner, host, 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server) and server.sockets
        ports.append((host, server.sockets[0].getsockname()[1]))
    try:
        async with Fetcher(limited) as fetcher:
            tasks = [
                asyncio.create_task(
                    fetcher.fetch(f"http://{ports[n % 3][0]}:{ports[n % 3][1]}/{n}")
                )
                for n in range(12)
            ]
            await full.wait()
            gate.set()
            await asyncio.gather(*tasks)
    finally:
        await runner.cleanup()
    assert max(peak.values()) == 2
    assert total_peak == 5


async def test_connections_are_reused_after_304s_redirects_and_errors() -> None:
    from aiohttp import web

    peers: set[object] = set()
    tag = '"v1"'

    async def handle(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        peers.add(request.transport.get_extra_info("peername"))
        if request.path == "/moved":
            raise web.HTTPFound("/feed", text="moved")
        if request.path == "/missing":
            raise web.HTTPNotFound(text="no such feed " * 50)
        if request.headers.get("If-None-Match") == tag:
            return web.Response(status=304, headers={"ETag": tag})
        return web.Response(text=rss_feed(items(2)), headers={"ETag": tag})

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with Fetcher(limits()) as fetcher:
            assert (await fetcher.fetch(f"{base}/feed")).status == 200
            for _ in range(3):
                assert (await fetcher.fetch(f"{base}/feed", etag=tag)).not_modified
            assert (await fetcher.fetch(f"{base}/moved", etag=tag)).not_modified
            with pytest.raises(FetchError):
                await fetcher.fetch(f"{base}/missing")
            assert (await fetcher.fetch(f"{base}/feed", etag=tag)).not_modified
    finally:
        await runner.cleanup()
    assert len(peers) == 1, "every request went over the first connection"


async def test_a_public_only_fetcher_never_reaches_a_private_address(feeds: FeedServer) -> None:
    feeds.set_feed("/feed.xml", rss_feed(items(1)))
    literal = feeds.url("/feed.xml")
    named = literal.replace("127.0.0.1", "localhost")  # a name that resolves to loopback
    async with Fetcher(public_only=True) as fetcher:
        for url in (literal, named):
            with pytest.raises(FetchError, match="loopback, private or link-local") as refused:
                await fetcher.fetch(url)
            assert refused.value.kind == "private-address"
    assert not feeds.requests, "nothing reached the private host"
    async with Fetcher() as fetcher:  # NEWSBOT_ALLOW_PRIVATE_SOURCES=1
        assert (await fetcher.fetch(named)).status == 200


async def test_numeric_host_spellings_are_refused(feeds: FeedServer) -> None:
    port = feeds.port
    async with Fetcher(public_only=True) as fetcher:
        for host in ("127.1", "2130706433", "0x7f000001", "0x7f.0.0.1"):
            with pytest.raises(FetchError, match="not a canonical IP address"):
                await fetcher.fetch(f"http://{host}:{port}/feed.xml")
    assert not feeds.requests
