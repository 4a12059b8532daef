"""The delivery decider: what to do with the outbox rows a sender claimed for one place.

Plain values in (a place's rows — one chat, one forum topic —, the chat's settings, the time,
whether this is its daily digest), a list of actions out, one per row or group of rows:

- `DropStale`: the story is too old to push (`news.policy.PUSH_MAX_AGE`; a daily digest, or
  one of quiet hours, keeps its stories `DIGEST_GRACE` longer, as they would have gone on time);
- `Hold`: the chat is in its quiet hours (`news.delivery.quiet`): pending again when they end;
- `SendDigest`: folded into one digest message — a daily digest, the digest of quiet hours that
  just ended (however few it carries), or more than `DIGEST_THRESHOLD` stories due at once;
- `SendCard`: a story card of its own.

No I/O and nothing to await, like the poll decider (`news.polling.decide`): tests feed it plain
values. The sender (`handlers.sender`) claims the rows, applies the actions and sends; what a send's
result means for the rows is `news.delivery.settle`'s.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from news.delivery.quiet import quiet_until
from news.model import ChatSettings, Delivery
from news.policy import DIGEST_GRACE, DIGEST_THRESHOLD, PUSH_MAX_AGE

#: The most stories one quiet-hours digest carries (as many as a daily digest claims).
QUIET_DIGEST_LIMIT = 1000
#: What a row dropped as stale records as its error.
STALE_ERROR = "older than 24 hours"

#: Why rows go out as one digest: the chat's daily digest, its quiet hours ended, or too many
#: stories at once for cards.
DigestKind = Literal["daily", "quiet", "many"]


@dataclass(frozen=True, slots=True)
class SendCard:
    """Send the row as a story card of its own."""

    row: Delivery


@dataclass(frozen=True, slots=True)
class SendDigest:
    """Send the rows folded into one digest (split only where Telegram's length demands)."""

    rows: tuple[Delivery, ...]
    kind: DigestKind


@dataclass(frozen=True, slots=True)
class Hold:
    """The chat is in its quiet hours: the rows are pending again from `until`, when they end,
    and marked to go out together as one digest."""

    rows: tuple[Delivery, ...]
    until: datetime


@dataclass(frozen=True, slots=True)
class DropStale:
    """The stories are too old to push: the rows fail for good."""

    rows: tuple[Delivery, ...]
    error: str = STALE_ERROR


Action = SendCard | SendDigest | Hold | DropStale
#: Rows by place: a chat and its forum topic (0: the chat itself), each decided on its own.
Places = dict[tuple[int, int], list[Delivery]]


def by_place(rows: Iterable[Delivery]) -> Places:
    """Rows by where they go: a chat and its forum topic, in claim order."""
    places: Places = defaultdict(list)
    for row in rows:
        places[(row.chat_id, row.thread_id)].append(row)
    return places


def pushable(published_at: datetime, now: datetime, *, grace: bool = False) -> bool:
    """Whether a story published at `published_at` is still news at `now`: not older than
    `PUSH_MAX_AGE`, or `DIGEST_GRACE` more for a digest held back (daily, or quiet hours).

    Ingest matches only such stories, and the sender drops the rows that aged past it."""
    max_age = PUSH_MAX_AGE + DIGEST_GRACE if grace else PUSH_MAX_AGE
    return now - published_at <= max_age


def decide(
    rows: Sequence[Delivery], chat: ChatSettings, now: datetime, *, daily: bool = False
) -> list[Action]:
    """What to do with one place's claimed rows (see the module docstring), in sending order.

    Quiet hours hold instant pushes only: a daily digest keeps its own time."""
    if not rows:
        return []
    if not daily:
        until = quiet_until(chat.quiet_start, chat.quiet_end, chat.timezone, now)
        if until is not None:
            return [Hold(tuple(rows), until)]
    # Rows held by quiet hours go out together, with whatever else is due for the place.
    held = any(row.held for row in rows)
    grace = daily or held
    actions: list[Action] = []
    stale = tuple(row for row in rows if not pushable(row.story.published_at, now, grace=grace))
    if stale:
        actions.append(DropStale(stale))
    fresh = tuple(row for row in rows if pushable(row.story.published_at, now, grace=grace))
    if not fresh:
        return actions
    kind: DigestKind | None = (
        "daily" if daily else "quiet" if held else "many" if len(fresh) > DIGEST_THRESHOLD else None
    )
    if kind is None:
        actions.extend(SendCard(row) for row in fresh)
    else:
        actions.append(SendDigest(fresh, kind))
    return actions


def quiet_rest(rows: Sequence[Delivery], chat: ChatSettings, now: datetime) -> int:
    """How many more of the chat's rows to claim before deciding: its quiet hours just ended
    and `rows` (all it has in the claim) include some they held, so the rest they held must go
    in the same digest — a claim is cut at its batch size, a digest must not be. 0 otherwise."""
    if quiet_until(chat.quiet_start, chat.quiet_end, chat.timezone, now) is not None:
        return 0
    return QUIET_DIGEST_LIMIT if any(row.held for row in rows) else 0
