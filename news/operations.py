"""What an operator asks of the running bot: is it keeping up, and which feeds are failing.

`OperationsStatus` is one look at the database, answered by `Storage.operations_status`: the
outbox's depth and oldest pending push, how late the most overdue source is, the last poll any
poller recorded and the sources whose last poll failed. `/status` shows it to admins, and
`/metrics` exports it (`bot.metrics`). A source fails "for a day" when its last poll failed and
no poll of it has succeeded for `news.policy.REPORT_FAILING_AFTER` (since it was added, when none
ever did); admins are told once per such streak (`Storage.claim_failing_reports`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from news.model import Source

#: The failing sources `/status` names; the rest are counted.
FAILING_LISTED = 10


@dataclass(frozen=True, slots=True)
class OperationsStatus:
    """One look at the work the bot has in hand, taken at `now`."""

    now: datetime
    sources_enabled: int = 0
    # Enabled sources whose last poll failed: how many, and the longest failing first.
    failing_count: int = 0
    failing: list[Source] = field(default_factory=list)
    outbox_pending: int = 0
    outbox_sending: int = 0
    oldest_pending_at: datetime | None = None
    # The due time of the most overdue source that no poller has claimed yet.
    oldest_due_at: datetime | None = None
    last_polled_at: datetime | None = None

    @property
    def oldest_pending_age(self) -> timedelta:
        """How long the oldest pending push has waited (zero when none waits)."""
        return _since(self.oldest_pending_at, self.now)

    @property
    def poll_lag(self) -> timedelta:
        """How far behind its due time the most overdue source is (zero when none is due)."""
        return _since(self.oldest_due_at, self.now)


def _since(moment: datetime | None, now: datetime) -> timedelta:
    return max(now - moment, timedelta(0)) if moment is not None else timedelta(0)
