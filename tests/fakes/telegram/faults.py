"""Failures the fake Bot API makes on demand, the way Telegram (or the way to it) fails.

* `fail_next`: the next calls of a method (optionally to one chat) answer a Telegram error,
  e.g. 403 or 400; `fail_with_retry_after` answers Telegram's 429 with `retry_after` (PTB raises
  `RetryAfter`);
* `refuse_preview`: the next messages sent or edited with a link preview (optionally to one
  chat) answer 400 as when Telegram cannot fetch the previewed page ("WEBPAGE_CURL_FAILED");
  the same message without a preview goes through;
* `block_chat`: every call to the chat answers 403, as when a user blocked the bot;
* `migrate_chat`: a group became a supergroup: every call to the old id answers 400 with
  `migrate_to_chat_id` (PTB raises `ChatMigrated`);
* `drop_connections`: the server reads the request, then closes the connection unanswered
  (PTB raises `NetworkError`);
* `start_outage` / `end_outage`: every call (long polls included) answers a 5xx, or has its
  connection dropped, until released; `after_sends=N` lets N more sends through first, so an
  outage can begin in the middle of a fan-out;
* `redirect_to`: every call answers a redirect (which a client must not follow: the token is
  in the path);
* `enforce_limits`: Telegram's flood limits on the sending methods, as strict sliding windows
  over the fake's clock (see `limits`): a send over a limit answers `429 Too Many Requests:
  retry after N` (`too_many_requests` counts them).

The order of checks for a call: a redirect, the outage, the `fail_next`/`drop_connections`
rules (in the order they were added), migrated and blocked chats, the flood limits, then the
method itself (which may still answer 400, e.g. for invalid HTML). Only sends the limits let
through count towards them, including those that then fail with 400.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import NoReturn

from .chats import ChatDirectory
from .limits import RateLimiter, RateLimits, retry_after_seconds
from .protocol import ApiError, JSONDict, chat_key, is_chat

DROPPED_DESCRIPTION = "connection closed without a response (drop_connections)"
PREVIEW_REFUSED = "Bad Request: WEBPAGE_CURL_FAILED"
# The methods whose messages carry a link preview.
_PREVIEW_METHODS = frozenset({"sendmessage", "editmessagetext"})


def asks_for_preview(params: JSONDict) -> bool:
    """Whether a call's message shows a link preview: on unless `is_disabled` says otherwise."""
    options = params.get("link_preview_options")
    return not (isinstance(options, dict) and options.get("is_disabled"))


class DropConnection(Exception):
    """Close the connection without answering."""


@dataclass
class _Fault:
    """One way to fail a call: an error answer, or (`drop`) no answer at all."""

    error_code: int
    description: str
    parameters: JSONDict | None = None
    drop: bool = False

    def fail(self) -> NoReturn:
        if self.drop:
            raise DropConnection
        raise ApiError(self.error_code, self.description, self.parameters)


_DROP = _Fault(0, DROPPED_DESCRIPTION, drop=True)


def _too_many_requests(retry_after: int) -> tuple[int, str, JSONDict]:
    """Telegram's answer to a flood: error code, description and parameters."""
    return 429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}


@dataclass
class _Rule:
    """Fail the next `times` calls of `method` (lower-case), optionally only to one chat."""

    method: str
    chat_id: int | None
    times: int
    fault: _Fault
    # Only calls whose message asks for a link preview (`method` is then ignored).
    previews: bool = False


