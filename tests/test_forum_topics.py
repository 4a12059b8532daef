"""Forum topics: a supergroup's topics each follow their own news, and a topic gone ends quietly.

Through the real PTB client and the fake Bot API's forums (`tests.fakes.telegram.forums`): a
command written in a topic subscribes that topic, pushes and answers go into the topic they
belong to, and a topic closed or deleted ends its own subscriptions, not the chat's others.
Storage keeps subscriptions and the outbox per chat and topic on SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from telegram import Bot
from telegram.error import BadRequest

from news.model import TopicMatch
from storage import SqlStorage
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import FeedItem, rss_feed
from tests.fakes.telegram import FakeBotApi
from tests.harness import RunningBot, seeded_bot
from tests.test_storage import draft

FORUM = -1_009_876_543_210
ALICE = 1001  # the user of group messages in the fake
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def bot(telegram: FakeBotApi, feeds: FeedServer, tmp_path: Path) -> AsyncIterator[RunningBot]:
    async with seeded_bot(telegram, feeds, tmp_path) as running:
        yield running


def forum_with_topics(telegram: FakeBotApi, *names: str) -> list[int]:
    """The forum, Alice its admin, and its topics' thread ids."""
    telegram.add_forum(FORUM, title="Newsroom")
    threads = [telegram.create_forum_topic(FORUM, name) for name in names]
    telegram.inject_message(FORUM, "hello", chat_type="supergroup")  # Telegram now knows Alice
    telegram.set_chat_member(FORUM, ALICE, "administrator")
    return threads


async def say_in(telegram: FakeBotApi, thread: int | None, text: str) -> dict[str, object]:
    """Alice writes `text` in a topic of the forum (None: General); the bot's first answer."""
    mark = telegram.mark()
    telegram.inject_message(FORUM, text, chat_type="supergroup", thread_id=thread)
    return await telegram.wait_for_message(FORUM, after=mark)


def thread_of(sent: dict[str, object]) -> int | None:
    thread = sent.get("message_thread_id")
    return None if thread is None else int(str(thread))


def fresh_story(title: str, slug: str) -> FeedItem:
    return FeedItem(
        title=title,
        link=f"https://news.example.org/world/{slug}",
        summary=title + ".",
        published=datetime.now(UTC) - timedelta(minutes=3),
    )


def pushes(telegram: FakeBotApi, words: str) -> list[int | None]:
    """The topics a story with `words` in its text was pushed into, one entry per push."""
    return [thread_of(sent) for sent in telegram.delivered(FORUM) if words in str(sent["text"])]


async def test_each_topic_gets_its_own_stories_once(
    bot: RunningBot, telegram: FakeBotApi, feeds: FeedServer
) -> None:
    markets, world = forum_with_topics(telegram, "Markets", "World")
    subscribed = await say_in(telegram, markets, "/subscribe iceland")
    assert "Subscribed to: <b>iceland</b>" in str(subscribed["text"])
    assert thread_of(subscribed) == markets, "the answer is in the topic it was asked in"
    for topic in ("ukraine", "iceland"):
        assert thread_of(await say_in(telegram, world, f"/subscribe {topic}")) == world

    listed = await say_in(telegram, markets, "/subscriptions")
    assert "• iceland" in str(listed["text"]) and "ukraine" not in str(listed["text"])
    assert "no topics" in str((await say_in(telegram, None, "/subscriptions"))["text"])

    mark = telegram.mark()
    stories = [
        fresh_story("Ukraine opens a new grain corridor", "grain"),
        fresh_story("Iceland volcano erupts near Grindavik", "volcano"),
    ]
    feeds.set_feed("/world.xml", rss_feed(stories, title="Example World News").encode())
    await telegram.wait_for_message(FORUM, contains="grain corridor", after=mark)
    await telegram.wait_for_call(
        lambda call: (
            call.method == "sendMessage"
            and "volcano" in str(call.params.get("text"))
            and thread_of(call.params) == markets
        ),
        after=mark,
    )
    await bot.ticks.wait_polls(bot.ticks.polls + 2)  # and nothing more comes

    assert pushes(telegram, "grain corridor") == [world]
    assert sorted(pushes(telegram, "volcano"), key=str) == sorted([markets, world], key=str)


