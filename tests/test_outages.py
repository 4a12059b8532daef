"""Outages lose nothing: the Bot API or the database down, and everything owed arrives after.

The Bot API outages run on one simulated clock shared by the fake server, the gateway and the
sender (a scheduler tick is a second of it), so a 90-second outage costs no 90 real seconds; the
requests themselves are real HTTP through python-telegram-bot. The database outages are real:
SQLite locked by another connection past its busy timeout, PostgreSQL refusing connections.
"""

from __future__ import annotations

import asyncio
import logging
import math
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import DBAPIError
from telegram.ext import ExtBot

from handlers.gateway import Gateway, Priority
from handlers.pacing import Limits
from handlers.sender import Sender
from handlers.telegram_http import AiohttpRequest
from news.errors import StorageError
from news.model import PollRecord
from news.policy import MAX_BACKOFF
from storage import SqlStorage, create_engine
from storage.database import migrate
from storage.tables import deliveries
from tests.conftest import POSTGRES_URL, Clock
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import fresh_story_feed, rss_feed
from tests.fakes.telegram import FakeBotApi
from tests.harness import running_bot
from tests.storage_helpers import delivery_states
from tests.test_delivery import follow, publish

CHATS = range(20_000, 20_200)
OUTAGE = 90.0
TOKEN = "123456:TEST-TOKEN"


class SimTime(Clock):
    """One simulated time axis: the sender's datetime clock, and monotonic seconds for the
    gateway and the fake server; sleeping moves it forward at once."""

    def __init__(self) -> None:
        super().__init__()
        self._epoch = self.now

    def monotonic(self) -> float:
        return (self.now - self._epoch).total_seconds()

    async def sleep(self, seconds: float) -> None:
        # Rounded up to the datetime's microsecond: a shorter wait must still move time.
        self.now += timedelta(microseconds=max(1, math.ceil(seconds * 1e6)))
        await asyncio.sleep(0)


@pytest.fixture
def sim() -> SimTime:
    return SimTime()


@pytest.fixture
async def api(sim: SimTime) -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(TOKEN, clock=sim.monotonic) as fake:
        yield fake


@pytest.fixture
async def bot(api: FakeBotApi, sim: SimTime) -> AsyncIterator[ExtBot[Priority]]:
    gateway = Gateway(Limits(global_per_second=25), monotonic=sim.monotonic, sleep=sim.sleep)
    request = AiohttpRequest(connection_pool_size=8)
    async with ExtBot(api.token, base_url=api.base_url, request=request, rate_limiter=gateway) as b:
        yield b


def sender_for(bot: ExtBot[Priority], store: SqlStorage, sim: SimTime) -> Sender:
    return Sender(bot, store, sim, monotonic=sim.monotonic, sleep=sim.sleep)


async def tick_until(sender: Sender, sim: SimTime, until: float) -> None:
    """The scheduler's send tick, once a simulated second, until `until`."""
    while sim.monotonic() < until:
        sim.advance(seconds=1)
        await sender.send_pending()


@pytest.mark.parametrize("drop", [False, True], ids=["502", "dropped connections"])
async def test_a_fan_out_cut_by_a_90_second_outage_reaches_every_chat_once(
    store: SqlStorage, bot: ExtBot[Priority], api: FakeBotApi, sim: SimTime, drop: bool
) -> None:
    """Acceptance: 200 chats, 502 to everything (or every connection dropped) for 90 s in the
    middle of the fan-out."""
    for chat in CHATS:
        await follow(store, sim, chat, "ukraine")
    await publish(store, sim, ["Ukraine: the story everyone follows"])
    sender = sender_for(bot, store, sim)
    api.start_outage(status=502, drop=drop, after_sends=80)

    await sender.send_pending()
    failed = [call for call in api.calls if call.failed]
    assert failed, "the outage began during the fan-out"
    began = failed[0].at
    await tick_until(sender, sim, began + OUTAGE)
    during = len(api.calls_to("sendMessage", include_failed=True)) - 80
    assert await delivery_states(store) == {"sent": 80, "pending": 120}, "nothing given up"

    api.end_outage()
    recovered = sim.monotonic()
    await tick_until(sender, sim, recovered + 120)

    assert sorted(int(m["chat_id"]) for m in api.delivered()) == list(CHATS), "each once"
    assert api.duplicates(lambda params: params["chat_id"]) == 0
    assert await delivery_states(store) == {"sent": 200}
    after_recovery = api.send_rate_timeline()[-1] - recovered
    assert after_recovery <= 60.0
    # While it was down the sender probed with backoff instead of failing every row in turn.
    assert during < 200
    print(
        f"outage: delivered 200/200, 0 duplicates, last {after_recovery:.1f} s after recovery,"
        f" {during} requests during the {OUTAGE:.0f} s outage"
    )


