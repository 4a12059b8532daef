"""Story text as readers see it: clean summaries, cut at a word, clean links, ages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from news.text import age, canonical_link, cut_at_word, is_web_url, plain_text


def test_plain_text_drops_markup_scripts_and_decodes_entities() -> None:
    html = "<p>Talks <b>resume</b>&nbsp;in&#160;Gen&egrave;ve</p><script>alert(1)</script><br/>Now"
    assert plain_text(html) == "Talks resume in Genève Now"


def test_cut_at_word_never_splits_a_word() -> None:
    text = "word " * 100
    cut = cut_at_word(text.strip(), 300)
    assert len(cut) <= 300
    assert cut.endswith("word…")


@given(st.text(), st.integers(min_value=10, max_value=400))
def test_cut_is_never_longer_than_the_limit(text: str, limit: int) -> None:
    assert len(cut_at_word(text, limit)) <= limit


def test_canonical_link_strips_tracking_and_fragment() -> None:
    url = "https://News.Example.org/a?id=3&utm_source=x&fbclid=y&gclid=z#comments"
    assert canonical_link(url) == "https://news.example.org/a?id=3"


def test_only_http_links_are_web_urls() -> None:
    assert is_web_url("https://a.example/x")
    assert not is_web_url("javascript:alert(1)")
    assert not is_web_url("/relative/path")
    assert not is_web_url("ftp://a.example/x")


def test_age_reads_like_a_news_card() -> None:
    now = datetime(2025, 2, 14, 12, 0, tzinfo=UTC)
    assert age(now - timedelta(seconds=20), now) == "just now"
    assert age(now - timedelta(minutes=12), now) == "12 min ago"
    assert age(now - timedelta(hours=3, minutes=5), now) == "3 h ago"
    assert age(now - timedelta(days=1, hours=1), now) == "1 day ago"
    assert age(now - timedelta(days=4), now) == "4 days ago"
    assert age(now - timedelta(days=90), now) == "16 Nov 2024"
