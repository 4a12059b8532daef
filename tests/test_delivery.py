"""Delivery against the fake Bot API: Telegram's answers and what the outbox does with them.

The real python-telegram-bot client sends to the fake server over HTTP, through the bot's
gateway (`handlers.gateway`); stories and the outbox live in a real SQLite database. The
gateway's pacing runs on a virtual clock, so waiting for a slot costs no wall time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from telegram.error import NetworkError
from telegram.ext import ExtBot

from handlers.gateway import Gateway, Priority
from handlers.pacing import Limits
from handlers.sender import Sender
from handlers.telegram_http import AiohttpRequest
from news.model import ClusterAssignment, StoryDraft
from news.polling.pipeline import match_subscriptions
from storage import SqlStorage, create_engine
from tests.conftest import Clock
from tests.fakes.telegram import FakeBotApi
from tests.storage_helpers import delivery_states
from tests.stories import english_story

ALICE, BOB = 1001, 1002
GROUP, SUPERGROUP = -2001, -1002001


class VirtualTime:
    """A monotonic clock whose sleeps return at once and move it forward."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


Bot = ExtBot[Priority]


def gateway_bot(
    api: FakeBotApi, rate: float = 25, vtime: VirtualTime | None = None
) -> ExtBot[Priority]:
    """The real client on the bot's own transport and gateway, as `build_app` sets them."""
    gateway = (
        Gateway(Limits(global_per_second=rate))
        if vtime is None
        else Gateway(Limits(global_per_second=rate), monotonic=vtime.monotonic, sleep=vtime.sleep)
    )
    return ExtBot(
        api.token,
        base_url=api.base_url,
        request=AiohttpRequest(connection_pool_size=8),
        rate_limiter=gateway,
    )


@pytest.fixture
def vtime() -> VirtualTime:
    return VirtualTime()


@pytest.fixture
async def bot(telegram: FakeBotApi, vtime: VirtualTime) -> AsyncIterator[Bot]:
    async with gateway_bot(telegram, vtime=vtime) as real_bot:
        yield real_bot


def make_sender(bot: Bot, store: SqlStorage, clock: Clock, vtime: VirtualTime) -> Sender:
    return Sender(bot, store, clock, monotonic=vtime.monotonic, sleep=vtime.sleep)


async def publish(
    store: SqlStorage, clock: Clock, titles: list[str], *, minutes_ago: int = 5
) -> list[int]:
    """Store stories and queue them for every subscription they match; their ids."""
    source = await store.add_source("https://news.example.org/feed", now=clock())
    drafts = [
        english_story(
            source.id,
            title,
            entry_id=f"{title}-{i}",
            summary="Details follow.",
            link=f"https://news.example.org/{i}-{abs(hash(title))}",
            published_at=clock() - timedelta(minutes=minutes_ago),
        )
        for i, title in enumerate(titles)
    ]
    stories = await store.store_stories(drafts, now=clock())
    owed = match_subscriptions(stories, await store.active_subscriptions(), clock())
    await store.enqueue_deliveries(owed, now=clock())
    return [story.id for story in stories]


async def reported_by(store: SqlStorage, clock: Clock, outlet: str, *, cluster: int) -> None:
    """Another outlet reports the grain deal, and its story joins `cluster`."""
    source = await store.add_source(f"https://{outlet}.example/feed", now=clock())
    [story] = await store.store_stories(
        [
            StoryDraft(
                source_id=source.id,
                entry_id="grain",
                title="Grain deal for Ukraine",
                summary="Signed today.",
                link=f"https://{outlet}.example/grain",
                published_at=clock() - timedelta(minutes=1),
                language="en",
            )
        ],
        now=clock(),
    )
    await store.assign_clusters([ClusterAssignment(story.id, cluster)], now=clock())


async def sent_only_after(
    sender: Sender, telegram: FakeBotApi, clock: Clock, chat_id: int, *waits: float
) -> None:
    """After a round that sent the chat nothing: each of `waits` seconds passes and the sender
    runs again; only the last round brings the chat its one message."""
    for seconds in waits:
        assert telegram.texts(chat_id) == []
        clock.advance(seconds=seconds)
        await sender.send_pending()
    assert len(telegram.texts(chat_id)) == 1


