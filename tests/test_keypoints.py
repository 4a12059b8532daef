"""Key points for the story card (issue 6): from the story, or from its cluster for a teaser."""

from __future__ import annotations

from pathlib import Path

from news.events.keypoints import KeyPoint, is_teaser, key_points, sentences

SEED = Path(__file__).parent / "data" / "seed-story.txt"


def seed_story() -> tuple[str, str]:
    """The seed page's headline and body, without its "Keep in mind" box and related headlines."""
    lines = SEED.read_text(encoding="utf-8").splitlines()
    end = lines.index("Keep in mind:")
    return lines[0], "\n".join(line for line in lines[1:end] if line.strip())


def test_sentences_are_not_cut_after_abbreviations() -> None:
    text = (
        "U.S. President Donald Trump spoke with Zelensky on Feb. 12. He then called Putin. "
        'Peskov said: "No deal." The Kremlin agreed.'
    )
    assert sentences(text) == [
        "U.S. President Donald Trump spoke with Zelensky on Feb. 12.",
        "He then called Putin.",
        'Peskov said: "No deal."',
        "The Kremlin agreed.",
    ]


def test_key_points_of_the_seed_story_are_its_own_sentences() -> None:
    title, body = seed_story()
    assert not is_teaser(body)
    points = key_points(body, "en", title=title)
    print("\n" + "\n".join(f"- {point.text}" for point in points))
    assert 2 <= len(points) <= 4
    own = sentences(body)
    assert all(point.text in own and point.report == 0 for point in points)
    assert [own.index(point.text) for point in points] == sorted(own.index(p.text) for p in points)
    # The story is about Macron and troops for Ukraine; its points should say so.
    assert any("Macron" in point.text and "troops" in point.text for point in points)
    assert key_points(body, "en", title=title) == points


def test_a_teaser_takes_its_points_from_the_other_reports_too() -> None:
    teaser = "Russia fired more than 120 missiles at Ukraine's power grid overnight."
    related = [
        "Russia fired more than 120 missiles and 90 drones at Ukraine overnight, targeting power "
        "plants in 15 regions. Ukraine's air force said it shot down 102 missiles. Millions of "
        "people were left without electricity in Kyiv, Lviv and Odesa.",
        "Russia fired more than 120 missiles and 90 drones at Ukraine overnight, targeting power "
        "plants in 15 regions. Ukrenergo ordered rolling blackouts across the country on Monday. "
        "The weather in Lviv was mild.",
    ]
    assert is_teaser(teaser)
    points = key_points(teaser, "en", title="Russian strikes hit Ukraine's grid", related=related)
    assert 2 <= len(points) <= 4
    assert points[0] == KeyPoint(teaser, 0)
    texts = [point.text for point in points]
    assert len(texts) == len(set(texts))
    # The wire sentence both reports share is said once, and it repeats the teaser anyway.
    assert sum("90 drones" in text for text in texts) <= 1
    assert all(point.report in (0, 1, 2) for point in points)


def test_german_story() -> None:
    body = (
        "Die Lokführergewerkschaft GDL hat zu einem 35-stündigen Streik aufgerufen. "
        "Die Deutsche Bahn rechnet mit massiven Ausfällen im Fernverkehr. "
        "Nur etwa jeder fünfte ICE soll während des Streiks fahren. "
        "Bereits gebuchte Tickets können flexibel genutzt oder erstattet werden. "
        "Auch S-Bahnen in Berlin und München sind vom Streik betroffen, teilte die Bahn mit."
    )
    points = key_points(body, "de", title="GDL ruft zu Bahnstreik auf")
    assert 2 <= len(points) <= 4
    assert all(point.text in sentences(body) for point in points)


def test_nothing_to_say() -> None:
    assert key_points("", "en") == []