async def test_a_digest_due_during_an_outage_is_delivered_after_it(
    storage: SqlStorage, bot: ExtBot[Priority], api: FakeBotApi, sim: SimTime
) -> None:
    store = storage
    await follow(store, sim, 1001, "ukraine")
    await store.set_digest(1001, "12:00")
    await publish(store, sim, ["Ukraine first"], minutes_ago=24 * 60 - 2)  # just in time
    await publish(store, sim, ["Ukraine second"])
    sender = sender_for(bot, store, sim)
    api.start_outage(status=502)

    await sender.send_digest(1001)  # what the digest job does at 12:00
    await tick_until(sender, sim, 300.0)
    assert api.delivered() == [] and await delivery_states(store) == {"pending": 2}

    api.end_outage()
    recovered = sim.monotonic()
    await tick_until(sender, sim, recovered + MAX_BACKOFF.total_seconds() + 5)

    [digest] = api.texts(1001)
    assert digest.startswith("<b>Your daily digest</b>")
    assert "Ukraine first" in digest and "Ukraine second" in digest
    assert await delivery_states(store) == {"sent": 2}


@pytest.fixture
async def locked(tmp_path: Path) -> AsyncIterator[tuple[SqlStorage, sqlite3.Connection]]:
    """Storage on SQLite that waits 0.2 s, not 10 s, for a lock, and another connection that
    takes the lock (`BEGIN IMMEDIATE`) when a test says so."""
    path = tmp_path / "locked.db"
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine.sync_engine, "connect")
    def short_busy_timeout(connection: object, _record: object) -> None:
        connection.execute("PRAGMA busy_timeout=200")  # type: ignore[attr-defined]

    await migrate(engine)
    store = SqlStorage(engine)
    locker = sqlite3.connect(path, isolation_level=None)
    yield store, locker
    locker.close()
    await store.close()


async def test_a_locked_database_fails_a_call_with_the_domains_storage_error(
    locked: tuple[SqlStorage, sqlite3.Connection], sim: SimTime
) -> None:
    store, locker = locked
    locker.execute("BEGIN IMMEDIATE")
    with pytest.raises(StorageError, match="database is locked") as caught:
        await store.upsert_chat(1001, kind="private", title=None, now=sim())
    assert isinstance(caught.value.__cause__, DBAPIError), "the driver's error is the cause"
    locker.execute("ROLLBACK")
    await store.upsert_chat(1001, kind="private", title=None, now=sim())
    assert await store.chat_settings(1001) is not None, "the next call after the lock works"


async def test_a_sent_message_is_recorded_once_the_database_lock_is_gone(
    locked: tuple[SqlStorage, sqlite3.Connection],
    bot: ExtBot[Priority],
    api: FakeBotApi,
    sim: SimTime,
) -> None:
    """SQLite locked by another connection past the busy timeout right after a send: the row
    stays claimed until it is recorded, and the next round after the lease sends nothing."""
    store, locker = locked
    failed_records = 0

    def lock_the_database(_params: object) -> None:
        locker.execute("BEGIN IMMEDIATE")

    async def sleep_and_release(seconds: float) -> None:
        nonlocal failed_records
        failed_records += 1
        if failed_records == 3:  # held for three busy timeouts
            locker.execute("ROLLBACK")
        await sim.sleep(seconds)

    await follow(store, sim, 1001, "ukraine")
    await publish(store, sim, ["Ukraine story"])
    api.on_delivered = lock_the_database
    sender = Sender(bot, store, sim, monotonic=sim.monotonic, sleep=sleep_and_release)
    await sender.send_pending()
    api.on_delivered = None

    assert failed_records == 3
    assert await delivery_states(store) == {"sent": 1}
    sim.advance(minutes=5)  # far past the lease
    await sender.send_pending()
    assert len(api.texts(1001)) == 1, "never sent twice"


