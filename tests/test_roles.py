"""`newsbot run --role …`: split roles share one PostgreSQL database, each doing its part once.

3 pollers, 2 senders and 1 bot run as real subprocesses against the fake Bot API and a feed
server with 200 feeds; 500 chats follow two topics each. Every feed is fetched once per due
time (no two pollers take the same source), every push is sent once (no two senders take the
same row), the bot answers while the others work and is the only getUpdates consumer, and when
one sender is killed with `kill -9` holding claimed rows, the other sends them after the lease.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from handlers.i18n import LANGUAGES
from news.topics import parse_topic
from storage import open_storage
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import FeedItem, rss_feed
from tests.fakes.telegram import FakeBotApi
from tests.harness import newsbot_environment, role_logs, start_newsbot_run, start_roles, stop_roles

FEEDS = 200
CHATS = 500
FIRST_CHAT = 10_000
POLL_INTERVAL = 10  # seconds: the fixed schedule (floor = ceiling) each source is due on
SEND_LEASE = 3  # seconds: how long a killed sender's rows stay claimed
SEND_RATE = 50  # messages a second per sender
PEOPLE = 1001  # a user who talks to the bot while the others work
# Messages a sender may have sent but not recorded when it dies: handlers.sender's window.
IN_FLIGHT_WINDOW = 64


def word(number: int, prefix: str = "zq") -> str:
    """A made-up word no stemmer shortens and no other story shares: zqbax, zqbbx, …"""
    letters = "bcdfghjklmnpqrstvwz"
    first, second = divmod(number, len(letters))
    return f"{prefix}{letters[first % len(letters)]}a{letters[second]}x"


def topics_of(chat: int) -> tuple[str, str]:
    """Two topics for each chat; each feed's story matches the chats of its word (5 or so)."""
    index = chat - FIRST_CHAT
    return word(index % FEEDS), word((index + FEEDS // 2) % FEEDS)


def story_feed(feed: int) -> str:
    """Feed `feed` with its one new story, on its own words so no two stories cluster."""
    return rss_feed(
        [
            FeedItem(
                title=f"{word(feed)} {word(feed, 'vy')} {word(feed, 'kw')}",
                link=f"https://news.example.org/{feed}",
                summary=f"{word(feed, 'pm')} {word(feed, 'tr')} {word(feed, 'gl')}.",
                published=datetime.now(UTC),
            )
        ],
        title=f"Feed {feed}",
    )


async def subscribe_chats(database_url: str) -> int:
    """The 500 chats and their topics; how many pushes the 200 new stories owe them."""
    storage = await open_storage(database_url)
    now = datetime.now(UTC)
    try:
        for chat in range(FIRST_CHAT, FIRST_CHAT + CHATS):
            await storage.upsert_chat(chat, kind="private", title=None, now=now)
            for topic in topics_of(chat):
                await storage.subscribe(chat, parse_topic(topic).text, now=now)
    finally:
        await storage.close()
    return CHATS * 2


class RequestTimes:
    """When each feed request arrived, by path (the feed server records no times)."""

    def __init__(self, feeds: FeedServer) -> None:
        self.feeds = feeds
        self.times: dict[str, list[float]] = defaultdict(list)
        self._seen = 0
        self._sampled = asyncio.Event()
        self._task = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(0.02)

    def sample(self) -> None:
        now = time.monotonic()
        for request in self.feeds.requests[self._seen :]:
            self.times[request.path].append(now)
        self._seen = len(self.feeds.requests)
        self._sampled.set()
        self._sampled = asyncio.Event()

    async def wait_until(self, condition: Callable[[], bool], deadline: float, what: str) -> None:
        """Wait, sample by sample, until `condition` holds (the fakes' state, the times)."""
        async with asyncio.timeout(deadline):
            while not condition():
                await self._sampled.wait()
        assert condition(), what

    async def stop(self) -> None:
        self._task.cancel()
        self.sample()


@pytest.mark.postgres
async def test_three_pollers_two_senders_and_a_bot_share_postgresql(
    postgres_url: str, telegram: FakeBotApi, feeds: FeedServer, tmp_path: Path
) -> None:
    started = time.monotonic()
    paths = [f"/feeds/{feed}.xml" for feed in range(FEEDS)]
    first_etags = {path: feeds.set_feed(path, rss_feed([], title=path)) for path in paths}
    (tmp_path / "sources.txt").write_text("".join(feeds.url(path) + "\n" for path in paths))
    owed = await subscribe_chats(postgres_url)
    subscribed = time.monotonic() - started
    env = newsbot_environment(
        telegram,
        postgres_url,
        tmp_path / "sources.txt",
        NEWSBOT_ALLOW_PRIVATE_SOURCES="1",
        NEWSBOT_POLL_INTERVAL=str(POLL_INTERVAL),
        NEWSBOT_POLL_CEILING=str(POLL_INTERVAL),
        NEWSBOT_SEND_LEASE=str(SEND_LEASE),
        NEWSBOT_SEND_RATE=str(SEND_RATE),
    )
    times = RequestTimes(feeds)
    processes: dict[str, asyncio.subprocess.Process] = {}
    try:
        roles = [
            (f"{role}{number}", role)
            for role, count in (("poll", 3), ("send", 2), ("bot", 1))
            for number in range(count)
        ]
        await start_roles(env, tmp_path, roles, processes)

        # Due time 1: every feed read once (a first read stores, pushes nothing).
        await times.wait_until(lambda: all(times.times[p] for p in paths), 60, "each feed read")
        first_round = time.monotonic() - started
        feeds_read = dict(times.times)
        assert all(len(feeds_read[path]) == 1 for path in paths), "each feed read once"
        for feed, path in enumerate(paths):
            feeds.set_feed(path, story_feed(feed))

        # The bot answers while the pollers and senders work.
        telegram.inject_message(PEOPLE, "/start")
        await telegram.wait_for_message(PEOPLE, contains="news bot", timeout=30)

        # Due time 2: each feed's story is stored once and pushed to its chats, once each.
        def pushed() -> list[int]:
            return [m["chat_id"] for m in telegram.delivered() if m["chat_id"] != PEOPLE]

        await times.wait_until(lambda: len(pushed()) >= owed * 3 // 10, 90, "pushes under way")
        before_kill = _pairs(telegram)
        duplicates_before_kill = len(before_kill) - len(set(before_kill))
        killed_at = time.monotonic()
        processes["send0"].send_signal(signal.SIGKILL)
        await processes["send0"].wait()

        await times.wait_until(lambda: len(set(_pairs(telegram))) >= owed, 90, "every push sent")
        finished_after_kill = time.monotonic() - killed_at
        await asyncio.sleep(1)  # a duplicate would show up now
    finally:
        await stop_roles(processes)
        await times.stop()

    logs = role_logs(tmp_path, processes)
    for name, process in processes.items():
        if name != "send0":
            assert process.returncode == 0, logs[name]
        assert "Traceback" not in logs[name], logs[name]

    pairs = _pairs(telegram)
    duplicates = len(pairs) - len(set(pairs))
    gaps = [
        later - earlier
        for stamps in times.times.values()
        for earlier, later in itertools.pairwise(stamps)
    ]
    per_feed = Counter(len(times.times[path]) for path in paths)
    print(
        f"\n3 pollers, 2 senders, 1 bot over {FEEDS} feeds and {CHATS} chats: chats ready "
        f"{subscribed:.1f} s, first round "
        f"{first_round:.1f} s after start; requests per feed {dict(per_feed)}, shortest gap "
        f"{min(gaps):.1f} s (interval {POLL_INTERVAL} s); {len(set(pairs))} of {owed} pushes, "
        f"duplicates {duplicates_before_kill} before kill -9 after {len(before_kill)}, "
        f"{duplicates} in all; finished {finished_after_kill:.1f} s after kill -9 "
        f"(lease {SEND_LEASE} s); test {time.monotonic() - started:.0f} s"
    )
    chats = range(FIRST_CHAT, FIRST_CHAT + CHATS)
    wanted = {(chat, topic) for chat in chats for topic in topics_of(chat)}
    assert set(pairs) == wanted, "each chat has the story of each of its topics"
    assert all(count >= 2 for count in per_feed), "every feed read at its second due time"
    # A poll sends the validator its source's row holds: none at the first due time, the
    # first answer's ETag at the second (until that poll records the story's ETag). Two pollers
    # claiming one due source would both send the same one.
    for path in paths:
        sent = [request.headers.get("if-none-match") for request in feeds.requests_for(path)]
        assert sent.count(None) == 1, f"{path} fetched once at its first due time"
        assert sent.count(first_etags[path]) == 1, f"{path} fetched once at its second"
    assert duplicates_before_kill == 0
    assert duplicates <= IN_FLIGHT_WINDOW, "only messages in flight at the kill may repeat"
    getmes = telegram.calls_to("getMe")
    assert len(getmes) == 3, "the bot and the two senders; pollers never talk to Telegram"
    menus = [call.params.get("language_code") for call in telegram.calls_to("setMyCommands")]
    assert sorted(menus, key=str) == sorted([None, *LANGUAGES], key=str), (
        "only the bot registers the menus: once by default, once per language"
    )
    conflicts = [c for c in telegram.calls_to("getUpdates", include_failed=True) if c.failed]
    assert conflicts == [], "one getUpdates consumer: the bot"


def _pairs(telegram: FakeBotApi) -> list[tuple[int, str]]:
    """(chat, story word) of each push: a story's headline starts with its own word."""
    return [
        (message["chat_id"], message["text"].removeprefix("<b>").split()[0])
        for message in telegram.delivered()
        if message["chat_id"] != PEOPLE
    ]


async def test_a_split_role_refuses_sqlite_with_a_clear_message(
    telegram: FakeBotApi, tmp_path: Path
) -> None:
    process = await start_newsbot_run(telegram, tmp_path, role="send")
    _, err = await asyncio.wait_for(process.communicate(), timeout=60)
    message = err.decode()
    assert process.returncode == 2
    assert "--role send" in message and "needs PostgreSQL" in message
    assert "DATABASE_URL=postgresql://" in message and "--role all" in message
    assert "Traceback" not in message
    assert not (tmp_path / "newsbot.db").exists(), "refused before touching the database"


@pytest.mark.postgres
async def test_processes_starting_together_on_a_new_database_migrate_it_once(
    postgres_url: str, tmp_path: Path
) -> None:
    """The roles of a deployment start at once on an empty database: one migrates, the others
    wait for it (an advisory lock) and find the schema current; one sync adds the sources."""
    opened = await asyncio.gather(*(open_storage(postgres_url) for _ in range(4)))
    try:
        urls = [f"https://news.example.org/{feed}" for feed in range(50)]
        now = datetime.now(UTC)
        plans = await asyncio.gather(*(storage.sync_sources(urls, now=now) for storage in opened))
        assert sorted(len(plan.added) for plan in plans) == [0, 0, 0, 50]
        assert len(await opened[0].list_sources()) == 50
    finally:
        for storage in opened:
            await storage.close()