class Faults:
    """The failures made on demand, checked by `_check_faults` before a method runs."""

    _chats: ChatDirectory

    def __init__(self) -> None:
        self.too_many_requests = 0
        """How many calls the flood limits (`enforce_limits`) answered with 429."""
        self._rules: list[_Rule] = []
        self._blocked: set[int] = set()
        self._migrated: dict[int, int] = {}
        self._limiter: RateLimiter | None = None
        self._outage: _Fault | None = None
        self._outage_after_sends = 0
        self._redirect: tuple[int, str] | None = None

    def fail_next(
        self,
        method: str,
        *,
        error_code: int,
        description: str,
        chat_id: int | str | None = None,
        times: int = 1,
    ) -> None:
        """Make the next `times` calls of `method` (optionally to one chat) fail like Telegram.

        The answer is `{"ok": false, "error_code", "description"}` with HTTP status
        `error_code`, e.g. 403 "Forbidden: bot was blocked by the user".
        """
        self._add_rule(method, chat_id, times, _Fault(error_code, description))

    def fail_with_retry_after(
        self, method: str, retry_after: int, *, chat_id: int | str | None = None, times: int = 1
    ) -> None:
        """Make the next `times` calls of `method` (optionally to one chat) answer Telegram's
        `429 Too Many Requests: retry after N` with `{"retry_after": N}`."""
        self._add_rule(method, chat_id, times, _Fault(*_too_many_requests(retry_after)))

    def drop_connections(
        self, method: str, *, times: int = 1, chat_id: int | str | None = None
    ) -> None:
        """Make the next `times` calls of `method` (optionally to one chat) get no answer: the
        server reads the request, then closes the connection. PTB raises
        `telegram.error.NetworkError` ("Server disconnected without sending a response").
        The call is recorded with `failed` and `dropped` set; it sent nothing.
        """
        self._add_rule(method, chat_id, times, _DROP)

    def refuse_preview(
        self,
        *,
        chat_id: int | str | None = None,
        times: int = 1,
        description: str = PREVIEW_REFUSED,
    ) -> None:
        """Make the next `times` `sendMessage`/`editMessageText` calls (optionally to one chat)
        whose message shows a link preview answer `400` with `description`, as Telegram does
        when it cannot fetch the page or picture to preview. Calls with `link_preview_options`
        `{"is_disabled": true}` are not counted and go through."""
        self._add_rule("", chat_id, times, _Fault(400, description), previews=True)

    def _add_rule(
        self,
        method: str,
        chat_id: int | str | None,
        times: int,
        fault: _Fault,
        *,
        previews: bool = False,
    ) -> None:
        if times < 1:
            raise ValueError("times must be at least 1")
        chat = None if chat_id is None else chat_key(chat_id)
        self._rules.append(_Rule(method.lower(), chat, times, fault, previews))

    def block_chat(self, chat_id: int | str) -> None:
        """From now on, sending to this chat fails with 403 as when a user blocked the bot."""
        self._blocked.add(chat_key(chat_id))

    def unblock_chat(self, chat_id: int | str) -> None:
        self._blocked.discard(chat_key(chat_id))

    def migrate_chat(self, old_chat_id: int, new_chat_id: int) -> None:
        """The group `old_chat_id` became the supergroup `new_chat_id`, as Telegram does it.

        From now on every call naming the old id as `chat_id` answers `400 Bad Request: group
        chat was upgraded to a supergroup chat` with `{"migrate_to_chat_id": new_chat_id}`;
        the new id is a supergroup that works.
        """
        if old_chat_id >= 0 or new_chat_id >= 0:
            raise ValueError("a group migrates to a supergroup: both chat ids are negative")
        title = self._chats.chat(old_chat_id).get("title", "Test Supergroup")
        self._chats.chats[new_chat_id] = {"id": new_chat_id, "type": "supergroup", "title": title}
        self._migrated[old_chat_id] = new_chat_id

    def start_outage(self, *, status: int = 502, drop: bool = False, after_sends: int = 0) -> None:
        """Answer every call with `status` (a 5xx, e.g. `502 Bad Gateway`: PTB raises
        `NetworkError`), or drop its connection, until `end_outage`; with `after_sends`, only
        once that many more sends have succeeded."""
        if drop:
            self._outage = _DROP
        elif 500 <= status <= 599:
            self._outage = _Fault(status, HTTPStatus(status).phrase)
        else:
            raise ValueError(f"a server error has a 5xx status, not {status}")
        self._outage_after_sends = after_sends

    def end_outage(self) -> None:
        """The Bot API answers again."""
        self._outage = None
        self._outage_after_sends = 0

    def redirect_to(self, url: str | None, *, status: int = 307) -> None:
        """Answer every call with a redirect (`status`, `Location: url`); None stops it."""
        if not 300 <= status <= 399:
            raise ValueError(f"a redirect has a 3xx status, not {status}")
        self._redirect = None if url is None else (status, url)

    def enforce_limits(
        self,
        *,
        global_per_second: float = 30,
        private_per_second: float = 1,
        group_per_minute: float = 20,
    ) -> None:
        """Apply Telegram's flood limits to the sending methods (`RATE_LIMITED_METHODS`).

        A send that would make more than `global_per_second` sends in the last 1.0 s, more
        than `private_per_second` to one private chat (positive id) in the last 1.0 s, or more
        than `group_per_minute` to one group or supergroup in the last 60 s answers HTTP 429
        `{"ok": false, "error_code": 429, "description": "Too Many Requests: retry after N",
        "parameters": {"retry_after": N}}` with N the whole seconds (rounded up, at least 1)
        until it would be let through; PTB raises `telegram.error.RetryAfter`. Strict, without
        Telegram's tolerance for short bursts: see `limits` (also for rates that are not whole
        numbers). Calling it again starts with empty windows.
        """
        self._limiter = RateLimiter(
            RateLimits(global_per_second, private_per_second, group_per_minute)
        )

    # ------------------------------------------------------------------ checks

    def _check_faults(
        self, method: str, params: JSONDict, chat: int | None, *, sending: bool, at: float
    ) -> None:
        """Raise `ApiError` or `DropConnection` for a failure made on demand."""
        if self._outage is not None and self._outage_after_sends == 0:
            self._outage.fail()
        wanted = method.lower()
        for rule in self._rules:
            if rule.previews:
                if wanted not in _PREVIEW_METHODS or not asks_for_preview(params):
                    continue
            elif rule.method != wanted:
                continue
            if rule.chat_id is not None and not is_chat(params.get("chat_id"), rule.chat_id):
                continue
            rule.times -= 1
            if rule.times == 0:
                self._rules.remove(rule)
            rule.fault.fail()
        if chat is not None and chat in self._migrated:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": self._migrated[chat]},
            )
        if chat is not None and chat in self._blocked:
            raise ApiError(403, self._forbidden_description(chat))
        if sending and self._limiter is not None:
            wait = self._limiter.admit(chat, at)
            if wait > 0:
                self.too_many_requests += 1
                raise ApiError(*_too_many_requests(retry_after_seconds(wait)))

    def _count_towards_outage(self) -> None:
        """A send went through: one fewer before an outage `after_sends` begins."""
        if self._outage_after_sends > 0:
            self._outage_after_sends -= 1

    def _forbidden_description(self, chat_id: int) -> str:
        chat_type = self._chats.chat(chat_id)["type"]
        if chat_type == "private":
            return "Forbidden: bot was blocked by the user"
        if chat_type == "group":
            return "Forbidden: bot was kicked from the group chat"
        return "Forbidden: bot was kicked from the supergroup chat"