async def follow(store: SqlStorage, clock: Clock, chat_id: int, *topics: str) -> None:
    kind = "private" if chat_id > 0 else "group"
    await store.upsert_chat(chat_id, kind=kind, title=None, now=clock())
    for topic in topics:
        await store.subscribe(chat_id, topic, now=clock())


async def test_one_message_per_chat_naming_every_matched_topic(
    store: SqlStorage, bot: Bot, telegram: FakeBotApi, clock: Clock, vtime: VirtualTime
) -> None:
    await follow(store, clock, ALICE, "ukraine", "peace talks")
    await follow(store, clock, BOB, "ukraine")
    await publish(store, clock, ["Ukraine peace talks resume in Riyadh"])

    report = await make_sender(bot, store, clock, vtime).send_pending()

    assert report.sent == 2
    [to_alice] = telegram.texts(ALICE)
    assert "🔔 peace talks, ukraine" in to_alice
    assert len(telegram.texts(BOB)) == 1
    assert await delivery_states(store) == {"sent": 2}


async def test_a_blocked_bot_makes_the_chat_inactive_until_it_starts_again(
    store: SqlStorage, bot: Bot, telegram: FakeBotApi, clock: Clock, vtime: VirtualTime
) -> None:
    await follow(store, clock, ALICE, "ukraine")
    await follow(store, clock, BOB, "ukraine")
    telegram.block_chat(ALICE)
    await publish(store, clock, ["Ukraine: first story", "Ukraine: second story"])

    report = await make_sender(bot, store, clock, vtime).send_pending()

    assert report.sent == 2 and telegram.texts(ALICE) == [] and len(telegram.texts(BOB)) == 2
    assert await delivery_states(store) == {"sent": 2, "failed": 2}
    settings = await store.chat_settings(ALICE)
    assert settings is not None and not settings.active
    assert ALICE not in {s.chat_id for s in await store.active_subscriptions()}

    telegram.unblock_chat(ALICE)
    await store.upsert_chat(ALICE, kind="private", title=None, now=clock())  # what /start does
    clock.advance(minutes=1)
    await publish(store, clock, ["Ukraine: third story"])
    await make_sender(bot, store, clock, vtime).send_pending()
    assert len(telegram.texts(ALICE)) == 1


async def test_a_group_upgraded_to_a_supergroup_moves_and_gets_its_story(
    store: SqlStorage, bot: Bot, telegram: FakeBotApi, clock: Clock, vtime: VirtualTime
) -> None:
    await follow(store, clock, GROUP, "ukraine")
    telegram.migrate_chat(GROUP, SUPERGROUP)
    await publish(store, clock, ["Ukraine talks"])

    await make_sender(bot, store, clock, vtime).send_pending()

    assert len(telegram.texts(SUPERGROUP)) == 1
    assert [s.topic for s in await store.subscriptions(SUPERGROUP)] == ["ukraine"]
    assert await store.subscriptions(GROUP) == []


async def test_a_message_rejected_for_its_entities_is_sent_as_plain_text(
    store: SqlStorage, bot: Bot, telegram: FakeBotApi, clock: Clock, vtime: VirtualTime
) -> None:
    await follow(store, clock, ALICE, "ukraine")
    telegram.fail_next(
        "sendMessage",
        chat_id=ALICE,
        error_code=400,
        description="Bad Request: can't parse entities: Unsupported start tag at byte offset 3",
    )
    await publish(store, clock, ["Ukraine & Moldova sign a <b>deal</b>"])

    await make_sender(bot, store, clock, vtime).send_pending()

    [message] = telegram.delivered(ALICE)
    assert "parse_mode" not in message
    assert message["text"].startswith("Ukraine & Moldova sign a <b>deal</b>")
    assert await delivery_states(store) == {"sent": 1}


