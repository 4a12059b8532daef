"""Admins manage sources from Telegram; everyone else is politely refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import DATA
from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram import FakeBotApi
from tests.harness import RunningBot, ask, running_bot

ADMIN, READER = 42, 1001


@pytest.fixture
async def bot(telegram: FakeBotApi, feeds: FeedServer, tmp_path: Path) -> AsyncIterator[RunningBot]:
    feeds.set_feed("/world.xml", (DATA / "seed-feed.xml").read_bytes())
    feeds.set_feed("/extra.xml", (DATA / "seed-feed.xml").read_bytes())
    feeds.set_response(
        "/page.html",
        status=200,
        body=b"<!doctype html><html><head></head><body>hi</body></html>",
        headers={"Content-Type": "text/html"},
    )
    async with running_bot(
        telegram, feeds, tmp_path, extra_env={"NEWSBOT_ADMINS": str(ADMIN)}
    ) as running:
        yield running


async def test_only_admins_add_and_remove_sources(
    bot: RunningBot, telegram: FakeBotApi, feeds: FeedServer
) -> None:
    extra = feeds.url("/extra.xml")
    refused = await ask(telegram, READER, f"/addsource {extra}")
    assert "admin" in refused.lower()

    added = await ask(telegram, ADMIN, f"/addsource {extra}")
    assert extra in added and "Not added" not in added
    assert extra in await ask(telegram, READER, "/sources")

    assert "Not added" in await ask(telegram, ADMIN, f"/addsource {feeds.url('/page.html')}")
    assert "admin" in (await ask(telegram, READER, f"/removesource {extra}")).lower()
    assert "Removed" in await ask(telegram, ADMIN, f"/removesource {extra}")
    listing = await ask(telegram, READER, "/sources")
    assert f"{extra}\n⏸ disabled: removed by an admin" in listing
