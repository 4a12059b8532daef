"""Rendering for Telegram: every message fits, and no split ever leaves broken HTML."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from handlers.common import parse_card_data, parse_more_data
from handlers.i18n import english
from handlers.render import MESSAGE_LIMIT, details_messages, pack
from news.model import Story
from tests.fakes.telegram.text_rules import parse_html, utf16_len

NOW = datetime(2025, 2, 14, 12, tzinfo=UTC)


def report(number: int) -> Story:
    return Story(
        id=number,
        source_id=number,
        source_name=f"Outlet number {number} & Sons <World Service>",
        title=f"Report {number}: " + "ministers agree on a long list of measures " * 6,
        summary="Short.",
        link=f"https://outlet{number}.example/news/" + "very-long-path-segment/" * 8,
        published_at=NOW - timedelta(minutes=number),
        first_seen_at=NOW,
    )


def test_a_card_with_many_outlets_is_valid_telegram_html_in_every_message() -> None:
    lead = report(0)
    messages = details_messages(
        lead,
        NOW,
        key_points=["Ministers agreed on measures after a night of talks in Brussels."] * 3,
        other_reports=[report(n) for n in range(1, 40)],
        related=[],
        texts=english(),
    )
    for message in messages:
        text, _ = parse_html(message)  # raises on a cut tag, entity or link
        assert utf16_len(text) <= MESSAGE_LIMIT and len(message) <= MESSAGE_LIMIT
    whole = "\n".join(messages)
    assert "and 29 more outlets" in whole, "the list of outlets is capped"


def test_a_block_longer_than_a_message_is_split_between_lines() -> None:
    lines = [
        f'<a href="https://e.org/{n}"><b>Headline {n}</b></a> — <i>Outlet</i>' for n in range(400)
    ]
    messages = pack(["<b>Heading</b>", "\n".join(lines)])
    assert len(messages) > 1
    for message in messages:
        parse_html(message)
        assert len(message) <= MESSAGE_LIMIT
    assert sum(message.count("<a href") for message in messages) == 400, "no line is lost"


def test_forged_callback_data_is_refused_not_crashed_on() -> None:
    assert parse_card_data("card:42") == 42
    for forged in ("card:²", "card:-1", "card:", "card:" + "9" * 30, "more:1"):
        assert parse_card_data(forged) is None
    for forged in ("more:tok:²:1", "more:tok:1:³", "more:tok:" + "9" * 20 + ":1", "more:a:b"):
        assert parse_more_data(forged) is None