async def test_server_errors_are_retried_with_backoff_until_the_story_is_too_old(
    store: SqlStorage, bot: Bot, telegram: FakeBotApi, clock: Clock, vtime: VirtualTime
) -> None:
    await follow(store, clock, ALICE, "ukraine")
    telegram.fail_next(
        "sendMessage", chat_id=ALICE, error_code=502, description="Bad Gateway", times=2
    )
    await publish(store, clock, ["Ukraine story"])
    sender = make_sender(bot, store, clock, vtime)

    await sender.send_pending()
    assert await delivery_states(store) == {"pending": 1}
    await sender.send_pending()
    assert telegram.texts(ALICE) == [], "the retry waits for its backoff"
    clock.advance(seconds=2)
    await sender.send_pending()
    clock.advance(seconds=4)
    await sender.send_pending()
    assert len(telegram.texts(ALICE)) == 1

    # An outage of hours: tried again at most every half minute, never given up while the
    # story may still be pushed...
    telegram.fail_next(
        "sendMessage", chat_id=ALICE, error_code=500, description="Internal", times=10_000
    )
    clock.advance(minutes=1)
    await publish(store, clock, ["Ukraine second story"], minutes_ago=60)
    tries = 0
    for _ in range(6 * 60):
        await sender.send_pending()
        clock.advance(seconds=30)
        tries = len(telegram.calls_to("sendMessage", include_failed=True)) - 3
        assert await delivery_states(store) == {"sent": 1, "pending": 1}
    assert 300 <= tries <= 360, "every 30 s once the backoff is at its cap"
    # ...and once it may not, it is failed rather than pushed late.
    clock.advance(hours=22)
    await sender.send_pending()
    assert await delivery_states(store) == {"sent": 1, "failed": 1}


async def test_retry_after_is_honoured_for_the_chat_it_covers(
    store: SqlStorage, bot: Bot, telegram: FakeBotApi, clock: Clock, vtime: VirtualTime
) -> None:
    await follow(store, clock, ALICE, "ukraine")
    await follow(store, clock, BOB, "ukraine")
    telegram.fail_with_retry_after("sendMessage", 3, chat_id=ALICE)
    await publish(store, clock, ["Ukraine story"])
    sender = make_sender(bot, store, clock, vtime)

    await sender.send_pending()
    assert len(telegram.texts(BOB)) == 1
    await sent_only_after(sender, telegram, clock, ALICE, 2, 1)


async def test_a_burst_becomes_one_digest_message(
    store: SqlStorage, bot: Bot, telegram: FakeBotApi, clock: Clock, vtime: VirtualTime
) -> None:
    await follow(store, clock, ALICE, "ukraine")
    await publish(store, clock, [f"Ukraine update number {n}" for n in range(1, 7)])

    report = await make_sender(bot, store, clock, vtime).send_pending()

    [digest] = telegram.texts(ALICE)
    assert digest.startswith("<b>6 new stories</b>")
    assert all(f"Ukraine update number {n}" in digest for n in range(1, 7))
    assert report.sent == 6 and report.digests == 1


async def test_a_long_digest_is_split_between_stories(
    store: SqlStorage, bot: Bot, telegram: FakeBotApi, clock: Clock, vtime: VirtualTime
) -> None:
    await follow(store, clock, ALICE, "ukraine")
    long_titles = [f"Ukraine story {n} " + "with a very long headline " * 10 for n in range(40)]
    await publish(store, clock, long_titles)

    await make_sender(bot, store, clock, vtime).send_pending()

    texts = telegram.texts(ALICE)
    assert len(texts) >= 2
    assert all(len(text) <= 4096 for text in texts)
    assert sum(text.count("Ukraine story") for text in texts) == 40
    assert await delivery_states(store) == {"sent": 40}


async def test_messages_to_one_private_chat_are_a_second_apart(
    store: SqlStorage, bot: Bot, telegram: FakeBotApi, clock: Clock, vtime: VirtualTime
) -> None:
    await follow(store, clock, ALICE, "ukraine")
    await publish(store, clock, ["Ukraine one", "Ukraine two", "Ukraine three"])

    await make_sender(bot, store, clock, vtime).send_pending()

    assert len(telegram.texts(ALICE)) == 3
    assert sum(vtime.sleeps) >= 2.0


