"""One event, several outlets: who else reports a story, and lists of events instead of copies.

Stories carry their cluster (`Story.cluster_id`, see `news.events.clustering`); these functions turn
clusters into what readers see: the other outlets under a pushed card ("Also: BBC, DW"), the
other reports on a story card, and /latest's entries, one per event, led by its first report,
with the number of outlets beside it. Storage keeps each event's outlets as the event changes
(`news.model.Coverage`: the outlets' first reports and their number), so a list entry never
loads the event's reports, however many there are.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from news.model import Coverage, Story
from news.topics import Topic, base_language


def lead_story(members: Sequence[Story], language: str | None = None) -> Story:
    """The story that leads its event: the first published, the first stored on a tie; with a
    reader's `language` ("de"), the first report in that language when the event has one."""
    if language is not None:
        own = [story for story in members if base_language(story.language) == language]
        if own:
            return min(own, key=_first_reported)
    return min(members, key=_first_reported)


def _first_reported(story: Story) -> tuple[datetime, int]:
    return story.published_at, story.id


def outlets(members: Iterable[Story]) -> tuple[str, ...]:
    """The outlets reporting an event, first reporter first, each once."""
    return tuple(
        dict.fromkeys(report.source_name for report in sorted(members, key=_first_reported))
    )


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of a list of events: the lead report, the first few outlets (first reporter
    first), how many outlets report it in all, and the story that matched."""

    lead: Story
    outlets: tuple[str, ...]
    matched: Story
    outlet_count: int

    @property
    def more_sources(self) -> int:
        """Outlets besides the lead's: the "+N sources" of a list entry."""
        return max(self.outlet_count - 1, 0)


def events(
    stories: Sequence[Story],
    coverage: Mapping[int, Coverage],
    *,
    skip: Container[int] = (),
    topic: Topic | None = None,
    language: str | None = None,
) -> list[Event]:
    """`stories` (newest first) as events, in the order of each event's newest story.

    `coverage` holds what storage keeps of each cluster's outlets; a story without a cluster,
    or whose cluster is not in `coverage`, is an event of its own. Events whose key is in `skip`
    (already shown on an earlier page) are left out.

    An event is led by its first report: the first of its outlets' first reports, or, with a
    `topic` that report does not match (an excluded source or word never heads the entry), the
    first report that matches among those the search returned and the outlets' first reports.
    With a reader's `language`, the first such report in that language leads when there is one
    (`lead_story`). Nothing here reads the event's other reports, so an entry costs the same at
    any size.
    """
    returned: dict[int, list[Story]] = {}
    for story in stories:
        returned.setdefault(story.event, []).append(story)
    listed: dict[int, Event] = {}
    for story in stories:
        key = story.event
        if key in listed or key in skip:
            continue
        kept = coverage.get(story.cluster_id) if story.cluster_id is not None else None
        if kept is None or not kept.first:
            group = returned[key]
            names = outlets(group)
            listed[key] = Event(lead_story(group, language), names, story, len(names))
            continue
        candidates = [*kept.first, *returned[key]]
        if topic is not None:
            candidates = [
                s
                for s in candidates
                if topic.matches(s.terms, source=s.source_name, language=s.language)
            ]
        lead = lead_story(candidates or [story], language)
        names = tuple(dict.fromkeys(report.source_name for report in kept.first))
        listed[key] = Event(lead, names, story, max(kept.outlets, 1))
    return list(listed.values())
