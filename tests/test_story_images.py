"""Stories keep the picture their feed names, and pushes preview it; a refused one costs nothing.

The choice of picture (`news.feeds.images`) is checked on examples and, over hostile values, as a
property; feeds of every kind are served on loopback to the whole bot, whose pushes must carry
the picture in their link preview; previews "large" and "off", and a preview Telegram refuses,
go through the sender against the fake Bot API; the column round-trips on both databases.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from telegram.ext import ExtBot

from handlers.gateway import Gateway, Priority
from handlers.pacing import Limits
from handlers.sender import Sender
from handlers.telegram_http import AiohttpRequest
from news.feeds import first_image, fit_image_url, media_images, story_image
from news.feeds.parse import parse_feed
from news.model import ClusterAssignment, PreviewMode, StoryDraft
from news.polling.pipeline import match_subscriptions
from storage import SqlStorage
from tests.conftest import Clock
from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram import FakeBotApi
from tests.harness import ask, running_bot
from tests.hostile import check_image_url, text
from tests.storage_helpers import delivery_states
from tests.stories import english_story

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ALICE = 1001
PICTURE = "https://img.example.org/harbour.jpg"

# ------------------------------------------------------------------ choosing the picture


def test_the_widest_image_of_media_content_comes_first_and_videos_are_not_pictures() -> None:
    media = [
        {"url": "https://cdn.example/small.jpg", "medium": "image", "width": "320"},
        {"url": "https://cdn.example/clip.mp4", "medium": "video", "width": "1920"},
        {"url": "https://cdn.example/large.jpg", "type": "image/jpeg", "width": "1280"},
        {"url": "https://cdn.example/plain.webp"},
        {"url": "https://cdn.example/audio.mp3", "type": "audio/mpeg"},
    ]
    assert media_images(media) == [
        "https://cdn.example/large.jpg",
        "https://cdn.example/small.jpg",
        "https://cdn.example/plain.webp",
    ]


@pytest.mark.parametrize(
    ("candidate", "kept"),
    [
        ("https://user:secret@img.example/a.jpg", "https://img.example/a.jpg"),
        ("HTTPS://IMG.Example/A.jpg#top", "https://img.example/A.jpg"),
        ("/pics/a b.jpg", "https://news.example/pics/a%20b.jpg"),
        ("pics/a.jpg?w=800", "https://news.example/world/pics/a.jpg?w=800"),
        ("//cdn.example/a.png", "https://cdn.example/a.png"),
        ("javascript:alert(1)", None),
        ("data:image/png;base64,AAAA", None),
        ("ftp://img.example/a.jpg", None),
        ("http://[::1", None),
        ("https://img.example:99999/a.jpg", None),
        ("https://img.example/a\n.jpg", None),
        ("https://img.example/" + "a" * 3000 + ".jpg", None),
        ("", None),
    ],
)
def test_image_urls_are_absolute_web_urls_without_credentials(
    candidate: str, kept: str | None
) -> None:
    assert fit_image_url(candidate, "https://news.example/world/story") == kept


@pytest.mark.parametrize("link", ["https://news.example/a b/", "https://news.example/a\x01b/"])
def test_a_relative_image_under_an_entry_link_with_white_space_is_not_kept(link: str) -> None:
    """The link is the feed's, as written: a picture resolved against it must not carry its
    space or control character to Telegram."""
    assert fit_image_url("pic.jpg", link) is None
    assert fit_image_url("/pic.jpg", link) == "https://news.example/pic.jpg"


def test_the_first_real_image_of_the_content_is_found() -> None:
    html = (
        '<p><img src="https://t.example/pixel.gif" width="1" height="1">'
        '<img src="data:image/gif;base64,R0lGOD">Text</p><img src="/a.jpg"><img src="/b.jpg">'
    )
    assert first_image(html) == "/a.jpg"
    assert first_image("<p>No picture</p>") is None
    assert first_image("<img src=") is None


def test_the_first_fit_candidate_wins() -> None:
    assert story_image(["javascript:x", "", "/ok.jpg"], "https://n.example/s") == (
        "https://n.example/ok.jpg"
    )
    assert story_image([], "https://n.example/s") is None


@PROPERTY
@given(text, st.one_of(text, st.sampled_from(["https://news.example/a/b", ""])))
def test_any_value_gives_a_fitted_image_url_or_none(candidate: str, base: str) -> None:
    fitted = fit_image_url(candidate, base)
    if fitted is not None:
        check_image_url(fitted)


@PROPERTY
@given(st.text(max_size=300), st.lists(text, max_size=4))
def test_any_html_and_candidates_give_a_fitted_image_or_none(
    html: str, candidates: list[str]
) -> None:
    found = first_image(html)
    image = story_image([*candidates, *([found] if found else [])], "https://news.example/a")
    if image is not None:
        check_image_url(image)


@PROPERTY
@given(st.lists(st.dictionaries(st.sampled_from(["url", "medium", "type", "width"]), text)))
def test_any_media_list_gives_urls_it_was_given(media: list[dict[str, str]]) -> None:
    given_urls = {item.get("url") for item in media}
    assert set(media_images(media)) <= given_urls


# ------------------------------------------------------------------ feeds


def _rss(items: list[str]) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        "<title>Coast News</title><link>https://coast.example/</link><language>en</language>"
        + "".join(items)
        + "</channel></rss>"
    )


def _item(title: str, slug: str, published: datetime, extra: str = "") -> str:
    return (
        f"<item><title>{escape(title)}</title><link>https://coast.example/{slug}</link>"
        f"<guid>https://coast.example/{slug}</guid>"
        f"<pubDate>{published.strftime('%a, %d %b %Y %H:%M:%S GMT')}</pubDate>"
        f"<description>{escape(title)} in detail.</description>{extra}</item>"
    )


def _atom(title: str, published: datetime, picture: str) -> str:
    stamp = published.strftime("%Y-%m-%dT%H:%M:%SZ")
    slug = title.lower().replace(" ", "-")
    return (
        '<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>Atom Desk</title><id>urn:desk</id><updated>{stamp}</updated><entry>"
        f"<title>{escape(title)}</title><id>urn:desk:{slug}</id><updated>{stamp}</updated>"
        f'<link href="https://desk.example/{slug}"/>'
        f'<link rel="enclosure" type="image/png" href={quoteattr(picture)}/>'
        "<summary>Rangers closed the trail.</summary></entry></feed>"
    )


def _json_feed(title: str, published: datetime, picture: str) -> str:
    item = {
        "id": title,
        "url": "https://json.example/" + title.lower().replace(" ", "-"),
        "title": title,
        "content_html": "<p>Ash over the island.</p>",
        "image": picture,
        "date_published": published.isoformat(),
    }
    return json.dumps(
        {"version": "https://jsonfeed.org/version/1.1", "title": "JSON Wire", "items": [item]}
    )


def test_each_way_a_feed_names_a_picture_is_read() -> None:
    now = datetime.now(UTC)
    rss = _rss(
        [
            _item(
                "Harbour",
                "harbour",
                now,
                '<media:content url="https://img.example/h-small.jpg" medium="image" width="200"/>'
                '<media:content url="https://img.example/h.jpg" medium="image" width="1600"/>',
            ),
            _item("Lighthouse", "lighthouse", now, '<media:thumbnail url="/thumbs/l.jpg"/>'),
            _item(
                "Glacier",
                "glacier",
                now,
                '<enclosure url="https://img.example/g.png" type="image/png" length="10"/>',
            ),
            _item(
                "Orchard",
                "orchard",
                now,
                "<content:encoded><![CDATA[<p>Apples.</p><img src='o.jpg'>]]></content:encoded>",
            ),
            _item(
                "Podcast",
                "podcast",
                now,
                '<enclosure url="https://a.example/p.mp3" type="audio/mpeg" length="10"/>',
            ),
        ]
    )
    images = {
        entry.title: entry.image_url
        for entry in parse_feed(rss.encode(), url="https://coast.example/rss", now=now).entries
    }
    assert images == {
        "Harbour": "https://img.example/h.jpg",
        "Lighthouse": "https://coast.example/thumbs/l.jpg",
        "Glacier": "https://img.example/g.png",
        "Orchard": "https://coast.example/o.jpg",
        "Podcast": None,
    }
    [atom] = parse_feed(
        _atom("Canyon", now, "https://img.example/c.png").encode(), url="https://d.example", now=now
    ).entries
    assert atom.image_url == "https://img.example/c.png"
    [item] = parse_feed(
        _json_feed("Volcano", now, "https://img.example/v.jpg").encode(),
        url="https://j.example",
        now=now,
    ).entries
    assert item.image_url == "https://img.example/v.jpg"


# ------------------------------------------------------------------ the whole bot


# One chat per story: more than three stories due at once for a chat go out as a digest.
STORIES = {
    # chat: (topic, feed path, picture the push previews)
    2001: ("harbour", "/coast.xml", "https://img.example/h.jpg"),
    2002: ("lighthouse", "/coast.xml", "https://coast.example/thumbs/l.jpg"),
    2003: ("glacier", "/coast.xml", "https://img.example/g.png"),
    2004: ("orchard", "/coast.xml", "https://coast.example/o.jpg"),
    2005: ("canyon", "/atom.xml", "https://img.example/c.png"),
    2006: ("volcano", "/feed.json", "https://img.example/v.jpg"),
    2007: ("quarry", "/coast.xml", "https://coast.example/quarry"),  # no picture: its link
}


async def test_pushes_preview_the_picture_each_kind_of_feed_names(
    telegram: FakeBotApi, feeds: FeedServer, tmp_path: Path
) -> None:
    old = datetime.now(UTC) - timedelta(days=3)
    feeds.set_feed("/coast.xml", _rss([_item("Old tide tables", "tides", old)]))
    feeds.set_feed("/atom.xml", _atom("Old trail map", old, "https://img.example/map.png"))
    feeds.set_feed("/feed.json", _json_feed("Old eruption", old, "https://img.example/e.jpg"))
    paths = ("/coast.xml", "/atom.xml", "/feed.json")
    async with running_bot(telegram, feeds, tmp_path, feed_paths=paths) as bot:
        for chat, (topic, _, _) in STORIES.items():
            await ask(telegram, chat, f"/subscribe {topic}", contains=topic)
        await bot.ticks.wait_polls(1)
        mark = telegram.mark()

        now = datetime.now(UTC) - timedelta(minutes=2)
        feeds.set_feed(
            "/coast.xml",
            _rss(
                [
                    _item(
                        "Harbour reopens after storm",
                        "harbour",
                        now,
                        '<media:content url="https://img.example/h-small.jpg" medium="image" '
                        'width="200"/><media:content url="https://img.example/h.jpg" '
                        'medium="image" width="1600"/>',
                    ),
                    _item(
                        "Lighthouse keeper retires",
                        "lighthouse",
                        now,
                        '<media:thumbnail url="/thumbs/l.jpg"/>',
                    ),
                    _item(
                        "Glacier retreat measured",
                        "glacier",
                        now,
                        '<enclosure url="https://img.example/g.png" type="image/png" length="10"/>',
                    ),
                    _item(
                        "Orchard harvest begins",
                        "orchard",
                        now,
                        "<content:encoded><![CDATA[<p>Apples.</p><img src='o.jpg'>]]>"
                        "</content:encoded>",
                    ),
                    _item("Quarry expansion approved", "quarry", now),
                ]
            ),
        )
        feeds.set_feed("/atom.xml", _atom("Canyon trail closed", now, "https://img.example/c.png"))
        feeds.set_feed("/feed.json", _json_feed("Volcano erupts", now, "https://img.example/v.jpg"))

        for chat, (topic, _, picture) in STORIES.items():
            pushed = await telegram.wait_for_message(chat, after=mark, timeout=20)
            assert topic in pushed["text"].lower()
            assert pushed["link_preview_options"] == {
                "url": picture,
                "prefer_small_media": True,
            }, topic


# ------------------------------------------------------------------ the sender


@pytest.fixture
async def bot(telegram: FakeBotApi) -> AsyncIterator[ExtBot[Priority]]:
    async with ExtBot(
        telegram.token,
        base_url=telegram.base_url,
        request=AiohttpRequest(connection_pool_size=8),
        rate_limiter=Gateway(Limits(global_per_second=1000)),
    ) as real_bot:
        yield real_bot


async def publish(
    store: SqlStorage, clock: Clock, title: str, *, image_url: str | None = PICTURE
) -> int:
    """A story (with `image_url`), owed to every chat whose topic it matches; its id."""
    source = await store.add_source("https://news.example.org/feed", now=clock())
    draft = english_story(
        source.id,
        title,
        link="https://news.example.org/" + title.lower().replace(" ", "-"),
        published_at=clock() - timedelta(minutes=3),
    )
    [story] = await store.store_stories([_with_image(draft, image_url)], now=clock())
    owed = match_subscriptions([story], await store.active_subscriptions(), clock())
    await store.enqueue_deliveries(owed, now=clock())
    return story.id


def _with_image(draft: StoryDraft, image_url: str | None) -> StoryDraft:
    return replace(draft, image_url=image_url)


async def follow(
    store: SqlStorage, clock: Clock, chat_id: int, topic: str, preview: PreviewMode = "small"
) -> None:
    """`chat_id` follows `topic`, with `preview` chosen in its /settings."""
    await store.upsert_chat(chat_id, kind="private", title=None, now=clock())
    await store.subscribe(chat_id, topic, now=clock())
    await store.set_preview(chat_id, preview)


@pytest.mark.parametrize(
    ("mode", "preview"),
    [
        ("small", {"url": PICTURE, "prefer_small_media": True}),
        ("large", {"url": PICTURE, "prefer_large_media": True, "show_above_text": True}),
        ("off", {"is_disabled": True}),
    ],
)
async def test_the_preview_mode_decides_how_the_picture_shows(
    store: SqlStorage,
    bot: ExtBot[Priority],
    telegram: FakeBotApi,
    clock: Clock,
    mode: PreviewMode,
    preview: dict[str, object],
) -> None:
    await follow(store, clock, ALICE, "harbour", preview=mode)
    await publish(store, clock, "Harbour reopens after storm")

    await Sender(bot, store, clock).send_pending()

    [pushed] = telegram.delivered(ALICE)
    assert pushed["link_preview_options"] == preview
    message = telegram.get_message(ALICE, 1)
    assert message is not None and message["link_preview_options"] == preview


async def test_a_story_without_a_picture_previews_its_link_large_too(
    store: SqlStorage, bot: ExtBot[Priority], telegram: FakeBotApi, clock: Clock
) -> None:
    await follow(store, clock, ALICE, "quarry", preview="large")
    await publish(store, clock, "Quarry expansion approved", image_url=None)

    await Sender(bot, store, clock).send_pending()

    [pushed] = telegram.delivered(ALICE)
    assert pushed["link_preview_options"] == {
        "url": "https://news.example.org/quarry-expansion-approved",
        "prefer_large_media": True,
        "show_above_text": True,
    }


@pytest.mark.parametrize(
    "refusal",
    [
        "Bad Request: WEBPAGE_CURL_FAILED",
        "Bad Request: WEBPAGE_MEDIA_EMPTY",
        "Bad Request: wrong file identifier/HTTP URL specified",
    ],
)
async def test_a_refused_preview_falls_back_to_the_text_card_in_one_message(
    store: SqlStorage, bot: ExtBot[Priority], telegram: FakeBotApi, clock: Clock, refusal: str
) -> None:
    await follow(store, clock, ALICE, "harbour", preview="large")
    telegram.refuse_preview(chat_id=ALICE, description=refusal)
    await publish(store, clock, "Harbour reopens after storm")

    report = await Sender(bot, store, clock).send_pending()

    [pushed] = telegram.delivered(ALICE)
    assert pushed["text"].startswith("<b>Harbour reopens after storm</b>")
    assert pushed["link_preview_options"] == {"is_disabled": True}
    [refused] = [
        call for call in telegram.calls_to("sendMessage", include_failed=True) if call.failed
    ]
    assert refused.params["link_preview_options"]["url"] == PICTURE
    assert report.sent == 1 and report.failed == 0
    assert await delivery_states(store) == {"sent": 1}


async def test_an_also_edit_keeps_the_cards_preview(
    store: SqlStorage, bot: ExtBot[Priority], telegram: FakeBotApi, clock: Clock
) -> None:
    await follow(store, clock, ALICE, "harbour", preview="large")
    first = await publish(store, clock, "Harbour reopens after storm")
    await store.assign_clusters([ClusterAssignment(first, first)], now=clock())
    sender = Sender(bot, store, clock)
    await sender.send_pending()

    other = await store.add_source("https://dw.example/feed", now=clock())
    [report] = await store.store_stories(
        [
            english_story(
                other.id,
                "Harbour reopens after storm",
                link="https://dw.example/harbour",
                published_at=clock() - timedelta(minutes=1),
            )
        ],
        now=clock(),
    )
    await store.assign_clusters([ClusterAssignment(report.id, first)], now=clock())
    clock.advance(minutes=2)
    assert (await sender.send_pending()).edited == 1

    [edit] = telegram.calls_to("editMessageText")
    assert edit.params["link_preview_options"] == {
        "url": PICTURE,
        "prefer_large_media": True,
        "show_above_text": True,
    }
    assert len(telegram.delivered(ALICE)) == 1


async def test_a_digest_of_many_stories_shows_no_preview(
    store: SqlStorage, bot: ExtBot[Priority], telegram: FakeBotApi, clock: Clock
) -> None:
    await follow(store, clock, ALICE, "harbour")
    for number in range(5):
        await publish(store, clock, f"Harbour news number {number}")

    await Sender(bot, store, clock).send_pending()

    [digest] = telegram.delivered(ALICE)
    assert digest["link_preview_options"] == {"is_disabled": True}


# ------------------------------------------------------------------ storage


async def test_the_picture_is_stored_and_read_back(storage: SqlStorage, clock: Clock) -> None:
    source = await storage.add_source("https://news.example.org/feed", now=clock())
    drafts = [
        _with_image(
            english_story(
                source.id,
                title,
                link=f"https://news.example.org/{slug}",
                published_at=clock() - timedelta(minutes=5),
            ),
            image,
        )
        for title, slug, image in (
            ("Harbour reopens", "harbour", "https://img.example/" + "h" * 2000 + ".jpg"),
            ("Quarry approved", "quarry", None),
        )
    ]
    stored = await storage.store_stories(drafts, now=clock())
    assert [story.image_url for story in stored] == [drafts[0].image_url, None]
    latest = {story.title: story.image_url for story in await storage.latest(None, limit=10)}
    assert latest == {"Harbour reopens": drafts[0].image_url, "Quarry approved": None}
    again = await storage.story(stored[0].id)
    assert again is not None and again.image_url == drafts[0].image_url
