"""Polling: when each source is read again, and the pipeline that reads it.

Exported here: the schedule's pure interval maths (`schedule`). Public modules imported by their
own path: `news.polling.decide` (the poll decider: what one poll records and when the next is
due, on plain values), `news.polling.pipeline` (`Poller`: claim, fetch, parse, store, match,
queue pushes) and `news.polling.cluster_keeper` (the clusterer kept in step with storage); the
last two load the fetcher and the clusterer, which only the poller needs.
"""

from __future__ import annotations

from news.polling.schedule import (
    ScheduleSettings,
    backoff,
    jittered,
    max_age,
    next_interval,
    publication_rate,
    retry_after,
    target_interval,
)

__all__ = [
    "ScheduleSettings",
    "backoff",
    "jittered",
    "max_age",
    "next_interval",
    "publication_rate",
    "retry_after",
    "target_interval",
]
