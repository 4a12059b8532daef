"""The `newsbot` command: run the bot, poll once, ask for the latest stories, manage sources.

newsbot run [--role ROLE]        the bot and the scheduler in one process (what `make run` does),
                                 or one part of it beside others on PostgreSQL (see bot.roles)
newsbot poll --once              fetch every source now, with a progress bar
newsbot latest TOPIC [-n N]      the newest stories on a topic, as /latest ranks them
newsbot sources add URL | remove URL | list | import FILE.opml | export > FILE.opml
newsbot read URL [--json]        fetch one story's page and print its article as the bot reads it

Every command syncs the sources file (`NEWSBOT_SOURCES`) into the database first, never deleting
anything; when the database was last synced from another file, only `run`, `poll` and a
command given `--sync-sources` apply it, the others say what it would change (see bot.sync).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot.roles import ROLES
from news.policy import DEFAULT_LATEST, MAX_LATEST

if TYPE_CHECKING:
    from bot.settings import Settings

# Each command imports what it needs when it runs: `newsbot sources list` never loads the feed
# parser, the clusterer or python-telegram-bot, and `newsbot latest` not the HTTP client. This
# module itself imports next to nothing: parse worker processes, spawned from the `newsbot`
# script, import it again, and should not pay for a database driver they never use.


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newsbot", description="A Telegram news bot.")
    confirm = argparse.ArgumentParser(add_help=False)
    confirm.add_argument(
        "--sync-sources",
        action="store_true",
        help="sync NEWSBOT_SOURCES into the database even when the database was last synced "
        "from another sources file (run and poll always do; nothing is ever deleted)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="run the Telegram bot and the feed scheduler")
    run.add_argument(
        "--role",
        choices=ROLES,
        default="all",
        help="all: everything in one process (default); poll: fetch and match feeds; send: "
        "push the outbox; bot: answer people. Split roles share one PostgreSQL database",
    )
    poll = commands.add_parser("poll", help="fetch every source now", parents=[confirm])
    poll.add_argument(
        "--once", action="store_true", required=True, help="poll every source once and exit"
    )
    latest = commands.add_parser("latest", help="the newest stories on a topic", parents=[confirm])
    latest.add_argument("topic", nargs="*", help="words a story must contain (none: all stories)")
    latest.add_argument(
        "-n",
        "--count",
        type=int,
        default=DEFAULT_LATEST,
        help=f"how many stories (default {DEFAULT_LATEST}, at most {MAX_LATEST})",
    )
    read = commands.add_parser(
        "read", help="fetch a story's web page and print its article: headline, key points, text"
    )
    read.add_argument("url", help="the story's web page")
    read.add_argument(
        "--json",
        action="store_true",
        help='print one JSON object {"url", "title", "text", "key_points"} instead',
    )
    sources = commands.add_parser("sources", help="manage the feeds the bot reads")
    actions = sources.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser(
        "add", help="add a feed (or read a removed one again)", parents=[confirm]
    ).add_argument("url")
    actions.add_parser(
        "remove", help="stop reading a feed; its stories stay until they age out", parents=[confirm]
    ).add_argument("url")
    actions.add_parser(
        "list", help="list feeds, their last fetch and their last error", parents=[confirm]
    )
    actions.add_parser(
        "import", help="add the feeds of an OPML file (or a list of URLs)", parents=[confirm]
    ).add_argument("file", type=Path)
    actions.add_parser("export", help="print the feeds as OPML", parents=[confirm])
    return parser


def _tell(message: str) -> None:
    print(f"newsbot: {_masked(message)}", file=sys.stderr)


def _masked(text: str) -> str:
    """`text` without passwords: that of DATABASE_URL (as set in the environment, else as the
    settings read it) and any URL's."""
    from bot.logs import password_mask

    return password_mask(_database_url or os.environ.get("DATABASE_URL"))(text)


# DATABASE_URL once the settings are read (they may come from `.env`): its password is masked.
_database_url: str | None = None


