"""The fake Bot API in a process of its own, as the delivery benchmarks run it.

A real (or local) Bot API server has its own core, so a benchmark starts its script again with
`--serve` (`start_server`) to run the fake there; the child `announce`s the fake's address as
one JSON line, then speaks the script's own line protocol on stdin and stdout. `figure` prints a
measured figure beside its target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from tests.fakes.telegram import FakeBotApi


def parser_for(docstring: str | None) -> argparse.ArgumentParser:
    """An argument parser described by the docstring's first line, with the hidden `--serve`."""
    parser = argparse.ArgumentParser(description=(docstring or "").splitlines()[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    return parser


async def start_server(
    script: str, *flags: str
) -> tuple[asyncio.subprocess.Process, dict[str, str]]:
    """Run `script --serve *flags` with pipes; the process and its announcement."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        script,
        "--serve",
        *flags,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PTB_TIMEDELTA": "true"},
        limit=2**24,  # the answers list every chat delivered to
    )
    assert process.stdout is not None
    hello: dict[str, str] = json.loads(await process.stdout.readline())
    return process, hello


async def ask(process: asyncio.subprocess.Process, line: str) -> dict[str, object]:
    """Send one line to the server process; its one-line JSON answer."""
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(f"{line}\n".encode())
    await process.stdin.drain()
    answer: dict[str, object] = json.loads(await process.stdout.readline())
    return answer


def announce(telegram: FakeBotApi) -> None:
    """Tell the benchmark where the fake listens: `{"base_url": ..., "token": ...}`."""
    print(json.dumps({"base_url": telegram.base_url, "token": telegram.token}), flush=True)


def figure(measured: str, target: str, met: bool) -> None:
    """Print one indented line: the `measured` figure, `(target)` and OK or MISSED."""
    print(f"  {measured} ({target}) {'OK' if met else 'MISSED'}")


async def start_newsbot_run(
    env: Mapping[str, str], folder: str | Path
) -> asyncio.subprocess.Process:
    """The real `newsbot run` of this venv in `folder`, as people run it; its output discarded."""
    return await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "newsbot"),
        "run",
        env=env,
        cwd=folder,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
