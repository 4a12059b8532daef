"""Delivery: is this chat owed this story, now? Where a push is decided, on plain values.

- `pushable`: a story is news for a push (ingest's match and the sender both ask it);
- `decide`: a place's claimed rows → send as cards, fold into a digest, hold for quiet hours,
  drop as stale (`quiet`: the chat's quiet hours);
- `gate` and `settle`: whether a message may go now (the Bot API's `Outage`, the claim's lease),
  and what its `SendResult` means for its rows: done, give up, retry, stop;
- `first_per_event` and `edit_due`: one push per event per chat, and the "Also:" edits instead;
- `SentLog`: a message that went out is recorded, whatever the database says.

Storage runs the queries and the sender (`handlers.sender`) the Telegram side around them.
"""

from news.delivery.decide import (
    QUIET_DIGEST_LIMIT,
    STALE_ERROR,
    Action,
    DigestKind,
    DropStale,
    Hold,
    Places,
    SendCard,
    SendDigest,
    by_place,
    decide,
    pushable,
    quiet_rest,
)
from news.delivery.events import (
    EDITABLE_STATES,
    EventKey,
    edit_due,
    editable_since,
    first_per_event,
    holds_event,
)
from news.delivery.outage import Outage
from news.delivery.quiet import clock_text, parse_quiet_hours, quiet_until
from news.delivery.recording import SentLog
from news.delivery.results import (
    ChatMoved,
    Failure,
    FailureKind,
    FloodWait,
    Lapsed,
    SendResult,
    Sent,
)
from news.delivery.settle import (
    LEASE_USE,
    UNAVAILABLE,
    Done,
    Fate,
    GiveUp,
    Retry,
    Stop,
    gate,
    lease_ends,
    settle,
)

__all__ = [
    "EDITABLE_STATES",
    "LEASE_USE",
    "QUIET_DIGEST_LIMIT",
    "STALE_ERROR",
    "UNAVAILABLE",
    "Action",
    "ChatMoved",
    "DigestKind",
    "Done",
    "DropStale",
    "EventKey",
    "Failure",
    "FailureKind",
    "Fate",
    "FloodWait",
    "GiveUp",
    "Hold",
    "Lapsed",
    "Outage",
    "Places",
    "Retry",
    "SendCard",
    "SendDigest",
    "SendResult",
    "Sent",
    "SentLog",
    "Stop",
    "by_place",
    "clock_text",
    "decide",
    "edit_due",
    "editable_since",
    "first_per_event",
    "gate",
    "holds_event",
    "lease_ends",
    "parse_quiet_hours",
    "pushable",
    "quiet_rest",
    "quiet_until",
    "settle",
]