async def _poll_once(settings: Settings) -> int:
    from tqdm import tqdm

    from bot.wiring import make_poller, open_and_sync, parse_executor, utc_now
    from news.feeds.fetch import Fetcher, FetchLimits

    storage, synced = await open_and_sync(settings, utc_now, say=_tell)
    try:
        listed = synced.sources if synced.sources is not None else await storage.list_sources()
        sources = [source for source in listed if source.enabled]
        executor = parse_executor(settings)
        async with Fetcher(
            FetchLimits(max_bytes=settings.max_feed_bytes),
            public_only=not settings.allow_private_sources,
        ) as fetcher:
            poller = make_poller(storage, fetcher, settings, executor)
            with tqdm(total=len(sources), unit="feed", file=sys.stderr) as progress:

                def done(outcome: object) -> None:
                    progress.update(1)

                outcomes = await poller.poll_sources(sources, utc_now(), on_done=done)
        # A first poll's backlog (stored and searchable, never pushed) is not clustered here:
        # that would cost this command more than its poll. `newsbot run` clusters it after its
        # first tick, `newsbot latest` before it lists; stories that may be pushed were
        # clustered as they were stored.
        executor.shutdown()
        for outcome in outcomes:
            print(outcome.summary_line())
        failed = sum(outcome.status == "error" for outcome in outcomes)
        new = sum(outcome.new_stories for outcome in outcomes)
        print(f"{len(outcomes)} sources polled, {new} new stories, {failed} failed")
        return 0
    finally:
        await storage.close()


async def _latest(settings: Settings, words: Sequence[str], count: int, *, confirmed: bool) -> int:
    if not 1 <= count <= MAX_LATEST:
        print(f"newsbot: --count must be between 1 and {MAX_LATEST}", file=sys.stderr)
        return 2
    from bot import terminal
    from bot.wiring import open_synced_storage, place_backlog, utc_now
    from news.reading import latest_events
    from news.topics import parse_topic

    topic = parse_topic(" ".join(words)) if words else None
    storage = await open_synced_storage(settings, utc_now, confirmed=confirmed, say=_tell)
    try:
        # Stories no event holds yet (`poll --once` leaves a first poll's backlog to `newsbot
        # run`) are placed first, so that an event's reports are listed once, as `run` lists them.
        started = time.perf_counter()
        placed = await place_backlog(storage, utc_now())
        if placed:
            _tell(
                f"placed {placed} stories into events first ({time.perf_counter() - started:.1f} s;"
                " `newsbot run` does this after each poll)"
            )
        listed, _ = await latest_events(storage, topic, count)
    finally:
        await storage.close()
    if not listed:
        print(f"No stories on {topic.text}." if topic else "No stories yet.")
        return 0
    now = utc_now()
    for number, event in enumerate(listed, 1):
        story = event.lead
        more = " " + terminal.more_sources(event.more_sources) if event.more_sources else ""
        print(f"{number}. {story.title}")
        print(f"   {story.source_name}{more} · {terminal.age(story.published_at, now)}")
        if story.link:
            print(f"   {story.link}")
    return 0


async def _read(settings: Settings, url: str, *, as_json: bool) -> int:
    """Read one page as the bot would (the same fetcher, guard, robots.txt and extraction);
    extraction runs inline, since this process has nothing else to keep answering."""
    from news.articles import ArticleReader, HostPace
    from news.feeds.fetch import Fetcher

    async with Fetcher(public_only=not settings.allow_private_sources) as fetcher:
        article = await ArticleReader(fetcher, HostPace()).read(url)
    if as_json:
        import json

        card = {
            "url": article.url,
            "title": article.title,
            "text": article.text,
            "key_points": list(article.key_points),
        }
        print(json.dumps(card, ensure_ascii=False))
        return 0
    from bot import terminal

    print(terminal.article_card(article))
    return 0


