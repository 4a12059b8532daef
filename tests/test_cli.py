"""The `newsbot` command in a terminal, run as a real subprocess against loopback feeds."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import DATA
from tests.fakes.feed_server import FeedServer

ROOT = Path(__file__).resolve().parent.parent
NEWSBOT = [sys.executable, "-m", "bot"]


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "NEWSBOT_", "DATABASE_URL"))
    }
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}",
        NEWSBOT_ALLOW_PRIVATE_SOURCES="1",
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


async def newsbot(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *NEWSBOT,
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_run_without_a_token_stops_at_once_and_says_what_to_set(tmp_path: Path) -> None:
    code, _, err = await newsbot("run", env=clean_env(tmp_path), cwd=tmp_path)

    assert code == 2
    assert "TELEGRAM_BOT_TOKEN is not set" in err
    assert "Traceback" not in err


async def test_a_bad_setting_is_named(tmp_path: Path) -> None:
    env = clean_env(tmp_path, NEWSBOT_POLL_INTERVAL="soon")
    code, _, err = await newsbot("latest", "ukraine", env=env, cwd=tmp_path)

    assert code == 2
    assert "NEWSBOT_POLL_INTERVAL" in err and "Traceback" not in err


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
async def test_make_run_without_a_token_exits_with_the_message(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        "make",
        "-s",
        "-C",
        str(ROOT),
        "run",
        env=clean_env(tmp_path),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), timeout=300)

    assert process.returncode != 0
    assert "TELEGRAM_BOT_TOKEN is not set" in err.decode()


async def test_poll_once_then_latest_in_a_terminal(feeds: FeedServer, tmp_path: Path) -> None:
    feeds.set_feed("/world.xml", (DATA / "seed-feed.xml").read_bytes())
    feeds.set_response("/broken.xml", status=500, body=b"oops")
    sources = tmp_path / "sources.txt"
    sources.write_text(f"{feeds.url('/world.xml')}\n{feeds.url('/broken.xml')}\n")
    # Two parse worker processes: the path a large source list takes.
    env = clean_env(tmp_path, NEWSBOT_SOURCES=str(sources), NEWSBOT_PARSE_WORKERS="2")

    code, out, err = await newsbot("poll", "--once", env=env, cwd=tmp_path)

    assert code == 0, err
    assert f"✓ {feeds.url('/world.xml')}: 10 entries, 10 new" in out
    assert f"✗ {feeds.url('/broken.xml')}: HTTP 500" in out
    assert "2 sources polled, 10 new stories, 1 failed" in out
    assert "2/2" in err  # the progress bar reached the end

    code, out, _ = await newsbot("latest", "ukraine", "-n", "10", env=env, cwd=tmp_path)

    assert code == 0
    headline = (
        "1. Macron On Sending French Troops To Ukraine: "
        "If Russia Attacks Them We Do Not Need NATO's Help"
    )
    assert out.startswith(headline + "\n")
    assert "   Example World News · " in out
    assert "   https://news.example.org/world/macron-troops-ukraine" in out
    assert "Central Bank" not in out and "Alpine" not in out
    assert out.count("https://") >= 5


async def test_sources_add_list_remove(feeds: FeedServer, tmp_path: Path) -> None:
    feeds.set_feed("/extra.xml", (DATA / "seed-feed.xml").read_bytes())
    extra = feeds.url("/extra.xml")
    sources = tmp_path / "sources.txt"
    sources.write_text("https://a.example/feed.xml\n")
    env = clean_env(tmp_path, NEWSBOT_SOURCES=str(sources))

    code, out, err = await newsbot("sources", "add", extra, env=env, cwd=tmp_path)
    assert code == 0, err
    assert extra in out

    code, out, _ = await newsbot("sources", "list", env=env, cwd=tmp_path)
    assert "https://a.example/feed.xml" in out and extra in out

    code, out, _ = await newsbot("sources", "remove", extra, env=env, cwd=tmp_path)
    assert code == 0
    code, out, _ = await newsbot("sources", "list", env=env, cwd=tmp_path)
    assert extra not in out

    code, _, err = await newsbot("sources", "add", "javascript:alert(1)", env=env, cwd=tmp_path)
    assert code != 0 and "http" in err
