"""The fake Bot API's HTTP side: `FakeBotApi`, its routing and the life of one call.

`FakeBotApi` is an aiohttp server on 127.0.0.1 (a random free port) in the test's own event
loop. Point PTB at it with `Application.builder().token(fake.token).base_url(fake.base_url)` or
`telegram.Bot(fake.token, base_url=fake.base_url)`; PTB then POSTs to
`{base_url}{token}/{method}` exactly as it would to api.telegram.org. Method names are
case-insensitive; parameters come as form fields or multipart (see `protocol.decode_param`); a
wrong token gets `401 Unauthorized`.

A call is recorded on arrival, then answered: a redirect or a failure made on demand (`faults`),
or the method's result (`methods`, `updates`). Timestamps (`RecordedCall.at`, the flood limits,
`send_rate_timeline`) come from the `clock` given to the constructor, `time.monotonic` by
default; tests inject one they move by hand. For benchmarks the request path is kept cheap: O(1)
bookkeeping per call and, with `validate_html=False`, no HTML parsing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web

from ..loopback import Changes, LoopbackServer
from .chats import ChatDirectory
from .faults import DROPPED_DESCRIPTION, DropConnection, Faults
from .forums import ForumMethods
from .members import ChatMembers
from .methods import RATE_LIMITED_METHODS, BotMethods, MethodHandler
from .protocol import ApiError, JSONDict, bad_request, chat_of, decode_param
from .records import CallRecords, RecordedCall
from .updates import UpdateQueue


class FakeBotApi(
    LoopbackServer, CallRecords, UpdateQueue, Faults, BotMethods, ChatMembers, ForumMethods
):
    """A fake Telegram Bot API server on 127.0.0.1 for the real python-telegram-bot client.

    `clock` gives the time of every call (for `RecordedCall.at`, the flood limits and the
    send timeline); `validate_html=False` skips Telegram's HTML parsing (HTML texts are then
    stored as sent, without entities) to make the request path cheaper for benchmarks.
    """

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        username: str = "newsbot_test_bot",
        *,
        clock: Callable[[], float] = time.monotonic,
        validate_html: bool = True,
    ) -> None:
        bot_id = token.split(":", 1)[0]
        if not bot_id.isdigit():
            raise ValueError(f"a bot token starts with the bot's numeric id: {token!r}")
        LoopbackServer.__init__(self, "/bot{token}/{method}")
        self._token = token
        self._clock = clock
        self._changes = Changes()
        self._chats = ChatDirectory(
            {
                "id": int(bot_id),
                "is_bot": True,
                "first_name": "Newsbot Test",
                "username": username,
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": True,
                "can_connect_to_business": False,
                "has_main_web_app": False,
            }
        )
        CallRecords.__init__(self, self._changes)
        UpdateQueue.__init__(self)
        Faults.__init__(self)
        BotMethods.__init__(self, validate_html=validate_html)
        handlers = {
            **self._method_handlers(),
            **self._member_handlers(),
            **self._forum_handlers(),
        }
        handlers["answerCallbackQuery"] = self._answer_callback_query
        handlers["answerInlineQuery"] = self._answer_inline_query
        handlers["setWebhook"] = self._set_webhook
        handlers["deleteWebhook"] = self._delete_webhook
        self._handlers: dict[str, MethodHandler] = {
            name.lower(): handler for name, handler in handlers.items()
        }
        # Canonical spelling of the methods (lower-case -> camelCase), for the records.
        self._method_names = {name.lower(): name for name in [*handlers, "getUpdates"]}

    @property
    def base_url(self) -> str:
        """PTB's `base_url`: `http://127.0.0.1:PORT/bot` (PTB appends the token)."""
        return f"{self.origin}/bot"

    @property
    def token(self) -> str:
        return self._token

    @property
    def bot_user(self) -> JSONDict:
        """The `User` object `getMe` answers (a copy)."""
        return dict(self._chats.bot_user)

    def _release_waiters(self) -> None:
        self._changes.notify()  # waiting long polls see `stopping` and answer

    # ------------------------------------------------------------------ one call

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self._token:
            return web.json_response(ApiError(401, "Unauthorized").body(), status=401)
        raw_method = request.match_info["method"]
        method = self._method_names.get(raw_method.lower(), raw_method)
        try:
            params = await self._read_params(request)
        except ValueError as exc:
            return self._error_response(bad_request(f"can't parse parameters: {exc}"))

        call = RecordedCall(method=method, params=params, at=self._clock())
        if self._redirect is not None:
            status, url = self._redirect
            call.failed, call.error_code = True, status
            self._record(call)
            return web.Response(status=status, headers={"Location": url})
        chat = chat_of(params)
        sending = method in RATE_LIMITED_METHODS
        recorded = False
        response: web.StreamResponse
        try:
            self._check_faults(method, params, chat, sending=sending, at=call.at)
            if method == "getUpdates":
                self._record(call)  # recorded on arrival; `result` is set on return
                recorded = True
                call.result = await self._get_updates(params)
            else:
                handler = self._handlers.get(method.lower())
                if handler is None:
                    raise ApiError(404, "Not Found")
                call.result = handler(params)
                if sending:
                    self._count_towards_outage()
                    self._record_send(method, params, chat, call.at)
        except ApiError as error:
            call.failed, call.error_code = True, error.error_code
            call.description = error.description
            response = self._error_response(error)
        except DropConnection:
            call.failed = call.dropped = True
            call.description = DROPPED_DESCRIPTION
            response = self._drop(request)
        else:
            response = web.json_response({"ok": True, "result": call.result})
        if recorded:
            self._changes.notify()  # the long poll recorded on arrival has answered
        else:
            self._record(call)
        return response

    @staticmethod
    def _error_response(error: ApiError) -> web.Response:
        return web.json_response(error.body(), status=error.error_code)

    @staticmethod
    def _drop(request: web.Request) -> web.Response:
        """Close the connection unanswered (the response returned is never written)."""
        transport = request.transport
        if transport is not None:
            transport.close()
        return web.Response(status=499)

    @staticmethod
    async def _read_params(request: web.Request) -> JSONDict:
        """The parameters of a form or multipart body, an upload as a dict of its parts."""
        params: JSONDict = {}
        if not request.can_read_body:
            return params
        for key, value in (await request.post()).items():
            if isinstance(value, str):
                params[key] = decode_param(key, value)
            elif isinstance(value, bytes | bytearray):
                params[key] = bytes(value)
            else:  # an uploaded file
                params[key] = {
                    "filename": value.filename,
                    "content_type": value.content_type,
                    "data": value.file.read(),
                }
        return params
