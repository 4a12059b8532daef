"""`/healthz` and `/metrics` over HTTP (`NEWSBOT_HTTP_PORT`), on the process's own event loop.

    GET /healthz   200 when the database answers and each of the role's loops ticked recently,
                   503 otherwise; the JSON body says which check failed:
                   {"status": "failing", "role": "send",
                    "checks": {"database": "ok", "send": "no tick finished for 412 s"}}
    GET /metrics   Prometheus' text format (`bot.metrics`)

aiohttp's server (already the bot's HTTP client) answers beside the jobs without blocking them;
the database is asked with a deadline, so a hung connection makes a 503, not a hung probe. The
server is `bot.http_server`'s: a request's headers must arrive within 10 s and at most 256
connections are open at once (idle ones make room for new ones), so half-sent requests cannot
pile up nor keep a probe out. In webhook mode on the same address and port, the webhook's route
is served here too (`routes`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bot.http_server import HardenedServer, ServerLimits
from bot.metrics import Metrics
from news.ports import Operations

logger = logging.getLogger(__name__)

#: How long /healthz and /metrics wait for the database.
DATABASE_DEADLINE = 5.0
OK = "ok"


def _problem(error: BaseException) -> str:
    text = (str(error).splitlines() or [""])[0][:200]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


@dataclass(eq=False, kw_only=True)
class HealthServer:
    """Serves /healthz and /metrics for one process.

    `loop_checks` names each of the role's checks besides the database with "ok" or what is
    wrong; `outbox` and `sources` say which of the database's gauges this role exports.
    """

    role: str
    listen: str
    port: int
    storage: Operations
    metrics: Metrics
    loop_checks: Callable[[], Mapping[str, str]]
    clock: Callable[[], datetime]
    outbox: bool
    sources: bool
    # More routes on the same server (the webhook's, when it shares the port).
    routes: Callable[[web.Application], None] | None = None
    limits: ServerLimits = field(default_factory=ServerLimits)
    _server: HardenedServer | None = field(default=None, init=False, repr=False)

    @property
    def bound_port(self) -> int:
        """The port it listens on (the one the system chose when `port` is 0)."""
        return self.port if self._server is None else self._server.port

    async def start(self) -> None:
        server = HardenedServer(self.listen, self.port, self.limits)
        server.app.router.add_get("/healthz", self._healthz)
        server.app.router.add_get("/metrics", self._metrics)
        if self.routes is not None:
            self.routes(server.app)
        await server.start()
        self._server = server
        logger.info(
            "health and metrics on http://%s:%d/healthz and /metrics", self.listen, self.port
        )

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None

    async def checks(self) -> dict[str, str]:
        """Every check with "ok" or what is wrong; the database first."""
        try:
            await asyncio.wait_for(self.storage.ping(), DATABASE_DEADLINE)
            database = OK
        except Exception as error:  # any failure to answer is the answer
            database = _problem(error)
        return {"database": database, **self.loop_checks()}

    async def _healthz(self, request: web.Request) -> web.Response:
        checks = await self.checks()
        healthy = all(value == OK for value in checks.values())
        body = {"status": "ok" if healthy else "failing", "role": self.role, "checks": checks}
        return web.Response(
            status=200 if healthy else 503,
            text=json.dumps(body),
            content_type="application/json",
        )

    async def _metrics(self, request: web.Request) -> web.Response:
        if self.outbox or self.sources:
            try:
                status = await asyncio.wait_for(
                    self.storage.operations_status(self.clock(), failing_listed=0),
                    DATABASE_DEADLINE,
                )
            except Exception as error:  # the counters are still worth serving
                logger.warning("metrics: the database did not answer (%s)", _problem(error))
            else:
                self.metrics.refresh(status, outbox=self.outbox, sources=self.sources)
        return web.Response(
            body=self.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )
