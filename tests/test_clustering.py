"""Cross-outlet clusters (issue 6): B-cubed quality on the labelled set; the clusterer's rules."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from news.clustering import Assignment, Clusterer

DATA = Path(__file__).parent / "data" / "clusters"
START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
BLOCK_GAP = timedelta(minutes=40)


@dataclass(frozen=True)
class Labelled:
    story_id: int
    label: str
    language: str
    source: str
    published_at: datetime
    title: str
    summary: str


def load(path: Path, first_id: int) -> list[Labelled]:
    """Stories of one file of the labelled set; see the header of en.txt for the format."""
    stories: list[Labelled] = []
    block = -1
    label = language = ""
    ids = itertools.count(first_id)
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("== "):
            _, language, label = line.split()
            block += 1
            if label == "-":
                label = f"{path.stem}-single-{block}"
            continue
        source, minutes, title, summary = (part.strip() for part in line.split(" | "))
        published = START + block * BLOCK_GAP + timedelta(minutes=int(minutes))
        stories.append(Labelled(next(ids), label, language, source, published, title, summary))
    return stories


@pytest.fixture(scope="module")
def labelled() -> list[Labelled]:
    stories = load(DATA / "en.txt", 1) + load(DATA / "de.txt", 10_001)
    return sorted(stories, key=lambda story: (story.published_at, story.story_id))


def b_cubed(gold: dict[int, str], predicted: dict[int, int]) -> tuple[float, float]:
    by_gold: dict[str, set[int]] = {}
    by_predicted: dict[int, set[int]] = {}
    for item, label in gold.items():
        by_gold.setdefault(label, set()).add(item)
        by_predicted.setdefault(predicted[item], set()).add(item)
    precision = recall = 0.0
    for item in gold:
        same_gold = by_gold[gold[item]]
        same_predicted = by_predicted[predicted[item]]
        shared = len(same_gold & same_predicted)
        precision += shared / len(same_predicted)
        recall += shared / len(same_gold)
    return precision / len(gold), recall / len(gold)


def test_labelled_set_is_as_the_issue_asks(labelled: list[Labelled]) -> None:
    sizes: dict[str, int] = {}
    for story in labelled:
        sizes[story.label] = sizes.get(story.label, 0) + 1
    events = [label for label, size in sizes.items() if size > 1]
    assert len(labelled) >= 300
    assert {story.language for story in labelled} == {"en", "de"}
    assert len(events) >= 40
    assert all(2 <= sizes[label] <= 6 for label in events)


def clustered_in_order(labelled: list[Labelled]) -> list[tuple[Labelled, Assignment]]:
    """Each labelled story with what a fresh clusterer, fed them in order, made of it."""
    clusterer = Clusterer()
    return [
        (
            story,
            clusterer.add(
                story.story_id,
                story.title,
                story.summary,
                story.language,
                story.published_at,
                story.source,
            ),
        )
        for story in labelled
    ]


def test_b_cubed_precision_and_recall(labelled: list[Labelled]) -> None:
    predicted = {
        story.story_id: assignment.cluster_id for story, assignment in clustered_in_order(labelled)
    }
    gold = {story.story_id: story.label for story in labelled}
    precision, recall = b_cubed(gold, predicted)
    print(f"\nB-cubed precision {precision:.3f} (≥ 0.90), recall {recall:.3f} (≥ 0.80)")
    assert precision >= 0.90
    assert recall >= 0.80


def test_wire_copies_join_as_duplicates(labelled: list[Labelled]) -> None:
    first_with: dict[str, int] = {}
    copies = 0
    for story, assignment in clustered_in_order(labelled):
        original = first_with.setdefault(story.summary, story.story_id)
        if original != story.story_id:
            copies += 1
            assert assignment.duplicate_of == original
            assert not assignment.created
        else:
            assert assignment.duplicate_of is None, story.title
    assert copies >= 5


T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
FIRE = (
    "Fire at chemical plant in Ludwigshafen injures 14 workers",
    "A fire broke out at the BASF chemical plant in Ludwigshafen on Monday morning, injuring 14 "
    "workers, and residents were told to keep windows closed, the fire brigade said.",
)
FIRE_AGAIN = (
    "Ludwigshafen blaze: BASF says toxic smoke no longer a danger",
    "Firefighters put out the fire at BASF's Ludwigshafen site after five hours; 14 workers were "
    "hurt and the company said measurements showed no danger to residents.",
)
SAME_PLACE = (
    "BASF to cut 2,500 jobs at Ludwigshafen headquarters",
    "The chemical maker BASF said it would cut 2,500 jobs at its Ludwigshafen headquarters by the "
    "end of 2026, as high energy prices weigh on production in Germany.",
)


def test_a_copy_joins_and_is_marked_even_under_a_new_headline() -> None:
    clusterer = Clusterer()
    first = clusterer.add(1, *FIRE, "en", T0, "Reuters")
    copy = clusterer.add(
        2, "UPDATE 1-" + FIRE[0], FIRE[1], "en", T0 + timedelta(minutes=5), "Yahoo"
    )
    assert copy.cluster_id == first.cluster_id
    assert copy.duplicate_of == 1
    assert copy.is_duplicate


def test_independent_reports_join_and_a_different_event_in_the_same_place_stays_apart() -> None:
    clusterer = Clusterer()
    first = clusterer.add(1, *FIRE, "en", T0, "Reuters")
    second = clusterer.add(2, *FIRE_AGAIN, "en", T0 + timedelta(hours=2), "DW")
    other = clusterer.add(3, *SAME_PLACE, "en", T0 + timedelta(hours=3), "Bloomberg")
    assert second.cluster_id == first.cluster_id
    assert not second.is_duplicate
    assert other.created
    assert other.cluster_id != first.cluster_id
    cluster = clusterer.cluster(first.cluster_id)
    assert cluster is not None
    assert cluster.story_ids == [1, 2]
    assert cluster.sources == ["Reuters", "DW"]


def test_clusters_expire_after_the_window() -> None:
    clusterer = Clusterer(window=timedelta(hours=48))
    first = clusterer.add(1, *FIRE, "en", T0, "Reuters")
    within = clusterer.add(2, *FIRE_AGAIN, "en", T0 + timedelta(hours=47), "DW")
    assert within.cluster_id == first.cluster_id
    late = clusterer.add(3, *FIRE_AGAIN, "en", T0 + timedelta(hours=49), "AP")
    assert late.created
    assert clusterer.cluster(first.cluster_id) is None
    assert late.duplicate_of == 2  # the copy is still in the window, its cluster is not
    clusterer.add(4, *SAME_PLACE, "en", T0 + timedelta(hours=200), "AP")
    assert len(clusterer) == 1


def test_a_story_is_added_once() -> None:
    clusterer = Clusterer()
    clusterer.add(1, *FIRE, "en", T0, "Reuters")
    with pytest.raises(ValueError, match="already"):
        clusterer.add(1, *FIRE, "en", T0, "Reuters")


PEACE_TALKS = (
    "Peace Talks Resume in Geneva With New Mediators",
    "Negotiators returned to Geneva on Monday as new mediators joined the peace talks.",
)
ENERGY_PROTEST = (
    "Talks on Energy Prices Stall as Activists Call for Peace Outside",
    "Ministers failed to agree on energy prices while activists outside called for peace.",
)


@pytest.mark.parametrize(
    ("first", "second", "later"),
    [
        # The same text declared German is still compared only with German stories.
        pytest.param(
            (FIRE, "en", "Reuters"), (FIRE, "de", "dpa"), timedelta(minutes=1), id="languages"
        ),
        pytest.param(
            (PEACE_TALKS, "en", "Reuters"),
            (ENERGY_PROTEST, "en", "Reuters"),
            timedelta(hours=1),
            id="one outlet, one theme, two events",
        ),
    ],
)
def test_stories_that_stay_apart(
    first: tuple[tuple[str, str], str, str],
    second: tuple[tuple[str, str], str, str],
    later: timedelta,
) -> None:
    clusterer = Clusterer()
    (text, language, outlet), (other_text, other_language, other_outlet) = first, second
    earlier = clusterer.add(1, *text, language, T0, outlet)
    apart = clusterer.add(2, *other_text, other_language, T0 + later, other_outlet)
    assert apart.created
    assert apart.cluster_id != earlier.cluster_id
    assert apart.duplicate_of is None


def test_an_outlets_update_of_its_own_story_joins_it() -> None:
    clusterer = Clusterer()
    first = clusterer.add(1, *PEACE_TALKS, "en", T0, "Reuters")
    update = clusterer.add(
        2,
        "Peace Talks Resume in Geneva With Two New Mediators",
        "Talks resumed in Geneva after a month; two mediators from Norway and Qatar took part.",
        "en",
        T0 + timedelta(hours=1),
        "Reuters",
    )
    other_outlet = clusterer.add(
        3,
        "Geneva peace talks restart with new mediators",
        "The peace talks restarted in Geneva with new mediators on Monday.",
        "en",
        T0 + timedelta(hours=2),
        "DW",
    )
    assert update.cluster_id == first.cluster_id
    assert other_outlet.cluster_id == first.cluster_id
