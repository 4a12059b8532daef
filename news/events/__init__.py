"""Events: reports of one event from several outlets, grouped and shown as one.

Exported here: who else reports an event and lists of events instead of copies (`coverage`), and
the clusterer's state as storage keeps it (`cluster_state`). Public modules imported by their own
path, because they are heavy and only some commands need them: `news.events.clustering` (the
streaming clusterer) and `news.events.keypoints` (a story card's key points).
"""

from __future__ import annotations

from news.events.cluster_state import ClusterRow, ClusterState, ClusterWork, StorySignature
from news.events.coverage import (
    Event,
    events,
)

__all__ = [
    "ClusterRow",
    "ClusterState",
    "ClusterWork",
    "Event",
    "StorySignature",
    "events",
]
