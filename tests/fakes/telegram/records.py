"""What the fake Bot API received and what got through: recorded calls and the queries on them.

Every call is recorded as a `RecordedCall`, failed or not. Tests look at them (`calls_to`,
`delivered`, `texts`, `duplicates`, `send_rate_timeline`, `peak_sends`) or wait for one
(`wait_for_call`, `wait_for_message`), woken by the fake's change signal on every recorded call;
a waiter looks at each call once, not at all of them on every wake-up. The successful sends are
indexed as they are recorded, so reading them stays cheap for benchmarks.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from ..loopback import Changes
from .protocol import JSONDict, chat_key, is_chat


@dataclass
class RecordedCall:
    """One Bot API call the fake received (recorded whether it succeeded or failed).

    `params` are the decoded parameters; `at` is the fake's clock (`time.monotonic()` unless
    another was injected) on arrival. `result` is what the fake answered (`None` while a
    `getUpdates` long poll is still waiting), or for a failed call `error_code` and
    `description`; a call whose connection was dropped (`drop_connections`) has `dropped`
    set and no `error_code`.
    """

    method: str
    params: dict[str, Any]
    at: float
    failed: bool = False
    error_code: int | None = None
    description: str | None = None
    result: Any = None
    dropped: bool = False

    def still_polling(self) -> bool:
        """A `getUpdates` long poll that has not answered yet."""
        return self.method == "getUpdates" and self.result is None and not self.failed


class CallRecords:
    """The calls the fake received, indexes of the successful sends, and waiting for calls.

    `on_delivered` is called for each successful send right before it is answered (e.g. to
    lock the database between a send and its recording).
    """

    def __init__(self, changes: Changes) -> None:
        self.calls: list[RecordedCall] = []
        self.on_delivered: Callable[[JSONDict], None] | None = None
        self._changes = changes
        self._delivered: list[JSONDict] = []
        self._delivered_by_chat: dict[int, list[JSONDict]] = {}
        self._send_times: list[float] = []
        self._send_times_by_chat: dict[int, list[float]] = {}

    def _record(self, call: RecordedCall) -> None:
        self.calls.append(call)
        self._changes.notify()

    def _record_send(self, method: str, params: JSONDict, chat: int | None, at: float) -> None:
        """Index a successful send for `delivered` and the timeline."""
        self._send_times.append(at)
        if chat is not None:
            self._send_times_by_chat.setdefault(chat, []).append(at)
            if method == "sendMessage":
                self._delivered.append(params)
                self._delivered_by_chat.setdefault(chat, []).append(params)
        if self.on_delivered is not None:
            self.on_delivered(params)

    # ------------------------------------------------------------------ queries

    def mark(self) -> int:
        """The number of calls recorded so far, for `after=` in the wait helpers."""
        return len(self.calls)

    def calls_to(self, method: str, *, include_failed: bool = False) -> list[RecordedCall]:
        """Recorded calls of one method (case-insensitive), successful ones unless asked."""
        wanted = method.lower()
        return [
            call
            for call in self.calls
            if call.method.lower() == wanted and (include_failed or not call.failed)
        ]

    def delivered(self, chat_id: int | str | None = None) -> list[JSONDict]:
        """Parameters of the successful `sendMessage` calls in arrival order, optionally for
        one chat (`5` and `"5"` are the same chat). A copy of an index: O(result)."""
        if chat_id is None:
            return list(self._delivered)
        return list(self._delivered_by_chat.get(chat_key(chat_id), ()))

    def texts(self, chat_id: int | str | None = None) -> list[str]:
        """The `text` parameters (as sent, e.g. still HTML) of the successful `sendMessage`s."""
        return [str(params.get("text", "")) for params in self.delivered(chat_id)]

    def duplicates(self, key: Callable[[JSONDict], Hashable]) -> int:
        """How many successful `sendMessage`s repeat an earlier one, compared by `key`.

        E.g. `duplicates(lambda p: (p["chat_id"], p["text"]))`: a text delivered three times
        to a chat counts 2.
        """
        counts = Counter(key(params) for params in self._delivered)
        return sum(count - 1 for count in counts.values())

    def send_rate_timeline(self, chat_id: int | str | None = None) -> list[float]:
        """Arrival times (the fake's clock) of the successful sends, in order.

        Sends are the calls of `RATE_LIMITED_METHODS` (messages, documents and edits), as the
        flood limits count them; optionally only those to one chat.
        """
        if chat_id is None:
            return list(self._send_times)
        return list(self._send_times_by_chat.get(chat_key(chat_id), ()))

    def peak_sends(self, window: float = 1.0, chat_id: int | str | None = None) -> int:
        """The most successful sends (see `send_rate_timeline`) within any `window` seconds.

        A send `window` seconds after another is in a new window, as for the limits: the
        strict limits never let this exceed 30 for 1.0 s, or 1 for 1.0 s and one private chat.
        """
        if window <= 0:
            raise ValueError("window must be positive")
        times = self._send_times if chat_id is None else self.send_rate_timeline(chat_id)
        peak = start = 0
        for end, at in enumerate(times):
            while at - times[start] >= window:
                start += 1
            peak = max(peak, end - start + 1)
        return peak

    def describe_calls(self, after: int = 0) -> str:
        """A short, human-readable list of the calls from index `after` on."""
        parts: list[str] = []
        previous: str | None = None
        repeat = 0
        for call in self.calls[after:]:
            if call.dropped:
                label = f"{call.method} [dropped]"
            else:
                label = call.method + (f" [failed {call.error_code}]" if call.failed else "")
            if "chat_id" in call.params:
                label += f"(chat_id={call.params['chat_id']!r}"
                if "text" in call.params:
                    text = str(call.params["text"])
                    label += f", text={text[:60] + '…' if len(text) > 60 else text!r}"
                label += ")"
            if label == previous:
                repeat += 1
                parts[-1] = f"{label} ×{repeat}"
                continue
            previous, repeat = label, 1
            parts.append(label)
        return ", ".join(parts) if parts else "(none)"

    # ------------------------------------------------------------------ waiting

    async def wait_for_call(
        self,
        predicate: Callable[[RecordedCall], bool],
        *,
        timeout: float = 10.0,  # noqa: ASYNC109 - a deadline for waiting on the fake
        after: int = 0,
    ) -> RecordedCall:
        """The first call with index >= `after` that matches, waiting up to `timeout` seconds.

        Each call is tested once, when it has been recorded, except a `getUpdates` long poll
        still waiting (its `result` is set later): it is tested again on every change until
        it has answered. So waiting costs O(new calls) per wake-up, not O(all calls).
        """
        position = after  # the calls before this index were tested (or are in `waiting`)
        waiting: list[int] = []  # indexes of long polls that had not answered when tested

        def find() -> RecordedCall | None:
            nonlocal position
            calls = self.calls
            if position > len(calls):  # `calls` was cleared or replaced: start again
                position = after
                waiting.clear()
            for index in list(waiting):
                call = calls[index]
                if predicate(call):
                    return call
                if not call.still_polling():
                    waiting.remove(index)
            for index in range(position, len(calls)):
                call = calls[index]
                position = index + 1
                if predicate(call):
                    return call
                if call.still_polling():
                    waiting.append(index)
            return None

        try:
            async with asyncio.timeout(timeout):
                while (found := find()) is None:
                    await self._changes.wait()
        except TimeoutError:
            raise AssertionError(
                f"no matching Bot API call within {timeout}s (looking at calls from "
                f"#{after}); recorded: {self.describe_calls(after)}"
            ) from None
        return found

    async def wait_for_message(
        self,
        chat_id: int | str,
        *,
        contains: str | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109 - a deadline for waiting on the fake
        after: int = 0,
    ) -> JSONDict:
        """The parameters of the first successful `sendMessage` to the chat (index >= after)."""
        chat = chat_key(chat_id)

        def matches(call: RecordedCall) -> bool:
            return (
                call.method == "sendMessage"
                and not call.failed
                and is_chat(call.params.get("chat_id"), chat)
                and (contains is None or contains in str(call.params.get("text", "")))
            )

        call = await self.wait_for_call(matches, timeout=timeout, after=after)
        return call.params
