"""The poll decider: from what one poll of a source found, what to record and when to poll next.

Plain values in (the source as it was, the fetch's result, the parsed feed or the error, the
time, the schedule's settings and a random source for jitter), a `Decision` out: the
`PollRecord` that storage keeps for the source and the poll's status. No I/O and nothing to
await, so tests feed it plain values; `news.polling.pipeline` runs the fetches, parses and writes
around it, and the interval maths it applies are `news.polling.schedule`'s.

- A 304, or a body whose hash is the last poll's, costs no parse and shows no publication: the
  target goes to the ceiling, and the interval grows towards it by the usual step.
- A parsed feed's target follows its publication rate and its own hints (`ttl`, `sy:update*`,
  `max-age`); the interval grows towards it step by step, and a source back from failures
  starts again from its last normal interval.
- A permanent redirect is recorded as the source's new URL.
- 410 Gone disables the source; 429 and 503 wait as long as `Retry-After` asks; any other
  failure backs off exponentially from the source's count of failures in a row.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from news.errors import ErrorKind, FeedError
from news.feeds.fetch import FetchResult, HTTPStatusError
from news.model import PollOutcome, PollRecord, PollStatus, Source
from news.polling import schedule
from news.polling.schedule import ScheduleSettings

if TYPE_CHECKING:
    from collections.abc import Sequence

    from news.feeds.parse import ParsedFeed

#: Said of a source that answered 410 Gone, after the error.
GONE_NOTE = " (the feed is gone; source disabled)"


@dataclass(frozen=True, slots=True)
class Decision:
    """What one poll decided: the source's record, the poll's status and, for a failure, its
    kind (typed here; the record carries it as plain text to storage)."""

    status: PollStatus
    record: PollRecord
    error_kind: ErrorKind | None = None

    def outcome(
        self,
        source_url: str,
        *,
        new_story_ids: Sequence[int] = (),
        seen_entries: int = 0,
        queued_deliveries: int = 0,
    ) -> PollOutcome:
        """The poll's outcome as the scheduler and the terminal report it."""
        record = self.record
        return PollOutcome(
            source_url,
            self.status,
            new_stories=len(new_story_ids),
            seen_entries=seen_entries,
            error=record.error if self.status == "error" else None,
            queued_deliveries=queued_deliveries,
            new_story_ids=list(new_story_ids),
            error_kind=self.error_kind,
            next_poll_at=record.next_poll_at,
            moved_to=record.url,
            disabled=record.disable,
        )


def body_hash(fetched: FetchResult) -> str:
    """The hash that tells an unchanged body from a new one; empty for a 304."""
    return "" if fetched.not_modified else hashlib.sha256(fetched.body).hexdigest()


def unchanged(
    source: Source,
    fetched: FetchResult,
    content_hash: str,
    now: datetime,
    settings: ScheduleSettings,
    rng: random.Random,
) -> Decision | None:
    """The decision for an answer with nothing new (a 304, or the very body of the last poll:
    `content_hash` is the answer's `body_hash`); None for a new body, which must be parsed."""
    if not fetched.not_modified and content_hash != source.content_hash:
        return None
    hinted = [source.target_interval, schedule.max_age(fetched.headers)]
    target = schedule.target_interval(None, hinted, settings)
    record = _success(source, fetched, now, target, settings, rng)
    return Decision("not-modified" if fetched.not_modified else "unchanged", record)


def parsed(
    source: Source,
    fetched: FetchResult,
    feed: ParsedFeed,
    content_hash: str,
    now: datetime,
    settings: ScheduleSettings,
    rng: random.Random,
) -> Decision:
    """A poll that read the feed: its title and body hash (`content_hash`) are kept, and its
    publication rate sets the target."""
    rate = schedule.publication_rate((entry.published_at for entry in feed.entries), now)
    hinted = [feed.min_interval, schedule.max_age(fetched.headers)]
    target = schedule.target_interval(rate, hinted, settings)
    record = _success(
        source,
        fetched,
        now,
        target,
        settings,
        rng,
        title=feed.title,
        content_hash=content_hash,
    )
    return Decision("ok", record)


def failed(
    source: Source,
    error: FeedError,
    now: datetime,
    settings: ScheduleSettings,
    rng: random.Random,
) -> Decision:
    """A poll that failed: when to try again, and whether the source is gone for good."""
    gone = isinstance(error, HTTPStatusError) and error.status == 410
    delay: timedelta | None = None
    if isinstance(error, HTTPStatusError) and error.status in (429, 503):
        delay = schedule.retry_after(error.retry_after, now, settings)
    if delay is None:
        delay = schedule.backoff(source.error_count + 1, settings, rng)
    message = str(error) + (GONE_NOTE if gone else "")
    record = PollRecord(
        source.id, now, now + delay, error_kind=error.kind, error=message, disable=gone
    )
    return Decision("error", record, error.kind)


def _success(
    source: Source,
    fetched: FetchResult,
    now: datetime,
    target: timedelta,
    settings: ScheduleSettings,
    rng: random.Random,
    *,
    title: str | None = None,
    content_hash: str | None = None,
) -> PollRecord:
    # A source back from failures starts again from its last normal interval.
    interval = schedule.next_interval(source.poll_interval, target, settings)
    return PollRecord(
        source.id,
        now,
        now + schedule.jittered(interval, settings, rng),
        title=title,
        etag=fetched.etag,
        last_modified=fetched.last_modified,
        content_hash=content_hash,
        poll_interval=interval,
        target_interval=target,
        url=fetched.permanent_url,
    )
