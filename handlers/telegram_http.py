"""The HTTP transport to the Bot API: python-telegram-bot's `BaseRequest` on aiohttp.

python-telegram-bot sends its requests through a `BaseRequest`; its default one uses httpx.
Against a local Bot API server an aiohttp client made several times as many requests per second
as httpx did: under a fan-out to thousands of chats the HTTP client, not the server, was the
limit (`bench/bench_delivery.py`; figures in docs/benchmarks.md). This class
makes the same requests (form-encoded parameters, multipart for files) through one aiohttp
session with a bounded connection pool; python-telegram-bot still builds the requests and reads
the answers, so every error keeps its meaning (timeouts → `TimedOut`, connection errors →
`NetworkError`).

aiohttp does not log request URLs, which carry the bot token; `bot.logs` masks the token anyway.
Redirects are never followed: the Bot API does not redirect, and following one would hand the
token (it is in the path) to wherever the redirect points. A redirect is an error, like any
answer that is not the Bot API's.
"""

from __future__ import annotations

import asyncio

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData


class AiohttpRequest(BaseRequest):
    """A `BaseRequest` over one aiohttp session: `connection_pool_size` connections at most."""

    def __init__(
        self,
        connection_pool_size: int = 16,
        *,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        read = self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        connect = (
            self._connect_timeout if isinstance(connect_timeout, DefaultValue) else connect_timeout
        )
        pool = self._pool_timeout if isinstance(pool_timeout, DefaultValue) else pool_timeout
        # aiohttp's `connect` covers waiting for a pooled connection *and* opening a new one;
        # `sock_connect` the opening alone. It has no write timeout; the read one bounds uploads.
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=None if pool is None or connect is None else pool + connect,
            sock_connect=connect,
            sock_read=read,
        )
        body: aiohttp.FormData | dict[str, str] | None = None
        if request_data is not None:
            files = request_data.multipart_data
            if files:
                form = aiohttp.FormData()
                for name, value in request_data.json_parameters.items():
                    form.add_field(name, value)
                for name, part in files.items():
                    if isinstance(part, tuple):
                        filename, content, *mime = part
                        form.add_field(
                            name,
                            content,
                            filename=filename,
                            content_type=mime[0] if mime else None,
                        )
                    else:
                        form.add_field(name, part)
                body = form
            else:
                body = request_data.json_parameters
        try:
            async with self._session.request(
                method, url, data=body, timeout=timeout, allow_redirects=False
            ) as answer:
                return answer.status, await answer.read()
        except TimeoutError as error:
            raise TimedOut from error
        except aiohttp.ClientError as error:
            raise NetworkError(f"aiohttp.{type(error).__name__}: {error}") from error
        except asyncio.CancelledError:
            raise
