"""One push per event, and the "Also:" edits that take the place of the others.

When several outlets report one event, a chat (each of its forum topics on its own) is pushed
the first report only: a story whose event the place is already owed is not queued, and the
card pushed for the event is edited to name the new outlet instead ("Also: BBC, DW +3"). A push
that failed for good does not count as owed, so the event may come again with its next report.

Storage reads the rows and writes the outbox (`storage.outbox.enqueue_deliveries`,
`storage.clusters`); these rules say which rows and which cards.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from datetime import datetime

from news.model import DeliveryState, TopicMatch
from news.policy import EDIT_WINDOW

#: A place, an event: (chat, forum topic, the event's key — its cluster, or the lone story).
EventKey = tuple[int, int, int]

#: Rows whose card an event's new report makes due for an edit: owed, being sent, or out.
EDITABLE_STATES: tuple[DeliveryState, ...] = ("pending", "sending", "sent")


def holds_event(state: DeliveryState, story_id: int, asked: Container[int]) -> bool:
    """Whether an outbox row (its state, its story) makes its place owed its event, for a queue
    of the stories `asked`: any row but one that failed for good — unless that row is for one of
    those very stories, which a place gets once at most."""
    return state != "failed" or story_id in asked


def first_per_event(
    matches: Iterable[TopicMatch], event_of: Mapping[int, int], owed: set[EventKey]
) -> list[TopicMatch]:
    """The matches to queue: those whose place is not owed their event yet, the first of each
    event only. `event_of` maps a story to its event (a story missing stands alone); `owed`
    holds the places' events already in the outbox, and is added to."""
    fresh: list[TopicMatch] = []
    for match in matches:
        key = (match.chat_id, match.thread_id, event_of.get(match.story_id, match.story_id))
        if key in owed:
            continue
        owed.add(key)
        fresh.append(match)
    return fresh


def editable_since(now: datetime) -> datetime:
    """Cards pushed before this are not edited any more: an event's cluster closes after its
    window, and a message that old changing under a reader's eyes would surprise."""
    return now - EDIT_WINDOW


def edit_due(state: DeliveryState, created_at: datetime, now: datetime) -> bool:
    """Whether a row's card becomes due for an edit when its event gains a report at `now`
    (what `storage.clusters` writes as SQL: the same states and the same window)."""
    return state in EDITABLE_STATES and created_at > editable_since(now)
