"""The sender's view of the Bot API as a value: up, or down until when.

While the Bot API fails (5xx, no connection, timeouts) the sender pauses, 2, 4, 8 … up to
`news.policy.MAX_BACKOFF` seconds while it stays down, and after each pause probes with one
message before it fans out again: an outage costs a request every half minute, not a fan-out of
failures. The sender keeps one `Outage` and replaces it with what `failed` and `answered`
return; it logs the transitions.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from news.policy import MAX_BACKOFF

# 2 ** 16 s is far past any sensible cap: the exponent stops growing there.
_MAX_EXPONENT = 16


@dataclass(frozen=True, slots=True)
class Outage:
    """Nothing is sent before `until`; `streak` transient failures in a row, the first at
    `since`. The default is a Bot API that answers."""

    until: datetime | None = None
    streak: int = 0
    since: datetime | None = None

    def available(self, now: datetime) -> bool:
        """Whether a request may go out at `now`."""
        return self.until is None or now >= self.until

    @property
    def probing(self) -> bool:
        """After a failure the next round claims one row first: a probe, not a fan-out."""
        return self.streak > 0

    def claim_size(self, batch: int) -> int:
        """How many rows the next claim takes: one while probing, else `batch`."""
        return 1 if self.probing else batch

    def failed(self, now: datetime) -> Outage:
        """A transient failure at `now`: the next pause, longer for each failure in a row.

        A request that was in flight when the pause began changes nothing: the pause stands.
        """
        if self.until is not None and self.until > now:
            return self
        pause = min(timedelta(seconds=2 ** min(self.streak + 1, _MAX_EXPONENT)), MAX_BACKOFF)
        since = now if self.streak == 0 or self.since is None else self.since
        return Outage(until=now + pause, streak=self.streak + 1, since=since)

    def answered(self) -> Outage:
        """A request got through: the streak ends (the pause is over already)."""
        return replace(self, streak=0) if self.streak else self