async def test_stories_older_than_a_day_are_never_pushed(
    store: SqlStorage, bot: Bot, telegram: FakeBotApi, clock: Clock, vtime: VirtualTime
) -> None:
    await follow(store, clock, ALICE, "ukraine")
    await publish(store, clock, ["Ukraine old story"], minutes_ago=25 * 60)
    await publish(store, clock, ["Ukraine fresh story"], minutes_ago=10)

    await make_sender(bot, store, clock, vtime).send_pending()

    [text] = telegram.texts(ALICE)
    assert "fresh" in text


async def test_paused_chats_get_nothing_and_digest_chats_wait_for_their_hour(
    store: SqlStorage, bot: Bot, telegram: FakeBotApi, clock: Clock, vtime: VirtualTime
) -> None:
    await follow(store, clock, ALICE, "ukraine")
    await follow(store, clock, BOB, "ukraine")
    await store.set_paused(ALICE, True)
    await store.set_digest(BOB, "08:00")
    await publish(store, clock, ["Ukraine first", "Ukraine second"])
    sender = make_sender(bot, store, clock, vtime)

    await sender.send_pending()
    assert telegram.texts(ALICE) == [] and telegram.texts(BOB) == []

    await sender.send_digest(BOB)
    [digest] = telegram.texts(BOB)
    assert "Ukraine first" in digest and "Ukraine second" in digest
    assert digest.startswith("<b>Your daily digest</b>")


async def test_a_crashed_senders_rows_are_sent_after_the_lease(
    store: SqlStorage, bot: Bot, telegram: FakeBotApi, clock: Clock, vtime: VirtualTime
) -> None:
    await follow(store, clock, ALICE, "ukraine")
    await publish(store, clock, ["Ukraine story"])
    claimed = await store.claim_deliveries(limit=10, now=clock())  # a sender that then died
    assert len(claimed) == 1
    sender = make_sender(bot, store, clock, vtime)

    await sender.send_pending()
    await sent_only_after(sender, telegram, clock, ALICE, 61)


async def test_two_senders_on_one_database_never_send_a_story_twice(
    storage: SqlStorage, telegram: FakeBotApi, clock: Clock
) -> None:
    chats = list(range(5000, 5200))
    for chat_id in chats:
        await follow(storage, clock, chat_id, "ukraine")
    await publish(storage, clock, ["Ukraine story for everyone"])
    second_storage = SqlStorage(create_engine(storage.engine.url.render_as_string(False)))
    try:
        async with (
            gateway_bot(telegram, rate=100_000) as bot_a,
            gateway_bot(telegram, rate=100_000) as bot_b,
        ):
            sender_a = Sender(bot_a, storage, clock, batch=20)
            sender_b = Sender(bot_b, second_storage, clock, batch=20)
            report_a, report_b = await asyncio.gather(
                sender_a.send_pending(), sender_b.send_pending()
            )
    finally:
        await second_storage.close()

    received = [message["chat_id"] for message in telegram.delivered()]
    assert sorted(received) == chats, "every chat exactly once"
    assert report_a.sent + report_b.sent == len(chats)
    assert report_a.sent > 0 and report_b.sent > 0


async def test_the_sender_never_trips_telegrams_limits(store: SqlStorage, clock: Clock) -> None:
    # Real time here: the point is how requests actually arrive at a server that counts them.
    async with FakeBotApi() as strict:
        strict.enforce_limits()  # 30/s overall, 1/s per private chat, 20/min per group
        async with gateway_bot(strict, rate=25) as bot:
            for chat_id in range(3000, 3015):
                await follow(store, clock, chat_id, "ukraine")
            await publish(store, clock, ["Ukraine one", "Ukraine two"])
            sender = Sender(bot, store, clock)
            report = await sender.send_pending()

        assert strict.too_many_requests == 0
        assert report.sent == 15 * 2
        assert strict.peak_sends(1.0) <= 25