async def test_error_texts_are_stored_with_the_token_masked(
    storage: SqlStorage, bot: ExtBot[Priority], api: FakeBotApi, sim: SimTime
) -> None:
    storage.never_store(TOKEN)
    await follow(storage, sim, 1001, "ukraine")
    await publish(storage, sim, ["Ukraine story"])
    api.fail_next("sendMessage", error_code=400, description=f"Bad Request: no bot{TOKEN} here")
    await sender_for(bot, storage, sim).send_pending()
    [source] = await storage.list_sources()
    failure = f"GET https://example.org/bot{TOKEN}/feed failed"
    await storage.record_outcomes(
        [
            PollRecord(
                source.id, sim(), sim() + timedelta(minutes=5), error_kind="fetch", error=failure
            )
        ]
    )

    async with storage.engine.connect() as conn:
        [error] = (await conn.execute(select(deliveries.c.last_error))).scalars()
    [source] = await storage.list_sources()
    for text in (error, source.last_error):
        assert text is not None and TOKEN not in text and "<TOKEN>" in text


async def test_a_database_outage_is_one_log_line_a_minute_and_the_bot_catches_up(
    postgres_url: str,
    telegram: FakeBotApi,
    feeds: FeedServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.loops")
    name = postgres_url.rsplit("/", 1)[1]
    feeds.set_feed("/world.xml", rss_feed([], title="World"))
    async with running_bot(
        telegram, feeds, tmp_path, extra_env={"DATABASE_URL": postgres_url}
    ) as running:
        telegram.inject_message(1001, "/subscribe ukraine")
        await telegram.wait_for_message(1001, contains="Subscribed")
        await running.ticks.wait_polls(1)

        admin = await asyncpg.connect(POSTGRES_URL)
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        caplog.clear()
        feeds.set_feed(
            "/world.xml",
            fresh_story_feed(
                "Ukraine story during the outage",
                "https://news.example.org/outage",
                "Published while the database was down.",
            ),
        )
        await asyncio.sleep(4)  # four ticks of the one-second schedule, all failing
        after = telegram.mark()
        telegram.inject_message(1001, "/help")  # needs no database: answered all the same
        await telegram.wait_for_message(1001, contains="What I can do", after=after)
        outage_lines = [
            record
            for record in caplog.records
            if record.name == "bot.loops" and "failed" in record.getMessage()
        ]

        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()
        await telegram.wait_for_message(
            1001, contains="Ukraine story during the outage", timeout=30
        )

    assert len({record.getMessage().split(" ")[0] for record in outage_lines}) == len(
        outage_lines
    ), "one line per job for the minute, not one per tick"
    assert outage_lines and all(record.exc_info is None for record in outage_lines)
    assert any("works again" in record.getMessage() for record in caplog.records)


async def test_a_sender_slower_than_its_lease_sends_none_of_what_another_may_have_claimed(
    store: SqlStorage, bot: ExtBot[Priority], api: FakeBotApi, sim: SimTime
) -> None:
    """200 rows claimed at once under a 4 s lease take 8 s at 25 messages a second: from the
    lease's end another sender may claim the rest, so this one must not send them too. (A
    message already waiting for its slot when the lease ends still goes, as after a kill -9:
    one at a time here, so that none is.)"""
    for chat in CHATS:
        await follow(store, sim, chat, "ukraine")
    await publish(store, sim, ["Ukraine: the story everyone follows"])
    lease = timedelta(seconds=4)
    slow = Sender(
        bot,
        store,
        sim,
        monotonic=sim.monotonic,
        sleep=sim.sleep,
        lease=lease,
        batch=len(CHATS),
        unrecorded_window=1,
    )
    sending = asyncio.ensure_future(slow.send_pending())
    taken: set[int] = set()  # chats whose rows another sender claimed
    while not sending.done():
        if sim.monotonic() >= lease.total_seconds():
            claimed = await store.claim_deliveries(limit=len(CHATS), now=sim.now, lease=lease)
            taken |= {row.chat_id for row in claimed}
        await asyncio.sleep(0.002)
    await sending
    sim.advance(seconds=lease.total_seconds())  # what it left is anyone's after the lease
    claimed = await store.claim_deliveries(limit=len(CHATS), now=sim.now, lease=lease)
    taken |= {row.chat_id for row in claimed}

    delivered = [int(message["chat_id"]) for message in api.delivered()]
    assert taken, "the other sender found rows whose lease had run out"
    assert taken.isdisjoint(delivered), "a row another sender claimed was sent by this one too"
    assert sorted([*delivered, *taken]) == list(CHATS), "every row sent or claimed, once"
