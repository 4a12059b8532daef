"""Benchmark: 1,000 new users at once, each sending /start then /subscribe ukraine (issue 11).

The fake Bot API (tests/fakes) runs in a process of its own and enforces Telegram's limits
(30/s overall, 1/s per private chat). All 2,000 commands are queued within a moment; the figures
are the replies: how many arrived (target: every one, in order per chat), the 429s (target 0)
and the rate they arrived at, from the first reply to the last (target ≥ 95 % of
NEWSBOT_SEND_RATE, 25/s by default). Two variants:

  in-process     the bot (`bot.app.build_app`, the steps of run_polling) in this process
  whole-process  the real `newsbot run` as a subprocess, as people run it

    python bench/bench_burst.py [--users 1000] [--variant in-process|whole-process|both]

Each variant takes about users × 2 / 25 seconds by design (80 s for 1,000 users).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fake_process import announce, ask, figure, parser_for, start_newsbot_run, start_server
from bot.app import build_app
from bot.settings import Settings
from tests.fakes.telegram import FakeBotApi
from tests.harness import polling

FIRST_CHAT = 2_000_000
RATE = 25.0
DEADLINE = 900.0


async def serve() -> None:
    """Child process: the fake Bot API, driven by lines on stdin (see `Fake`)."""
    async with FakeBotApi(validate_html=False) as telegram:
        telegram.enforce_limits(global_per_second=30, private_per_second=1)
        announce(telegram)
        loop = asyncio.get_running_loop()
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            command, *arguments = line.split()
            if command == "wait-ready":
                await telegram.wait_for_call(lambda call: call.method == "getUpdates", timeout=120)
                print(json.dumps({"ready": True}), flush=True)
            elif command == "burst":
                users = int(arguments[0])
                print(json.dumps(await burst(telegram, users)), flush=True)


async def burst(telegram: FakeBotApi, users: int) -> dict[str, object]:
    chats = range(FIRST_CHAT, FIRST_CHAT + users)
    queued = time.monotonic()
    for chat in chats:
        telegram.inject_message(chat, "/start")
        telegram.inject_message(chat, "/subscribe ukraine")
    try:
        async with asyncio.timeout(DEADLINE):
            while len(telegram.delivered()) < 2 * users:
                await telegram.wait_for_call(lambda call: True, after=telegram.mark())
    except TimeoutError:
        pass  # the figures below show what is missing
    replies = telegram.send_rate_timeline()
    expected = ("<b>Hello! I am a news bot.</b>", "Subscribed to: <b>ukraine</b>")
    in_order = sum(
        1
        for chat in chats
        if len(texts := telegram.texts(chat)) == 2
        and all(text.startswith(start) for text, start in zip(texts, expected, strict=True))
    )
    return {
        "replies": len(telegram.delivered()),
        "in_order": in_order,
        "too_many": telegram.too_many_requests,
        "first": replies[0] - queued if replies else None,
        "last": replies[-1] - queued if replies else None,
    }


class Fake:
    """The fake Bot API's process, as seen from the benchmark."""

    def __init__(self, process: asyncio.subprocess.Process, hello: dict[str, str]) -> None:
        self.process = process
        self.base_url = hello["base_url"]
        self.token = hello["token"]

    @classmethod
    async def start(cls) -> Fake:
        return cls(*await start_server(__file__))

    async def ask(self, line: str) -> dict[str, object]:
        return await ask(self.process, line)

    async def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        await self.process.wait()


def environment(fake: Fake, folder: Path) -> dict[str, str]:
    sources = folder / "sources.txt"
    sources.write_text("# no feeds: the benchmark is about replies\n")
    return {
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_URL": fake.base_url,
        "DATABASE_URL": f"sqlite:///{folder / 'burst.db'}",
        "NEWSBOT_SOURCES": str(sources),
        "NEWSBOT_SEND_RATE": f"{RATE:g}",
    }


async def in_process(fake: Fake, users: int, folder: Path) -> dict[str, object]:
    env = environment(fake, folder)
    async with polling(build_app(Settings.from_environment(env, env_file=None))):
        await fake.ask("wait-ready")
        return await fake.ask(f"burst {users}")


async def whole_process(fake: Fake, users: int, folder: Path) -> dict[str, object]:
    env = {**os.environ, **environment(fake, folder), "PTB_TIMEDELTA": "true"}
    bot = await start_newsbot_run(env, folder)
    try:
        await fake.ask("wait-ready")
        return await fake.ask(f"burst {users}")
    finally:
        bot.terminate()
        await bot.wait()


async def run(variant: str, users: int) -> None:
    fake = await Fake.start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            runner = in_process if variant == "in-process" else whole_process
            stats = await runner(fake, users, Path(folder))
    finally:
        await fake.stop()
    replies = int(str(stats["replies"]))
    first, last = stats["first"], stats["last"]
    span = float(str(last)) - float(str(first)) if first is not None else float("nan")
    rate = (replies - 1) / span if replies > 1 else 0.0
    every = replies == 2 * users and stats["in_order"] == users
    print(f"{variant}: {users:,} users × (/start, /subscribe ukraine), Telegram limits enforced")
    figure(
        f"replies: {replies:,} of {2 * users:,}, {stats['in_order']:,} chats in order",
        "target: every reply",
        every,
    )
    figure(f"429s: {stats['too_many']}", "target 0", stats["too_many"] == 0)
    figure(
        f"last reply {float(str(last)):.1f} s after the burst, first {float(str(first)):.2f} s;"
        f" {rate:.1f} replies/s = {rate / RATE:.1%} of NEWSBOT_SEND_RATE {RATE:g}/s",
        "target ≥ 95%",
        rate / RATE >= 0.95,
    )


def main() -> None:
    parser = parser_for(__doc__)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument(
        "--variant", choices=("in-process", "whole-process", "both"), default="both"
    )
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve())
        return
    for variant in ("in-process", "whole-process"):
        if args.variant in (variant, "both"):
            asyncio.run(run(variant, args.users))


if __name__ == "__main__":
    main()
