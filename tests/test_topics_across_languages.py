"""Topics across languages through the real client (issue 23): a topic typed in Ukrainian or
German finds English stories by meaning, in /latest and in pushes, and an exclusion leaves its
subject out in another language.

The real python-telegram-bot client talks to a fake Bot API server, the real poller reads an
English feed over HTTP, and stories get their meanings from the real encoder.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import FeedItem, rss_feed
from tests.fakes.telegram import FakeBotApi
from tests.harness import RunningBot, ask, running_bot

OKSANA = 2301
JONAS = 2302

PEACE_TALKS = "Russia and Ukraine hold first direct peace talks in three years"
AI_RULES = "EU lawmakers approve world's first rules for artificial intelligence"


def _feed(now: datetime, *extra: FeedItem) -> str:
    return rss_feed(_feed_items(now, *extra), title="Example World News")


def _feed_items(now: datetime, *extra: FeedItem) -> list[FeedItem]:
    return [
        *extra,
        FeedItem(
            title=PEACE_TALKS,
            link="https://news.example.org/world/istanbul-talks",
            summary="Delegations met in Istanbul for less than two hours and agreed to swap "
            "1,000 prisoners each, but no ceasefire to end the war.",
            published=now - timedelta(minutes=40),
        ),
        FeedItem(
            title="Ukraine beat Slovakia to keep Euro 2024 hopes alive",
            link="https://news.example.org/sport/ukraine-slovakia",
            summary="Shaparenko and Yaremchuk scored as the Ukrainian national football team "
            "came from behind to win 2-1 in Duesseldorf.",
            published=now - timedelta(minutes=50),
        ),
        FeedItem(
            title="Record heat in southern Spain",
            link="https://news.example.org/world/spain-heat",
            summary="Temperatures passed 44 degrees in Andalusia.",
            published=now - timedelta(minutes=60),
        ),
        FeedItem(
            title="Central bank holds interest rates steady",
            link="https://news.example.org/business/rates",
            summary="Policymakers said inflation was easing but kept borrowing costs unchanged.",
            published=now - timedelta(minutes=70),
        ),
    ]


async def _started(running: RunningBot) -> None:
    # Two ticks: the feed's first poll, then the backlog's meanings (computed after a tick).
    await running.ticks.wait_polls(2)
    poller = running.work.poller
    assert poller is not None
    await poller.cluster_backlog(datetime.now(UTC))


async def test_latest_in_ukrainian_lists_the_english_peace_talks(
    telegram: FakeBotApi, feeds: FeedServer, tmp_path: Path
) -> None:
    feeds.set_feed("/world.xml", _feed(datetime.now(UTC)))
    async with running_bot(telegram, feeds, tmp_path) as running:
        await _started(running)
        answer = await ask(
            telegram, OKSANA, "/latest мирні переговори", language_code="uk", contains="<b>"
        )
    assert PEACE_TALKS in answer
    assert "Record heat" not in answer and "interest rates" not in answer


async def test_a_story_that_came_after_the_last_latest_is_found_by_the_next(
    telegram: FakeBotApi, feeds: FeedServer, tmp_path: Path
) -> None:
    """The window of meanings is read whole every ten minutes; in between, each /latest adds
    the newest hour's stories it lacks (their ids read first, their meanings only then)."""
    now = datetime.now(UTC)
    without = [item for item in _feed_items(now) if item.title != PEACE_TALKS]
    feeds.set_feed("/world.xml", rss_feed(without, title="Example World News"))
    async with running_bot(telegram, feeds, tmp_path) as running:
        await _started(running)
        answer = await ask(telegram, OKSANA, "/latest мирні переговори", language_code="uk")
        assert PEACE_TALKS not in answer
        feeds.set_feed("/world.xml", _feed(now))
        await running.ticks.wait_polls(running.ticks.polls + 2)
        await _started(running)
        answer = await ask(
            telegram, OKSANA, "/latest мирні переговори", language_code="uk", contains="<b>"
        )
    assert PEACE_TALKS in answer


async def test_an_exclusion_leaves_its_subject_out_in_another_language(
    telegram: FakeBotApi, feeds: FeedServer, tmp_path: Path
) -> None:
    feeds.set_feed("/world.xml", _feed(datetime.now(UTC)))
    async with running_bot(telegram, feeds, tmp_path) as running:
        await _started(running)
        answer = await ask(telegram, OKSANA, "/latest Україна -спорт", language_code="uk")
    assert PEACE_TALKS in answer
    assert "Slovakia" not in answer


async def test_a_german_subscription_gets_an_english_story_on_artificial_intelligence(
    telegram: FakeBotApi, feeds: FeedServer, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    feeds.set_feed("/world.xml", _feed(now))
    async with running_bot(telegram, feeds, tmp_path) as running:
        await running.ticks.wait_polls(1)
        await ask(
            telegram,
            JONAS,
            "/subscribe künstliche Intelligenz",
            language_code="de",
            contains="künstliche intelligenz",
        )
        mark = telegram.mark()
        feeds.set_feed(
            "/world.xml",
            _feed(
                now,
                FeedItem(
                    title=AI_RULES,
                    link="https://news.example.org/tech/ai-act",
                    summary="The AI Act bans some uses of the technology outright and sets "
                    "duties for the makers of chatbots and other high-risk systems.",
                    published=now - timedelta(minutes=2),
                ),
                FeedItem(
                    title="Flooding closes roads across northern England",
                    link="https://news.example.org/uk/floods",
                    summary="Heavy rain left hundreds of homes without power overnight.",
                    published=now - timedelta(minutes=3),
                ),
            ),
        )
        pushed = await telegram.wait_for_message(
            JONAS, contains="artificial intelligence", after=mark
        )
        await running.ticks.wait_polls(running.ticks.polls + 2)
    assert "EU lawmakers approve" in pushed["text"]
    texts = [message["text"] for message in telegram.delivered(JONAS)]
    assert not any("Flooding" in text for text in texts), texts


async def test_inline_mode_and_source_filters_find_stories_in_other_languages(
    telegram: FakeBotApi, feeds: FeedServer, tmp_path: Path
) -> None:
    feeds.set_feed("/world.xml", _feed(datetime.now(UTC)))
    async with running_bot(telegram, feeds, tmp_path) as running:
        await _started(running)
        mark = telegram.mark()
        query_id = telegram.inject_inline_query(OKSANA, "мирні переговори", language_code="uk")
        await telegram.wait_for_call(
            lambda call: (
                call.method == "answerInlineQuery"
                and call.params.get("inline_query_id") == query_id
            ),
            after=mark,
        )
        titles = [result["title"] for result in telegram.inline_answers[query_id]["results"]]
        followed = await ask(
            telegram, OKSANA, "/latest мирні переговори source:example", language_code="uk"
        )
        elsewhere = await ask(
            telegram, OKSANA, "/latest мирні переговори source:reuters", language_code="uk"
        )
    assert PEACE_TALKS in titles
    assert "Record heat in southern Spain" not in titles
    assert PEACE_TALKS in followed
    assert PEACE_TALKS not in elsewhere
