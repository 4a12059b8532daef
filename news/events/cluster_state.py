"""What the clusterer keeps, as storage holds it: open clusters' centroids and recent stories'
signatures, so that a start loads clusters instead of re-analysing stories.

`news.events.clustering.Clusterer` hands out what changed since it last did (`ClusterState`), the
cluster keeper stores it in the transaction that records the assignments, and a start or
another process's change reads it back (`Clusterer.load`). `version` orders the changes of all
the processes polling one database: each reads the rows written after the version it last saw.
Plain data only: this module is imported by storage and by the cheap commands. Rows are named
tuples: a start builds one per open cluster and per story of the window, and a tuple is built
several times faster than a frozen dataclass. Numbers travel as arrays (32-bit hashes, 64-bit
weights), which storage fills from its bytes and the clusterer keeps as they are.
"""

from __future__ import annotations

from array import array
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from news.model import ClusterAssignment


class ClusterRow(NamedTuple):
    """An open cluster: its language, when its first story was published, its centroid
    (heaviest term first, beside its weight); the event of another language it reports
    (None: its own), and, for an event's first cluster, the event's meaning as
    `news.events.linking` packs it (b"" when none is kept)."""

    id: int
    language: str
    started_at: datetime
    terms: tuple[str, ...]
    weights: array[float]
    event_id: int | None = None
    meaning: bytes = b""


class StorySignature(NamedTuple):
    """What the clusterer needs of a clustered story, without its text: its cluster, its
    outlet and clustering time, the terms counted in the document frequencies, the headline's
    terms (same-outlet updates) and its MinHash signature (copies)."""

    story_id: int
    cluster_id: int
    language: str
    source: str
    published_at: datetime
    terms: tuple[str, ...]
    headline: tuple[str, ...]
    signature: array[int]


@dataclass(slots=True)
class ClusterState:
    """Cluster rows and story signatures; `version` the newest version among them (or the
    newest storage knew of when they were read)."""

    clusters: list[ClusterRow] = field(default_factory=list)
    stories: list[StorySignature] = field(default_factory=list)
    version: int = 0

    def __bool__(self) -> bool:
        return bool(self.clusters or self.stories)


# The work a poller does in its turn (`Storage.cluster_turn`): given what other processes
# clustered since it last looked, its assignments and what changed in its clusterer.
ClusterWork = Callable[[ClusterState], Awaitable[tuple[Sequence[ClusterAssignment], ClusterState]]]