async def _sources(
    settings: Settings, action: str, argument: str | Path | None, *, confirmed: bool
) -> int:
    from bot import terminal
    from bot.wiring import open_synced_storage, utc_now
    from news import curation

    storage = await open_synced_storage(settings, utc_now, confirmed=confirmed, say=_tell)
    try:
        if action == "add":
            from news.feeds.fetch import Fetcher, FetchLimits

            async with Fetcher(
                FetchLimits(max_bytes=settings.max_feed_bytes),
                public_only=not settings.allow_private_sources,
            ) as fetcher:
                added = await curation.add_source(
                    storage,
                    str(argument),
                    now=utc_now(),
                    fetcher=fetcher,
                    allow_private=settings.allow_private_sources,
                )
            print(terminal.added(added))
        elif action == "remove":
            removed = await curation.remove_source(storage, str(argument))
            if removed is None:
                print(f"newsbot: no source {argument}", file=sys.stderr)
                return 1
            print(terminal.removed(removed))
        elif action == "import":
            from news.feeds import read_sources_file

            assert isinstance(argument, Path)
            imported = await curation.import_sources(
                storage,
                read_sources_file(argument),
                now=utc_now(),
                allow_private=settings.allow_private_sources,
            )
            print(terminal.imported(imported))
        elif action == "export":
            from news.feeds import to_opml

            # What the bot reads: a removed or unlisted source is not exported.
            print(to_opml([s for s in await storage.list_sources() if s.enabled]))
        else:
            now = utc_now()
            for source in await storage.list_sources():
                print(f"{source.url}\n   {source.name} · {terminal.source_status(source, now)}")
                if source.last_error_kind and source.last_error_at:
                    print(
                        f"   last error: {source.last_error_kind} at "
                        f"{source.last_error_at:%Y-%m-%d %H:%M} UTC"
                    )
        return 0
    finally:
        await storage.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `newsbot` console script."""
    args = _parser().parse_args(argv)
    from bot.logs import configure_logging
    from bot.settings import Settings
    from news.errors import ConfigError, NewsbotError, TopicError

    # What the imports made lives as long as the process: the collector need not walk it again
    # and again while the command runs.
    gc.freeze()
    global _database_url
    try:
        settings = Settings.from_environment()
        _database_url = settings.database_url
        configure_logging(settings.telegram_bot_token, database_url=settings.database_url)
        if args.command == "run":
            from bot.app import run_bot
            from bot.roles import check_role

            check_role(args.role, settings.database_url)

            run_bot(settings, args.role)
            return 0
        if args.command == "poll":
            return asyncio.run(_poll_once(settings))
        if args.command == "read":
            return asyncio.run(_read(settings, args.url, as_json=args.json))
        if args.command == "latest":
            return asyncio.run(
                _latest(settings, args.topic, args.count, confirmed=args.sync_sources)
            )
        argument = getattr(args, "url", None) or getattr(args, "file", None)
        return asyncio.run(_sources(settings, args.action, argument, confirmed=args.sync_sources))
    except ConfigError as error:
        _tell(f"configuration error: {error}")
        return 2
    except TopicError as error:
        _tell(str(error))
        return 2
    except NewsbotError as error:
        _tell(str(error))
        return 1
    except BrokenPipeError:
        # The reader of the output went away (`newsbot latest | head`): not an error of ours.
        # Python would report the pipe again when it flushes stdout at exit, so point it at
        # nothing first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception:
        # A bug, or a database driver's error nothing translated: its traceback helps, but a
        # terminal's output is pasted into issues, so not with the database's password in it.
        print(_masked(traceback.format_exc()), file=sys.stderr, end="")
        return 1
    finally:
        # The command is done and the process ends: nothing it made needs freeing one by one,
        # so the interpreter's last collections skip it all (a tenth of a second with
        # SQLAlchemy and aiohttp loaded).
        gc.freeze()


if __name__ == "__main__":
    sys.exit(main())
