"""`newsbot latest` right after `newsbot poll --once` lists events as `newsbot run` would.

`poll --once` leaves a first poll's backlog unclustered (clustering it would cost the poll more
than the poll itself); `newsbot latest` places what no event holds yet before it lists, and
says what that cost. Over real feeds: the three reports of the Berlin Film Festival's Gaza
letter (one by Deutsche Welle, two carried by Al-Monitor) are one entry, without `newsbot run`.
The two feeds that carry them are not enough on their own: the clusterer weighs words by how
common they are among the stories it holds, so the case needs the whole corpus (skipped without
../shared).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from tests.conftest import SHARED
from tests.fakes.feed_server import FeedServer
from tests.test_cli import NEWSBOT, clean_env

CORPUS = SHARED / "corpus" / "real"


async def _newsbot(env: dict[str, str], cwd: Path, *args: str) -> tuple[str, str]:
    process = await asyncio.create_subprocess_exec(
        *NEWSBOT, *args, env=env, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(600):
        output, errors = await process.communicate()
    assert process.returncode == 0, errors.decode()[-3000:]
    return output.decode(), errors.decode()


def _gaza_entries(listed: str) -> list[str]:
    entries = re.split(r"^\d+\. ", listed, flags=re.MULTILINE)[1:]
    return [entry for entry in entries if "Gaza" in entry.splitlines()[0]]


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"the shared real-feed corpus is not at {CORPUS}")
async def test_latest_after_poll_once_lists_one_entry_per_event(
    feeds: FeedServer, tmp_path: Path
) -> None:
    files = sorted(path for path in CORPUS.iterdir() if path.is_file() and path.name != "README.md")
    for path in files:
        feeds.set_feed(f"/{path.name}", path.read_bytes(), content_type="application/xml")
    sources = tmp_path / "corpus.txt"
    sources.write_text("".join(feeds.url(f"/{path.name}") + "\n" for path in files))
    env = clean_env(tmp_path, NEWSBOT_SOURCES=str(sources))

    await _newsbot(env, tmp_path, "poll", "--once")
    listed, said = await _newsbot(env, tmp_path, "latest", "berlin", "film", "festival")

    gaza = _gaza_entries(listed)
    assert len(gaza) == 1, f"one entry for the festival's silence on Gaza:\n{listed}"
    assert "Al-Monitor" in gaza[0] and "+1 source" in gaza[0], gaza[0]
    assert re.search(r"placed \d+ stories into events first", said), said
    # Placed once: the next `latest` finds nothing waiting and says nothing about it.
    again, said_again = await _newsbot(env, tmp_path, "latest", "berlin", "film", "festival")
    assert again == listed
    assert "placed" not in said_again, said_again
