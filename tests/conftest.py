"""Shared fixtures: real databases (SQLite in tmp_path, PostgreSQL where one answers), a clock.

PostgreSQL tests use a throw-away database created for the session on the server named by
NEWSBOT_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test). Where no server
answers they are skipped with the reason, unless NEWSBOT_REQUIRE_POSTGRES=1 (as in CI), where
that is a failure.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import hypothesis
import pytest
from sqlalchemy import text

from storage import SqlStorage, create_engine, open_storage
from storage.database import migrate
from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram import FakeBotApi

# The same examples on every run, so a test that passed passes again (CI included); a search for
# new examples is `HYPOTHESIS_PROFILE=explore`.
hypothesis.settings.register_profile("repeatable", derandomize=True)
hypothesis.settings.register_profile("explore", derandomize=False)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

# Opt in to PTB's future timedelta durations (RetryAfter.retry_after); without it PTB warns,
# and the suite runs with warnings as errors.
os.environ.setdefault("PTB_TIMEDELTA", "true")

POSTGRES_URL = os.environ.get(
    "NEWSBOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
DATA = Path(__file__).resolve().parent / "data"


class Clock:
    """A clock tests move by hand: time is injected, never slept on."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2025, 2, 14, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _run_aside(make: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a coroutine to completion on a fresh loop in a thread (fixtures may be in a loop)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(lambda: asyncio.run(make())).result()


def _postgres_unavailable_reason() -> str | None:
    async def probe() -> None:
        connection = await asyncpg.connect(POSTGRES_URL, timeout=3)
        await connection.close()

    try:
        _run_aside(probe)
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        return f"no PostgreSQL server answers at {POSTGRES_URL}: {error}"
    return None


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session; dropped at the end."""
    reason = _postgres_unavailable_reason()
    if reason:
        if os.environ.get("NEWSBOT_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"NEWSBOT_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    name = f"newsbot_test_{uuid.uuid4().hex[:12]}"

    async def admin(statement: str) -> None:
        connection = await asyncpg.connect(POSTGRES_URL)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    _run_aside(lambda: admin(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    _run_aside(lambda: admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A database of its own on the PostgreSQL server, for a test that runs processes on it
    or takes it offline; dropped afterwards."""
    try:
        admin = await asyncpg.connect(POSTGRES_URL, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        reason = f"no PostgreSQL server answers at {POSTGRES_URL}: {error}"
        if os.environ.get("NEWSBOT_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"NEWSBOT_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    name = f"newsbot_own_{uuid.uuid4().hex[:12]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlStorage]:
    """A migrated, empty database of each backend, behind the same `SqlStorage`."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'newsbot.db'}"
    else:
        url = request.getfixturevalue("postgres_database")
    store = await empty_storage(url)
    yield store
    await store.close()


async def empty_storage(url: str) -> SqlStorage:
    """A migrated database at `url`; the session's PostgreSQL database is emptied first."""
    engine = create_engine(url)
    await migrate(engine)
    if url.startswith("postgresql"):
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "TRUNCATE deliveries, subscriptions, chats, stories, sources, clusters, "
                    "cluster_outlets, bot_state RESTART IDENTITY CASCADE"
                )
            )
    return SqlStorage(engine)


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'newsbot.db'}"


@pytest.fixture
def seed_feed() -> bytes:
    return (DATA / "seed-feed.xml").read_bytes()


@pytest.fixture
async def telegram() -> AsyncIterator[FakeBotApi]:
    """A fake Telegram Bot API server on loopback that the real PTB client talks to."""
    async with FakeBotApi() as api:
        yield api


@pytest.fixture
async def feeds() -> AsyncIterator[FeedServer]:
    """A feed server on loopback: real HTTP, test-controlled content, ETags."""
    async with FeedServer() as server:
        yield server


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStorage]:
    """A migrated SQLite database of the test's own (a test file may define its own `store`)."""
    storage = await open_storage(f"sqlite:///{tmp_path / 'newsbot.db'}")
    yield storage
    await storage.close()
