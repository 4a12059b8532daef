"""The `newsbot` command: run the bot, poll once, ask for the latest stories, manage sources.

newsbot run                      the bot and the scheduler in one process (what `make run` does)
newsbot poll --once              fetch every source now, with a progress bar
newsbot latest TOPIC [-n N]      the newest stories on a topic, as /latest ranks them
newsbot sources add URL | remove URL | list
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from tqdm import tqdm

from bot.app import build_app, open_synced_storage, utc_now
from bot.logs import configure_logging
from bot.settings import Settings
from handlers.commands import DEFAULT_LATEST, MAX_LATEST
from handlers.render import source_status
from news.errors import ConfigError, NewsbotError, TopicError
from news.fetch import Fetcher
from news.ingest import Poller, PollSettings
from news.text import age, is_web_url
from news.topics import parse_topic


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newsbot", description="A Telegram news bot.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("run", help="run the Telegram bot and the feed scheduler")
    poll = commands.add_parser("poll", help="fetch every source now")
    poll.add_argument(
        "--once", action="store_true", required=True, help="poll every source once and exit"
    )
    latest = commands.add_parser("latest", help="the newest stories on a topic")
    latest.add_argument("topic", nargs="*", help="words a story must contain (none: all stories)")
    latest.add_argument(
        "-n",
        "--count",
        type=int,
        default=DEFAULT_LATEST,
        help=f"how many stories (default {DEFAULT_LATEST}, at most {MAX_LATEST})",
    )
    sources = commands.add_parser("sources", help="manage the feeds the bot reads")
    actions = sources.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("add", help="add a feed").add_argument("url")
    actions.add_parser("remove", help="remove a feed").add_argument("url")
    actions.add_parser("list", help="list feeds and their last fetch")
    return parser


async def _poll_once(settings: Settings) -> int:
    storage = await open_synced_storage(settings, utc_now)
    try:
        sources = await storage.list_sources()
        async with Fetcher() as fetcher:
            poller = Poller(storage, fetcher, PollSettings(interval=settings.poll_interval))
            with tqdm(total=len(sources), unit="feed", file=sys.stderr) as progress:

                def done(outcome: object) -> None:
                    progress.update(1)

                outcomes = await poller.poll_sources(sources, utc_now(), on_done=done)
        for outcome in outcomes:
            print(outcome.summary_line())
        failed = sum(outcome.status == "error" for outcome in outcomes)
        new = sum(outcome.new_stories for outcome in outcomes)
        print(f"{len(outcomes)} sources polled, {new} new stories, {failed} failed")
        return 0
    finally:
        await storage.close()


async def _latest(settings: Settings, words: Sequence[str], count: int) -> int:
    if not 1 <= count <= MAX_LATEST:
        print(f"newsbot: --count must be between 1 and {MAX_LATEST}", file=sys.stderr)
        return 2
    topic = parse_topic(" ".join(words)) if words else None
    storage = await open_synced_storage(settings, utc_now)
    try:
        stories = await storage.latest(topic, limit=count)
    finally:
        await storage.close()
    if not stories:
        print(f"No stories on {topic.text}." if topic else "No stories yet.")
        return 0
    now = utc_now()
    for number, story in enumerate(stories, 1):
        print(f"{number}. {story.title}")
        print(f"   {story.source_name} · {age(story.published_at, now)}")
        if story.link:
            print(f"   {story.link}")
    return 0


async def _sources(settings: Settings, action: str, url: str | None) -> int:
    storage = await open_synced_storage(settings, utc_now)
    try:
        if action == "add":
            assert url is not None
            if not is_web_url(url):
                print(f"newsbot: {url!r} is not an http(s) URL", file=sys.stderr)
                return 2
            source = await storage.add_source(url, now=utc_now())
            print(f"Added {source.url}; it is fetched at the next poll.")
        elif action == "remove":
            assert url is not None
            if await storage.remove_source(url):
                print(f"Removed {url} and its stories.")
            else:
                print(f"newsbot: no source {url}", file=sys.stderr)
                return 1
        else:
            now = utc_now()
            for source in await storage.list_sources():
                print(f"{source.url}\n   {source.name} · {source_status(source, now)}")
        return 0
    finally:
        await storage.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `newsbot` console script."""
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_environment()
        configure_logging(settings.telegram_bot_token)
        if args.command == "run":
            build_app(settings).run_polling(allowed_updates=["message", "callback_query"])
            return 0
        if args.command == "poll":
            return asyncio.run(_poll_once(settings))
        if args.command == "latest":
            return asyncio.run(_latest(settings, args.topic, args.count))
        return asyncio.run(_sources(settings, args.action, getattr(args, "url", None)))
    except ConfigError as error:
        print(f"newsbot: configuration error: {error}", file=sys.stderr)
        return 2
    except TopicError as error:
        print(f"newsbot: {error}", file=sys.stderr)
        return 2
    except NewsbotError as error:
        print(f"newsbot: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
