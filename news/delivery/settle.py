"""One message's send, before and after: may it go now, and what its result means for its rows.

Before (`gate`): nothing goes out while the Bot API is known to be down (`Outage`), nor once the
claim's lease is nearly spent — another sender may claim the rows then, so this one leaves them
rather than send them twice. After (`settle`): a result (`news.delivery.results`) becomes the
rows' fate and the sender's next outage state:

    Sent                → Done: recorded, the chat's next message goes on; an outage ends
    refused             → GiveUp: this message's rows fail for good; the next goes on
    FloodWait           → Retry: this and the chat's later rows pending again after the wait
    unreachable         → Retry at the end of the next pause (`Outage.failed`): never given up
                          for that, only when the story is too old (`decide.pushable`)
    chat gone, topic    → Stop: the chat's (or topic's) fate takes its rows, or the lease did
    gone, ChatMoved,
    Lapsed
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from news.delivery.outage import Outage
from news.delivery.results import ChatMoved, Failure, FloodWait, Lapsed, SendResult, Sent

#: The part of a claim's lease the sender sends in; the rest covers the request in flight.
LEASE_USE = 0.8
#: The error recorded for rows not sent because the Bot API was known to be down.
UNAVAILABLE = "Bot API unavailable"


# The fates, as the module docstring tells them; tuples, as `news.model`'s small values are.


class Done(NamedTuple):
    message_id: int


class GiveUp(NamedTuple):
    error: str


class Retry(NamedTuple):
    at: datetime
    error: str


class Stop(NamedTuple):
    #: What ended the sending: the chat's (or its topic's) fate to apply, or a lapsed lease.
    result: SendResult


Fate = Done | GiveUp | Retry | Stop


def lease_ends(claimed_at: datetime, lease: timedelta) -> datetime:
    """When a claim made at `claimed_at` stops being the sender's to send: a margin before the
    lease runs out, for the request in flight then."""
    return claimed_at + lease * LEASE_USE


def gate(now: datetime, outage: Outage, ends: datetime | None) -> Failure | Lapsed | None:
    """What sending at `now` would come to without trying; None: it may go.

    `ends` is the claim's `lease_ends` (None: not under a claim, as an edit)."""
    if not outage.available(now):
        return Failure("unreachable", UNAVAILABLE)
    if ends is not None and now >= ends:
        # Slower than the lease (a loaded machine, a long flood wait): the rows are left
        # unsent for the next claim, which may be another sender's, rather than sent twice.
        return Lapsed()
    return None


def settle(result: SendResult, now: datetime, outage: Outage) -> tuple[Fate, Outage]:
    """The fate of the rows a send was for, and the outage state after it."""
    match result:
        case Sent(message_id):
            return Done(message_id), outage.answered()
        case Failure("refused", error):
            return GiveUp(error or "refused"), outage
        case FloodWait(delay, error):
            return Retry(now + delay, error or "retry"), outage
        case Failure("unreachable", error):
            down = outage.failed(now)
            return Retry(max(down.until or now, now), error or "network"), down
        case Failure() | ChatMoved() | Lapsed():  # the chat or its topic is gone; moved; late
            return Stop(result), outage
