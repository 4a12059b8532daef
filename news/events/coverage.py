"""One event, several outlets: who else reports a story, and lists of events instead of copies.

Stories carry their cluster (`Story.cluster_id`, see `news.events.clustering`); these functions turn
clusters into what readers see: the other outlets under a pushed card ("Also: BBC, DW"), the
other reports on a story card, and /latest's entries, one per event, led by its first report,
with the number of outlets beside it. This is the one place that says who else reports an
event: storage and the story card only load the event's stories and ask here.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from news.model import Story
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


def first_of_each_outlet(reports: Iterable[Story]) -> list[Story]:
    """Each outlet's first report, first reporter first."""
    first: dict[str, Story] = {}
    for report in sorted(reports, key=_first_reported):
        first.setdefault(report.source_name, report)
    return list(first.values())


def outlets(members: Iterable[Story]) -> tuple[str, ...]:
    """The outlets reporting an event, first reporter first, each once."""
    return tuple(report.source_name for report in first_of_each_outlet(members))


def other_reports(members: Iterable[Story], story: Story) -> list[Story]:
    """The reports of `story`'s event by outlets other than its own, first published first."""
    return sorted(
        (report for report in members if report.source_name != story.source_name),
        key=_first_reported,
    )


def other_outlets(members: Iterable[Story], story: Story) -> tuple[str, ...]:
    """The outlets other than `story`'s own that report its event: the "Also:" of its card."""
    return outlets(other_reports(members, story))


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of a list of events: the lead report, the outlets, and the story that matched."""

    lead: Story
    outlets: tuple[str, ...]
    matched: Story

    @property
    def more_sources(self) -> int:
        """Outlets besides the lead's: the "+N sources" of a list entry."""
        return max(len(self.outlets) - 1, 0)


def events(
    stories: Sequence[Story],
    members: Mapping[int, Sequence[Story]],
    *,
    skip: Container[int] = (),
    topic: Topic | None = None,
    language: str | None = None,
) -> list[Event]:
    """`stories` (newest first) as events, in the order of each event's newest story.

    `members` holds the stories of each cluster; a story without a cluster, or whose cluster is
    not in `members`, is an event of its own. Events whose key is in `skip` (already shown on an
    earlier page) are left out. With a `topic`, an event is led by its first report that
    matches it, so an excluded source or word never heads the entry; with a reader's
    `language`, by its first such report in that language if there is one (`lead_story`).
    """
    listed: dict[int, Event] = {}
    for story in stories:
        key = story.event
        if key in listed or key in skip:
            continue
        group = members.get(key) or [story]
        candidates = group
        if topic is not None:
            candidates = [
                m
                for m in group
                if topic.matches(m.terms, source=m.source_name, language=m.language)
            ]
        listed[key] = Event(lead_story(candidates or [story], language), outlets(group), story)
    return list(listed.values())


def listed_above(
    members: Sequence[Story], topic: Topic | None, cursor: tuple[datetime, int]
) -> bool:
    """Whether an event was listed on an earlier page of a list paged back from `cursor`.

    Pages list events by their newest matching report and each ends at a keyset cursor
    (published, id), so an event with a matching report at or after the cursor was listed
    above it: paging needs no memory of what was shown.
    """
    return any(
        (story.published_at, story.id) >= cursor
        and (
            topic is None
            or topic.matches(story.terms, source=story.source_name, language=story.language)
        )
        for story in members
    )
