"""Story text as readers see it: clean summaries, cut at a word, clean links, ages."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from news.feeds import canonical_link, cut_at_word, is_web_url, plain_text


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
