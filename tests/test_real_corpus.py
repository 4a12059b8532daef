"""The 200 real feeds of ../shared/corpus/real, served on loopback, polled on default settings.

Parsing runs in several threads (and large feeds in a worker process) when the real `newsbot`
polls many sources; this is where analyser state shared across threads showed, which the
one-file-at-a-time corpus test never sees. The whole corpus is polled by the real
`newsbot poll --once`, then by the real `newsbot run` (against the fake Bot API), each into its
own SQLite database, and every story each file gives when parsed alone must be stored.

Slow by nature, about 100 s on a busy 2-core machine: the reference parse (44 MB of feeds),
`poll --once` (about 25 s) and `run` (about 55 s, of which about 30 s is waiting for the
scheduler's first tick, which comes one tick period after start at the default poll interval).
Skipped with the reason when ../shared is absent.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path

import pytest
from sqlalchemy import select

from news.errors import ParseError
from news.feeds.parse import parse_feed
from news.model import StoryDraft
from storage import open_storage
from storage.tables import sources as sources_table
from storage.tables import stories as stories_table
from tests.conftest import SHARED
from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram import FakeBotApi
from tests.test_cli import NEWSBOT, clean_env

CORPUS = SHARED / "corpus" / "real"
CONTENT_TYPE = "application/xml"
pytestmark = pytest.mark.skipif(
    not CORPUS.is_dir(), reason=f"the shared real-feed corpus is not at {CORPUS}"
)


@dataclass(frozen=True, slots=True)
class Expected:
    """What one file gives when parsed alone: its stories as drafts, or its parse error."""

    url: str
    drafts: tuple[StoryDraft, ...]
    error: str | None


def parse_alone(path: Path, url: str) -> Expected:
    try:
        feed = parse_feed(
            path.read_bytes(),
            url=url,
            headers={"content-type": CONTENT_TYPE},
            now=datetime.now(UTC),
        )
    except ParseError as error:
        return Expected(url, (), error.kind)
    drafts = tuple(entry.draft(source_id=0) for entry in feed.entries)
    return Expected(url, drafts, None)


def distinct_stories(expected: list[Expected]) -> int:
    """How many stories storage keeps of these drafts: one per entry id within a source, one
    per link across sources, one per headline and summary for linkless entries of a source."""
    keys: set[tuple[str, str]] = set()
    links: set[str] = set()
    texts: set[tuple[str, str, str]] = set()
    count = 0
    for feed in expected:
        for draft in feed.drafts:
            text = (feed.url, draft.title, draft.summary)
            if (
                (feed.url, draft.entry_id) in keys
                or (draft.link and draft.link in links)
                or (not draft.link and text in texts)
            ):
                continue
            keys.add((feed.url, draft.entry_id))
            if draft.link:
                links.add(draft.link)
            else:
                texts.add(text)
            count += 1
    return count


async def stored(
    database_url: str,
) -> tuple[set[tuple[str, str]], set[str], set[tuple[str, str, str]]]:
    """(source URL, entry id), links and (source URL, title, summary) of every stored story."""
    storage = await open_storage(database_url)
    try:
        async with storage.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(
                        sources_table.c.url,
                        stories_table.c.entry_id,
                        stories_table.c.link,
                        stories_table.c.title,
                        stories_table.c.summary,
                    ).join(sources_table, sources_table.c.id == stories_table.c.source_id)
                )
            ).all()
    finally:
        await storage.close()
    return (
        {(row.url, row.entry_id) for row in rows},
        {row.link for row in rows if row.link},
        {(row.url, row.title, row.summary) for row in rows},
    )


async def assert_every_story_stored(database_url: str, expected: list[Expected]) -> int:
    keys, links, texts = await stored(database_url)
    missing = [
        (feed.url, draft.entry_id)
        for feed in expected
        for draft in feed.drafts
        if (feed.url, draft.entry_id) not in keys
        and draft.link not in links
        and (feed.url, draft.title, draft.summary) not in texts
    ]
    assert not missing, f"{len(missing)} stories missing, e.g. {missing[:5]}"
    assert len(keys) == distinct_stories(expected)
    return len(keys)


def polled_sources(database_path: Path) -> int:
    """How many sources have been polled, read without disturbing the running bot."""
    if not database_path.exists():
        return 0
    with closing(sqlite3.connect(f"file:{database_path}?mode=ro", uri=True, timeout=30)) as db:
        try:
            row = db.execute("SELECT count(*) FROM sources WHERE last_polled_at IS NOT NULL")
        except sqlite3.OperationalError:  # the schema is not there yet
            return 0
        return int(row.fetchone()[0])


async def test_the_real_corpus_is_stored_whole_by_poll_once_and_by_run_on_default_settings(
    feeds: FeedServer, telegram: FakeBotApi, tmp_path: Path
) -> None:
    files = sorted(path for path in CORPUS.iterdir() if path.is_file() and path.name != "README.md")
    for path in files:
        feeds.set_feed(f"/{path.name}", path.read_bytes(), content_type=CONTENT_TYPE)
    urls = [feeds.url(f"/{path.name}") for path in files]
    sources = tmp_path / "corpus.txt"
    sources.write_text("".join(url + "\n" for url in urls))
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        expected = list(pool.map(parse_alone, files, urls))
    failing = sum(1 for feed in expected if feed.error is not None)
    total = distinct_stories(expected)

    # (a) newsbot poll --once
    poll_db = f"sqlite:///{tmp_path / 'poll.db'}"
    env = {**clean_env(tmp_path, NEWSBOT_SOURCES=str(sources)), "DATABASE_URL": poll_db}
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *NEWSBOT, "poll", "--once", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(300):
        output, errors = await process.communicate()
    code, out, err = process.returncode, output.decode(), errors.decode()
    poll_seconds = time.monotonic() - started
    assert code == 0, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    assert f"{len(files)} sources polled, {total} new stories, {failing} failed" in out
    assert await assert_every_story_stored(poll_db, expected) == total

    # (b) newsbot run, its scheduler's first tick polling every source
    run_db = f"sqlite:///{tmp_path / 'run.db'}"
    log = tmp_path / "run.log"
    env = {
        **clean_env(tmp_path, NEWSBOT_SOURCES=str(sources)),
        "DATABASE_URL": run_db,
        "TELEGRAM_BOT_TOKEN": telegram.token,
        "TELEGRAM_API_URL": telegram.base_url,
    }
    started = time.monotonic()
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            *NEWSBOT, "run", env=env, cwd=tmp_path,
            stdout=asyncio.subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip
        try:
            async with asyncio.timeout(300):
                while polled_sources(tmp_path / "run.db") < len(files):
                    assert process.returncode is None, log.read_text()[-3000:]
                    await asyncio.sleep(1)
            run_seconds = time.monotonic() - started
        finally:
            process.send_signal(signal.SIGINT)
            code = await asyncio.wait_for(process.wait(), timeout=60)
    run_log = log.read_text()
    assert code == 0, run_log[-3000:]
    assert "Traceback" not in run_log, run_log[-3000:]
    assert await assert_every_story_stored(run_db, expected) == total
    print(
        f"\nreal corpus: {len(files)} feeds, {total} stories, {failing} not feeds; "
        f"poll --once {poll_seconds:.1f} s, run {run_seconds:.1f} s to the last source"
    )
