"""Benchmark: 1,000 users flood `newsbot run` from 100 groups; does anyone else notice? (issue 20)

The fake Bot API (tests/fakes) and a feed server run in a process of their own; the fake
enforces Telegram's limits (30/s overall, 1/s per private chat, 20/min per group). The bot is
the real `newsbot run` on default settings, but for the feed's poll interval (1 s, so that a
push's delay is the bot's and not the schedule's). Bob subscribes to "ukraine"; then for
`--seconds` every one of `--users` members of `--groups` groups sends a command (/latest ukraine
or /help, in turn) every two seconds, while

  - an unrelated user sends /start every half second (a new user each time): the time to the
    reply (p50, p99; target p99 ≤ 3 s);
  - a new story on Ukraine appears in the feed every 10 s: the time from the feed's change to
    Bob's push (target ≤ 5 s; the quiet figure before the flood is printed beside it);
  - the most messages any group received in a minute (target ≤ 20) and the 429s (target 0);
  - the updates the bot refused on arrival (its /metrics) and its peak RSS.

    python bench/bench_flood.py [--users 1000] [--groups 100] [--seconds 60]
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fake_process import ask as ask_fake
from bench.fake_process import figure, parser_for, start_newsbot_run, start_server
from bench.whole_process import process_peak_mb
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import FeedItem, rss_feed
from tests.fakes.telegram import FakeBotApi
from tests.fakes.webhook import free_port
from tests.harness import http_get, sent_to
from tests.stories import made_up

BOB = 900_001
FIRST_UNRELATED = 800_000
FIRST_GROUP = -1_002_000_000_000
FIRST_MEMBER = 100_000
COMMAND_EVERY = 2.0
SAMPLE_EVERY = 0.5
STORY_EVERY = 10.0


def story(n: int) -> FeedItem:
    """The n-th Ukraine story: an event of its own (no words shared but the country's)."""
    return FeedItem(
        title=f"Ukraine {made_up(n, 'qu')} {made_up(n, 'vo')} {made_up(n, 'ki')} (report {n})",
        link=f"https://news.example.org/ukraine/{n}",
        summary=" ".join(made_up(n, prefix) for prefix in ("lu", "mo", "ne", "ry")),
    )


class Serving:
    """The child process: the fake Bot API and the feed, driven by lines on stdin."""

    def __init__(self, telegram: FakeBotApi, feeds: FeedServer) -> None:
        self.telegram = telegram
        self.feeds = feeds
        self.stories = 0
        feeds.set_feed("/ukraine.xml", rss_feed([], title="Ukraine Wire"))

    async def push_delay(self) -> float:
        """Add a story to the feed; seconds until Bob has its push."""
        n = self.stories
        self.stories += 1
        mark = self.telegram.mark()
        changed = time.monotonic()
        items = [story(k) for k in range(max(0, n - 20), n + 1)]
        self.feeds.set_feed("/ukraine.xml", rss_feed(items, title="Ukraine Wire"))
        call = await self.telegram.wait_for_call(
            sent_to(BOB, f"(report {n})"), after=mark, timeout=120
        )
        return call.at - changed

    async def reply_latency(self, chat: int) -> float:
        mark = self.telegram.mark()
        asked = time.monotonic()
        self.telegram.inject_message(chat, "/start")
        call = await self.telegram.wait_for_call(sent_to(chat, "news bot"), after=mark, timeout=120)
        return call.at - asked

    async def flood(self, users: int, groups: int, seconds: float) -> dict[str, object]:
        telegram = self.telegram
        started = time.monotonic()
        stop = started + seconds
        commands = 0

        async def members() -> None:
            nonlocal commands
            tick = 0
            while time.monotonic() < stop:
                for member in range(users):
                    group = FIRST_GROUP - member % groups
                    text = "/latest ukraine" if (member + tick) % 2 else "/help"
                    telegram.inject_message(
                        group, text, chat_type="supergroup", user_id=FIRST_MEMBER + member
                    )
                    commands += 1
                    if member % 50 == 49:  # spread each round over its two seconds
                        await asyncio.sleep(COMMAND_EVERY * 50 / users)
                tick += 1

        async def sampler() -> list[float]:
            latencies: list[asyncio.Task[float]] = []
            chat = FIRST_UNRELATED
            while time.monotonic() < stop:
                latencies.append(asyncio.create_task(self.reply_latency(chat)))
                chat += 1
                await asyncio.sleep(SAMPLE_EVERY)
            return list(await asyncio.gather(*latencies))

        async def pushes() -> list[float]:
            delays = []
            await asyncio.sleep(STORY_EVERY / 2)
            while time.monotonic() < stop:
                delays.append(await self.push_delay())
                await asyncio.sleep(max(0.0, STORY_EVERY - delays[-1]))
            return delays

        _, latencies, delays = await asyncio.gather(members(), sampler(), pushes())
        group_ids = [FIRST_GROUP - g for g in range(groups)]
        return {
            "commands": commands,
            "latencies": latencies,
            "push_delays": delays,
            "group_peak": max(telegram.peak_sends(60.0, chat_id=g) for g in group_ids),
            "too_many": telegram.too_many_requests,
        }


async def serve() -> None:
    """Child process: announce the fake's and the feed's addresses, then answer lines."""
    async with FakeBotApi(validate_html=False) as telegram, FeedServer() as feeds:
        telegram.enforce_limits(global_per_second=30, private_per_second=1)
        serving = Serving(telegram, feeds)
        hello = {
            "base_url": telegram.base_url,
            "token": telegram.token,
            "feed": feeds.url("/ukraine.xml"),
        }
        print(json.dumps(hello), flush=True)
        loop = asyncio.get_running_loop()
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            command, *arguments = line.split()
            answer: dict[str, object]
            if command == "wait-ready":
                await telegram.wait_for_call(lambda call: call.method == "getUpdates", timeout=120)
                mark = telegram.mark()
                telegram.inject_message(BOB, "/subscribe ukraine")
                await telegram.wait_for_message(BOB, contains="Subscribed", after=mark)
                answer = {"ready": True}
            elif command == "quiet-push":
                answer = {"delays": [await serving.push_delay() for _ in range(3)]}
            elif command == "flood":
                users, groups, seconds = int(arguments[0]), int(arguments[1]), float(arguments[2])
                answer = await serving.flood(users, groups, seconds)
            else:
                answer = {"error": f"unknown command {command}"}
            print(json.dumps(answer), flush=True)


async def refused_updates(port: int) -> int:
    """The bot's count of updates refused on arrival, from its /metrics."""
    _, body = await http_get(port, "/metrics")
    return int(
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in body.splitlines()
            if line.startswith("newsbot_updates_refused_total{")
        )
    )


