"""The `newsbot` command in a terminal, run as a real subprocess against loopback feeds."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import DATA
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import FeedItem, rss_feed

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


PASSWORD = "s3cret-Pass"


@pytest.mark.parametrize(
    ("database_url", "shown"),
    [
        # Not a URL at all (no "//" after the scheme): quoted back, masked.
        (f"postgresql//newsbot:{PASSWORD}@127.0.0.1/newsbot", "postgresql//newsbot:***@127"),
        # A port that is no number.
        (f"postgresql://newsbot:{PASSWORD}@127.0.0.1:port/newsbot", "newsbot:***@127.0.0.1:port"),
        # A database that refuses the connection: the driver's error, whatever it quotes.
        (f"postgresql://newsbot:{PASSWORD}@127.0.0.1:1/newsbot", None),
    ],
)
@pytest.mark.parametrize("command", [("poll", "--once"), ("sources", "list")])
async def test_a_failing_command_never_prints_the_database_password(
    tmp_path: Path, database_url: str, shown: str | None, command: tuple[str, ...]
) -> None:
    sources = tmp_path / "sources.txt"
    sources.write_text("")
    env = {**clean_env(tmp_path, NEWSBOT_SOURCES=str(sources)), "DATABASE_URL": database_url}

    code, out, err = await newsbot(*command, env=env, cwd=tmp_path)

    assert code != 0
    assert PASSWORD not in out + err
    assert shown is None or shown in err


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


async def test_poll_once_of_many_sources_on_default_settings(
    feeds: FeedServer, tmp_path: Path
) -> None:
    # More than 20 sources: every feed is parsed in worker processes started for the poll,
    # spawned from the `newsbot` script itself (which they import again) when it is installed.
    urls = []
    for number in range(24):
        path = f"/outlet{number}.xml"
        items = [
            FeedItem(
                title=f"Outlet {number} reports {word}", link=f"https://o{number}.example/{word}"
            )
            for word in ("floods", "elections")
        ]
        feeds.set_feed(path, rss_feed(items, title=f"Outlet {number}"))
        urls.append(feeds.url(path))
    sources = tmp_path / "sources.txt"
    sources.write_text("".join(f"{url}\n" for url in urls))
    env = clean_env(tmp_path, NEWSBOT_SOURCES=str(sources))
    script = Path(sys.executable).with_name("newsbot")
    command = [str(script)] if script.exists() else NEWSBOT
    process = await asyncio.create_subprocess_exec(
        *command,
        "poll",
        "--once",
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)

    assert process.returncode == 0, err.decode()
    assert "24 sources polled, 48 new stories, 0 failed" in out.decode()
    code, out_text, _ = await newsbot("latest", "outlet", "7", env=env, cwd=tmp_path)
    assert code == 0
    assert "Outlet 7 reports" in out_text


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
    assert code == 0 and "stay searchable" in out
    code, out, _ = await newsbot("sources", "list", env=env, cwd=tmp_path)
    assert f"{extra}\n   127.0.0.1 · ⏸ disabled: removed by an admin · 0 stories kept" in out
    code, out, _ = await newsbot("sources", "add", extra, env=env, cwd=tmp_path)
    assert code == 0
    code, out, _ = await newsbot("sources", "list", env=env, cwd=tmp_path)
    assert f"{extra}\n   127.0.0.1 · … not fetched yet" in out, "added again, due at once"

    code, _, err = await newsbot("sources", "add", "javascript:alert(1)", env=env, cwd=tmp_path)
    assert code != 0 and "http" in err


async def test_a_forgotten_sources_setting_deletes_nothing(
    feeds: FeedServer, tmp_path: Path
) -> None:
    """The reported scenario: poll with NEWSBOT_SOURCES=file A, then list without it."""
    feeds.set_feed("/world.xml", (DATA / "seed-feed.xml").read_bytes())
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(f"{feeds.url('/world.xml')}\n")
    with_file = clean_env(tmp_path, NEWSBOT_SOURCES=str(corpus))
    code, out, err = await newsbot("poll", "--once", env=with_file, cwd=tmp_path)
    assert code == 0 and "10 new stories" in out, err
    forgot = clean_env(tmp_path)  # a new shell: the bundled list

    code, out, err = await newsbot("sources", "list", env=forgot, cwd=tmp_path)

    assert code == 0, err
    assert f"last synced from {corpus}" in err
    assert "1 source disabled (their 10 stories stay searchable)" in err
    assert "Nothing was changed" in err and "--sync-sources" in err
    assert "Traceback" not in err
    assert out.count("http") == 1 and "✓ fetched" in out and "10 stories" in out
    code, out, _ = await newsbot("latest", "ukraine", env=forgot, cwd=tmp_path)
    assert out.startswith("1. Macron")

    code, out, err = await newsbot("sources", "list", "--sync-sources", env=forgot, cwd=tmp_path)

    assert "Sources from the bundled list:" in err and "1 source disabled" in err
    assert (
        f"{feeds.url('/world.xml')}\n   Example World News · ⏸ disabled: no longer in the "
        "sources file · 10 stories kept" in out
    )
    code, out, _ = await newsbot("latest", "ukraine", env=forgot, cwd=tmp_path)
    assert out.startswith("1. Macron"), "a disabled source's stories stay searchable"

    code, out, err = await newsbot("poll", "--once", env=with_file, cwd=tmp_path)

    assert code == 0 and "1 source enabled again" in err
    # Back with its history: its validators (a 304) and its stories, none stored twice.
    assert f"· {feeds.url('/world.xml')}: not modified" in out
    assert "1 sources polled, 0 new stories" in out
    code, out, _ = await newsbot("latest", "ukraine", "-n", "20", env=with_file, cwd=tmp_path)
    assert out.count("Macron") == 1


async def test_latest_lists_both_of_one_outlets_stories_on_one_theme(
    feeds: FeedServer, tmp_path: Path
) -> None:
    """Issue 12: one outlet, short texts, shared words, two events: both are listed."""
    now = datetime.now(UTC)
    feeds.set_feed(
        "/world.xml",
        rss_feed(
            [
                FeedItem(title, f"https://news.example.org/{slug}", summary=summary, published=at)
                for title, slug, summary, at in (
                    (
                        "Talks on Energy Prices Stall as Activists Call for Peace Outside",
                        "energy-talks-stall",
                        "Ministers failed to agree on energy prices while activists outside "
                        "called for peace.",
                        now - timedelta(hours=1),
                    ),
                    (
                        "Peace Talks Resume in Geneva With New Mediators",
                        "geneva-peace-talks",
                        "Negotiators returned to Geneva on Monday as new mediators joined "
                        "the peace talks.",
                        now - timedelta(hours=2),
                    ),
                )
            ],
            title="Example World News",
        ).encode(),
    )
    sources = tmp_path / "sources.txt"
    sources.write_text(f"{feeds.url('/world.xml')}\n")
    env = clean_env(tmp_path, NEWSBOT_SOURCES=str(sources))
    code, out, err = await newsbot("poll", "--once", env=env, cwd=tmp_path)
    assert code == 0 and "2 new stories" in out, err

    code, out, err = await newsbot("latest", "peace", "talks", env=env, cwd=tmp_path)

    assert code == 0, err
    assert out.startswith("1. Talks on Energy Prices Stall as Activists Call for Peace Outside\n")
    assert "2. Peace Talks Resume in Geneva With New Mediators\n" in out
    assert "https://news.example.org/geneva-peace-talks" in out
    assert "+1 sources" not in out  # one outlet: no other outlet to count


def test_output_cut_short_by_its_reader_is_no_error(tmp_path: Path) -> None:
    """`newsbot sources list | head -1`: the reader leaves before the list is written, and the
    command ends quietly instead of printing a traceback about the pipe."""
    import subprocess

    sources = tmp_path / "sources.txt"
    sources.write_text("".join(f"https://outlet{n}.example/feed.xml\n" for n in range(50)))
    env = clean_env(tmp_path, NEWSBOT_SOURCES=str(sources))
    read_end, write_end = os.pipe()
    # The reader is gone before the command starts (it takes far longer to start than this).
    os.close(read_end)
    try:
        done = subprocess.run(
            [*NEWSBOT, "sources", "list"],
            env=env,
            cwd=tmp_path,
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in done.stderr.decode(), done.stderr.decode()
    assert done.returncode == 0