async def test_dropped_connections_are_retried(
    store: SqlStorage, bot: Bot, telegram: FakeBotApi, clock: Clock, vtime: VirtualTime
) -> None:
    await follow(store, clock, ALICE, "ukraine")
    telegram.drop_connections("sendMessage", chat_id=ALICE)
    await publish(store, clock, ["Ukraine story"])
    sender = make_sender(bot, store, clock, vtime)

    await sender.send_pending()
    await sent_only_after(sender, telegram, clock, ALICE, 3)


async def test_also_edits_wait_out_a_flood_limit_and_stop_when_the_message_is_gone(
    store: SqlStorage, bot: Bot, telegram: FakeBotApi, clock: Clock, vtime: VirtualTime
) -> None:
    await follow(store, clock, ALICE, "ukraine")
    [first] = await publish(store, clock, ["Ukraine grain deal signed"])
    await store.assign_clusters([ClusterAssignment(first, first)], now=clock())
    sender = make_sender(bot, store, clock, vtime)
    await sender.send_pending()
    [card] = telegram.calls_to("sendMessage")
    message_id = int(card.result["message_id"])

    await reported_by(store, clock, "dw", cluster=first)
    telegram.fail_with_retry_after("editMessageText", 30)
    await sender.send_pending()
    assert telegram.calls_to("editMessageText") == []
    clock.advance(seconds=10)
    await sender.send_pending()
    assert telegram.calls_to("editMessageText") == [], "the flood wait is honoured"
    clock.advance(seconds=21)
    report = await sender.send_pending()
    [edit] = telegram.calls_to("editMessageText")
    assert report.edited == 1 and int(edit.params["message_id"]) == message_id
    message = telegram.get_message(ALICE, message_id)
    assert message is not None and "Also: dw.example" in message["text"]

    clock.advance(minutes=2)
    await reported_by(store, clock, "bbc", cluster=first)
    telegram.fail_next(
        "editMessageText", error_code=400, description="Bad Request: message to edit not found"
    )
    await sender.send_pending()
    attempts = len(telegram.calls_to("editMessageText", include_failed=True))
    clock.advance(minutes=5)
    await sender.send_pending()
    assert len(telegram.calls_to("editMessageText", include_failed=True)) == attempts, (
        "a message that is gone is not edited again"
    )
    assert len(telegram.texts(ALICE)) == 1, "an event is never pushed twice"


async def test_the_transport_uploads_files_and_reports_dropped_connections(
    bot: Bot, telegram: FakeBotApi
) -> None:
    sent = await bot.send_document(ALICE, b"headline,source\n", filename="stories.csv")
    assert sent.document is not None and sent.document.file_name == "stories.csv"
    telegram.drop_connections("sendMessage", chat_id=ALICE)
    with pytest.raises(NetworkError):
        await bot.send_message(ALICE, "lost on the way")
    assert telegram.texts(ALICE) == []


async def test_edits_are_spread_over_rounds_so_pushes_never_wait_behind_them(
    store: SqlStorage, bot: Bot, telegram: FakeBotApi, clock: Clock, vtime: VirtualTime
) -> None:
    chats = [ALICE, BOB, 1003]
    for chat in chats:
        await follow(store, clock, chat, "ukraine")
    [first] = await publish(store, clock, ["Ukraine grain deal signed"])
    await store.assign_clusters([ClusterAssignment(first, first)], now=clock())
    sender = Sender(bot, store, clock, edit_batch=2, monotonic=vtime.monotonic, sleep=vtime.sleep)
    await sender.send_pending()
    await reported_by(store, clock, "dw", cluster=first)
    await follow(store, clock, 1004, "floods")
    await publish(store, clock, ["Floods close roads"])

    round_one = await sender.send_pending()
    assert round_one.sent == 1 and round_one.edited == 2, "the new push first, then 2 edits"
    round_two = await sender.send_pending()
    assert round_two.edited == 1
    assert len(telegram.calls_to("editMessageText")) == len(chats)