async def test_many_stories_at_once_go_as_one_digest_into_the_topic(
    bot: RunningBot, telegram: FakeBotApi, feeds: FeedServer
) -> None:
    (world,) = forum_with_topics(telegram, "World")
    await say_in(telegram, world, "/subscribe ukraine")

    mark = telegram.mark()
    stories = [
        fresh_story("Ukraine opens a new grain corridor", "grain"),
        fresh_story("Kyiv ballet tours Japan with Swan Lake", "ballet"),
        fresh_story("Ukrainian chess prodigy wins Madrid open", "chess"),
        fresh_story("Central bank of Ukraine cuts interest rates", "rates"),
    ]
    feeds.set_feed("/world.xml", rss_feed(stories).encode())
    digest = await telegram.wait_for_message(FORUM, contains="4 new stories", after=mark)

    assert thread_of(digest) == world
    assert all(thread_of(sent) == world for sent in telegram.delivered(FORUM))


async def test_a_daily_digest_goes_to_each_topic_with_its_own_stories(
    bot: RunningBot, telegram: FakeBotApi, feeds: FeedServer
) -> None:
    markets, world = forum_with_topics(telegram, "Markets", "World")
    await say_in(telegram, world, "/subscribe ukraine")
    await say_in(telegram, markets, "/subscribe iceland")
    answer = await say_in(telegram, None, "/digest 07:00")
    assert "07:00" in str(answer["text"])

    before = len(telegram.delivered(FORUM))
    polls = bot.ticks.polls
    stories = [
        fresh_story("Ukraine opens a new grain corridor", "grain"),
        fresh_story("Iceland volcano erupts near Grindavik", "volcano"),
    ]
    feeds.set_feed("/world.xml", rss_feed(stories, title="Example World News").encode())
    await bot.ticks.wait_polls(polls + 2)
    assert telegram.delivered(FORUM)[before:] == [], "a digest chat gets no instant pushes"

    sender = bot.work.sender
    assert sender is not None
    await sender.send_digest(FORUM)  # what the digest's job does at 07:00

    digests = {thread_of(sent): str(sent["text"]) for sent in telegram.delivered(FORUM)[before:]}
    assert digests.keys() == {world, markets}, "one digest in each topic, none in General"
    assert "grain corridor" in digests[world] and "volcano" not in digests[world]
    assert "volcano" in digests[markets] and "grain corridor" not in digests[markets]
    assert all("daily digest" in text for text in digests.values())


async def test_latest_and_admin_checks_answer_in_the_topic(
    bot: RunningBot, telegram: FakeBotApi
) -> None:
    (world,) = forum_with_topics(telegram, "World")

    latest = await say_in(telegram, world, "/latest ukraine")
    assert "Latest on ukraine" in str(latest["text"])
    assert thread_of(latest) == world
    assert thread_of(await say_in(telegram, None, "/latest ukraine")) is None, "General"

    helped = await say_in(telegram, world, "/help")
    assert "inside a forum topic" in str(helped["text"]) and thread_of(helped) == world

    telegram.set_chat_member(FORUM, ALICE, "member")
    refused = await say_in(telegram, world, "/subscribe ukraine")
    assert refused["text"] == "Only this group's admins can change this."
    assert thread_of(refused) == world


@pytest.mark.parametrize(
    ("ends", "error"),
    [("delete_forum_topic", "thread not found"), ("close_forum_topic", "TOPIC_CLOSED")],
)
async def test_a_topic_gone_ends_its_subscriptions_and_the_others_go_on(
    bot: RunningBot,
    telegram: FakeBotApi,
    feeds: FeedServer,
    caplog: pytest.LogCaptureFixture,
    ends: str,
    error: str,
) -> None:
    gone, kept = forum_with_topics(telegram, "Gone", "Kept")
    await say_in(telegram, gone, "/subscribe ukraine")
    await say_in(telegram, kept, "/subscribe ukraine")
    getattr(telegram, ends)(FORUM, gone)
    caplog.set_level(logging.INFO, logger="handlers.sender")

    # Two events (one event's second report would edit its card, not push a new one).
    for title, slug in (
        ("Ukraine opens a new grain corridor", "grain"),
        ("Kyiv ballet tours Japan", "ballet"),
    ):
        mark = telegram.mark()
        feeds.set_feed("/world.xml", rss_feed([fresh_story(title, slug)]).encode())
        sent = await telegram.wait_for_message(FORUM, contains=title, after=mark)
        assert thread_of(sent) == kept

    refused = [
        call
        for call in telegram.calls_to("sendMessage", include_failed=True)
        if call.failed and thread_of(call.params) == gone
    ]
    assert len(refused) == 1, "the topic's subscriptions ended with the first refusal"
    assert error in str(refused[0].description)
    ended = [record for record in caplog.records if "forum topic" in record.getMessage()]
    assert len(ended) == 1 and ended[0].levelno in (logging.INFO, logging.WARNING)
    assert ended[0].exc_info is None
    assert "no topics" in str((await say_in(telegram, None, "/subscriptions"))["text"])
    assert "• ukraine" in str((await say_in(telegram, kept, "/subscriptions"))["text"])


