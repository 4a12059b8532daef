"""Prometheus metrics of one `newsbot run` process, every series labelled with its `role`.

Counters are counted here, in the composition root, from what the jobs return (`PollOutcome`s,
`SendReport`s) and from the gateway's count of 429s, so the domain knows nothing of Prometheus.
Gauges of the work in hand (the outbox, the oldest pending push, the poll lag, failing sources)
are read from the database at each scrape (`refresh`), only by the roles they concern.

    newsbot_feeds_fetched_total{role,status}   polls by outcome: ok, not-modified, unchanged, error
    newsbot_feeds_failed_total{role,kind}      failed polls by error kind (timeout, http-404, …)
    newsbot_stories_stored_total{role}         new stories stored
    newsbot_matches_total{role}                pushes queued (a chat owed a story)
    newsbot_messages_sent_total{role,kind}     push (outbox rows sent), digest, edit
    newsbot_deliveries_failed_total{role}      outbox rows given up
    newsbot_telegram_retry_after_total{role}   429 answers from the Bot API
    newsbot_updates_refused_total{role,kind,reason}  commands, buttons, inline queries refused
                                               on arrival: over a budget, or too many waiting
    newsbot_replies_expired_total{role}        replies dropped unsent after their minute
    newsbot_outbox_depth{role,state}           pending and sending rows
    newsbot_oldest_pending_push_seconds{role}  how long the oldest pending push has waited
    newsbot_poll_lag_seconds{role}             how late the most overdue source is
    newsbot_sources_failing{role}              enabled sources whose last poll failed
    newsbot_tick_duration_seconds{role,loop}   how long each tick of each loop took
    newsbot_info{role,version}                 1
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from handlers.sender import SendReport
from news.model import OperationsStatus, PollOutcome

# Ticks last from milliseconds (nothing due) to minutes (a first poll, a big fan-out).
TICK_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)

_Metric = TypeVar("_Metric", Counter, Gauge)


def _of_role(
    kind: type[_Metric], name: str, documentation: str, role: str, registry: CollectorRegistry
) -> _Metric:
    """A series labelled with the role alone: the one child this process counts or sets."""
    return kind(name, documentation, ["role"], registry=registry).labels(role)


class _Telegram(Collector):
    """What the gateway and the update processor count, read at scrape time: 429s, replies
    dropped at their deadline, updates refused on arrival by kind and reason."""

    def __init__(
        self,
        role: str,
        retry_afters: Callable[[], int],
        expired: Callable[[], int],
        refused: Callable[[], Mapping[tuple[str, str], int]],
    ) -> None:
        self._role = role
        self._retry_afters = retry_afters
        self._expired = expired
        self._refused = refused

    def collect(self) -> Iterable[Metric]:
        for name, documentation, read in (
            ("newsbot_telegram_retry_after", "429 Too Many Requests answers from the Bot API.",
             self._retry_afters),
            ("newsbot_replies_expired",
             "Replies dropped unsent because no slot came within their deadline.", self._expired),
        ):  # fmt: skip
            family = CounterMetricFamily(name, documentation, labels=["role"])
            family.add_metric([self._role], read())
            yield family
        refused = CounterMetricFamily(
            "newsbot_updates_refused",
            "Updates refused on arrival, by kind and reason (budget, waiting).",
            labels=["role", "kind", "reason"],
        )
        for (kind, reason), times in sorted(self._refused().items()):
            refused.add_metric([self._role, kind, reason], times)
        yield refused


class Metrics:
    """The registry of one process and the ways its jobs feed it."""

    def __init__(self, role: str, version: str) -> None:
        self.role = role
        self.registry = CollectorRegistry()
        r = self.registry
        self._fetched = Counter(
            "newsbot_feeds_fetched",
            "Polls of a source, by outcome.",
            ["role", "status"],
            registry=r,
        )
        self._failed = Counter(
            "newsbot_feeds_failed", "Failed polls, by error kind.", ["role", "kind"], registry=r
        )
        self._stored = _of_role(Counter, "newsbot_stories_stored", "New stories stored.", role, r)
        self._matches = _of_role(
            Counter, "newsbot_matches", "Pushes queued: a chat owed a story.", role, r
        )
        self._messages = Counter(
            "newsbot_messages_sent",
            "Messages sent: push (outbox rows), digest messages, edits of cards.",
            ["role", "kind"],
            registry=r,
        )
        self._undeliverable = _of_role(
            Counter, "newsbot_deliveries_failed", "Outbox rows given up.", role, r
        )
        self._outbox = Gauge(
            "newsbot_outbox_depth", "Outbox rows by state.", ["role", "state"], registry=r
        )
        self._oldest_pending = _of_role(
            Gauge,
            "newsbot_oldest_pending_push_seconds",
            "How long the oldest pending push has waited.",
            role,
            r,
        )
        self._poll_lag = _of_role(
            Gauge,
            "newsbot_poll_lag_seconds",
            "How far behind its due time the most overdue unclaimed source is.",
            role,
            r,
        )
        self._failing = _of_role(
            Gauge, "newsbot_sources_failing", "Enabled sources whose last poll failed.", role, r
        )
        self._ticks = Histogram(
            "newsbot_tick_duration_seconds",
            "How long a tick of each loop took.",
            ["role", "loop"],
            buckets=TICK_BUCKETS,
            registry=r,
        )
        info = Gauge(
            "newsbot_info", "The process's role and version.", ["role", "version"], registry=r
        )
        info.labels(role, version).set(1)

    def watch_telegram(
        self,
        *,
        retry_afters: Callable[[], int],
        expired: Callable[[], int],
        refused: Callable[[], Mapping[tuple[str, str], int]],
    ) -> None:
        """Export the gateway's 429s and expired replies and the updates refused on arrival."""
        self.registry.register(_Telegram(self.role, retry_afters, expired, refused))

    def polled(self, outcomes: Sequence[PollOutcome]) -> None:
        for outcome in outcomes:
            self._fetched.labels(self.role, outcome.status).inc()
            if outcome.status == "error":
                self._failed.labels(self.role, outcome.error_kind or "feed").inc()
            self._stored.inc(outcome.new_stories)
            self._matches.inc(outcome.queued_deliveries)

    def sent(self, report: SendReport) -> None:
        self._messages.labels(self.role, "push").inc(report.sent)
        self._messages.labels(self.role, "digest").inc(report.digests)
        self._messages.labels(self.role, "edit").inc(report.edited)
        self._undeliverable.inc(report.failed)

    def tick(self, loop: str, seconds: float) -> None:
        self._ticks.labels(self.role, loop).observe(seconds)

    def refresh(self, status: OperationsStatus, *, outbox: bool, sources: bool) -> None:
        """Set the gauges of the work in hand from one look at the database."""
        if outbox:
            self._outbox.labels(self.role, "pending").set(status.outbox_pending)
            self._outbox.labels(self.role, "sending").set(status.outbox_sending)
            self._oldest_pending.set(status.oldest_pending_age.total_seconds())
        if sources:
            self._poll_lag.set(status.poll_lag.total_seconds())
            self._failing.set(status.failing_count)

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)