async def run(users: int, groups: int, seconds: float) -> None:
    fake, hello = await start_server(__file__)
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        sources = Path(folder) / "sources.txt"
        sources.write_text(hello["feed"] + "\n")
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("NEWSBOT_", "TELEGRAM_"))},
            "TELEGRAM_BOT_TOKEN": hello["token"],
            "TELEGRAM_API_URL": hello["base_url"],
            "DATABASE_URL": f"sqlite:///{Path(folder) / 'flood.db'}",
            "NEWSBOT_SOURCES": str(sources),
            "NEWSBOT_ALLOW_PRIVATE_SOURCES": "1",
            "NEWSBOT_POLL_INTERVAL": "1",
            "NEWSBOT_POLL_CEILING": "1",
            "NEWSBOT_HTTP_PORT": str(port),
            "PTB_TIMEDELTA": "true",
        }
        bot = await start_newsbot_run(env, folder)
        try:
            await ask_fake(fake, "wait-ready")
            quiet = await ask_fake(fake, "quiet-push")
            stats = await ask_fake(fake, f"flood {users} {groups} {seconds:g}")
            refused = await refused_updates(port)
            rss = process_peak_mb(bot.pid)
        finally:
            bot.terminate()
            await bot.wait()
            assert fake.stdin is not None
            fake.stdin.close()
            await fake.wait()

    latencies = [float(x) for x in stats["latencies"]]  # type: ignore[attr-defined]
    delays = [float(x) for x in stats["push_delays"]]  # type: ignore[attr-defined]
    quiet_delays = [float(x) for x in quiet["delays"]]  # type: ignore[attr-defined]
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    p50, p99 = cuts[49], cuts[98]
    print(
        f"whole process (`newsbot run`, default settings but a 1 s poll): {users:,} members of "
        f"{groups} groups, a command each every {COMMAND_EVERY:g} s for {seconds:g} s "
        f"({stats['commands']:,} commands); Telegram's limits enforced"
    )
    figure(
        f"unrelated user's reply: p50 {p50:.2f} s, p99 {p99:.2f} s, max {max(latencies):.2f} s"
        f" over {len(latencies)} users",
        "target p99 ≤ 3 s",
        p99 <= 3.0,
    )
    figure(
        f"push delay during the flood: median {statistics.median(delays):.2f} s, max "
        f"{max(delays):.2f} s over {len(delays)} stories (quiet: median "
        f"{statistics.median(quiet_delays):.2f} s)",
        "target ≤ 5 s",
        max(delays) <= 5.0,
    )
    peak = int(str(stats["group_peak"]))
    figure(f"most messages to one group in a minute: {peak}", "target ≤ 20", peak <= 20)
    too_many = int(str(stats["too_many"]))
    figure(f"429s: {too_many}", "target 0", too_many == 0)
    print(f"  updates refused on arrival: {refused:,}; peak RSS of the bot {rss:.0f} MB")


def main() -> None:
    parser = parser_for(__doc__)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve())
        return
    asyncio.run(run(args.users, args.groups, args.seconds))


if __name__ == "__main__":
    main()