async def test_the_fake_keeps_forum_topics_as_telegram(telegram: FakeBotApi) -> None:
    telegram.add_forum(FORUM)
    plain_group = -1_001_000_000_001
    telegram.inject_message(plain_group, "hi", chat_type="supergroup")
    async with Bot(telegram.token, base_url=telegram.base_url) as client:
        chat = await client.get_chat(FORUM)
        assert chat.is_forum
        topic = await client.create_forum_topic(FORUM, "World")
        sent = await client.send_message(FORUM, "hello", message_thread_id=topic.message_thread_id)
        assert sent.is_topic_message and sent.message_thread_id == topic.message_thread_id
        general = await client.send_message(FORUM, "hello")
        assert not general.is_topic_message and general.message_thread_id is None

        await client.close_forum_topic(FORUM, topic.message_thread_id)
        with pytest.raises(BadRequest, match="Topic_closed"):
            await client.send_message(FORUM, "hi", message_thread_id=topic.message_thread_id)
        await client.reopen_forum_topic(FORUM, topic.message_thread_id)
        await client.delete_forum_topic(FORUM, topic.message_thread_id)
        with pytest.raises(BadRequest, match="Message thread not found"):
            await client.send_message(FORUM, "hi", message_thread_id=topic.message_thread_id)
        with pytest.raises(BadRequest, match="Message thread not found"):
            await client.send_message(FORUM, "hi", message_thread_id=999)
        with pytest.raises(BadRequest, match="not a forum"):
            await client.create_forum_topic(plain_group, "World")
        with pytest.raises(BadRequest, match="Message thread not found"):
            await client.send_message(plain_group, "hi", message_thread_id=999)
    assert telegram.get_message(FORUM, topic.message_thread_id) is None, "deleted with it"


async def test_storage_keeps_subscriptions_and_the_outbox_per_topic(storage: SqlStorage) -> None:
    await storage.upsert_chat(FORUM, kind="supergroup", title="Newsroom", now=NOW)
    assert await storage.subscribe(FORUM, "ukraine", now=NOW)
    assert await storage.subscribe(FORUM, "ukraine", now=NOW, thread_id=7)
    assert await storage.subscribe(FORUM, "iceland", now=NOW, thread_id=9)
    assert not await storage.subscribe(FORUM, "ukraine", now=NOW, thread_id=7)
    assert [s.topic for s in await storage.subscriptions(FORUM, thread_id=7)] == ["ukraine"]
    assert [s.topic for s in await storage.subscriptions(FORUM, thread_id=0)] == ["ukraine"]
    assert len(await storage.subscriptions(FORUM)) == 3
    assert {(s.thread_id, s.topic) for s in await storage.active_subscriptions()} == {
        (0, "ukraine"),
        (7, "ukraine"),
        (9, "iceland"),
    }

    source = await storage.add_source("https://news.example.org/feed", now=NOW)
    (story,) = await storage.store_stories([draft(source.id, "a", "Ukraine news")], now=NOW)
    matches = [TopicMatch(FORUM, story.id, ("ukraine",), thread) for thread in (0, 7, 7)]
    assert await storage.enqueue_deliveries(matches, now=NOW) == 2, "once per chat and topic"
    claimed = await storage.claim_deliveries(limit=10, now=NOW)
    assert sorted(row.thread_id for row in claimed) == [0, 7]
    assert await storage.delivery_topics(FORUM, story.id, thread_id=7) == ("ukraine",)
    assert await storage.delivery_topics(FORUM, story.id, thread_id=9) == ()

    assert await storage.end_thread(FORUM, 7, reason="message thread not found", now=NOW) == 1
    assert {s.thread_id for s in await storage.subscriptions(FORUM)} == {0, 9}
    assert not await storage.unsubscribe(FORUM, "ukraine", thread_id=7)
    assert await storage.unsubscribe(FORUM, "iceland", thread_id=9)
    assert (await storage.chat_settings(FORUM)) is not None
