"""Every file of the shared feed corpus parses without an exception, in parallel on all cores.

What a parser owes each file: stories with a title or a summary and absolute http(s) links, or a
typed `ParseError` for what is not a feed. Skipped with the reason when ../shared is absent.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path

import pytest

from news.errors import ParseError
from news.feeds.parse import parse_feed
from tests.conftest import SHARED

CORPUS = SHARED / "corpus"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
NOT_FEEDS = {"fixtures/xml/xml_sample_1.xml", "fixtures/xml/xml_sample_2.xml"}


def check(path: Path) -> tuple[str, str | None, int, list[str]]:
    """(name, error kind or None, entries, problems) for one corpus file."""
    name = path.relative_to(CORPUS).as_posix()
    try:
        feed = parse_feed(path.read_bytes(), url=f"https://feeds.example.com/{name}", now=NOW)
    except ParseError as error:
        return name, error.kind, 0, []
    problems = [
        f"{entry.entry_id}: {problem}"
        for entry in feed.entries
        for problem in (
            "no title nor summary" if not (entry.title or entry.summary) else "",
            f"link {entry.link!r} is not absolute http(s)"
            if entry.link and not entry.link.startswith(("http://", "https://"))
            else "",
        )
        if problem
    ]
    return name, None, len(feed.entries), problems


def test_every_corpus_file_parses() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"the shared corpus is not at {CORPUS}")
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name != "README.md")
    assert len(files) >= 260
    # spawn, not fork: the test process has threads, and forking it is unsafe (and warns).
    with ProcessPoolExecutor(max_workers=2, mp_context=get_context("spawn")) as pool:
        results = list(pool.map(check, files, chunksize=4))
    problems = [f"{name}: {problem}" for name, _, _, found in results for problem in found]
    assert not problems, problems[:20]
    errors = {name: kind for name, kind, _, _ in results if kind is not None}
    assert errors == dict.fromkeys(NOT_FEEDS, "not-a-feed")
    with_entries = sum(1 for _, kind, count, _ in results if kind is None and count)
    assert with_entries >= len(files) - len(NOT_FEEDS) - 5
