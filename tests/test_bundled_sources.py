"""The bundled sources (bot/default_sources.txt) give a fresh install news in every language the
bot speaks: the list parses as a sources file, every feed is https, and each line says the
language and outlet of its feed, a handful of outlets for each language (issue 23)."""

from __future__ import annotations

import re
from collections import defaultdict
from importlib import resources
from urllib.parse import urlsplit

from bot.settings import Settings
from handlers.i18n import LANGUAGES
from news.feeds.sources import parse_sources_text

_LINE = re.compile(r"^(?P<url>\S+)\s+#\s+(?P<language>[a-z]{2})\s+(?P<outlet>\S.*)$")


def bundled_text() -> str:
    return resources.files("bot").joinpath("default_sources.txt").read_text("utf-8")


def bundled() -> list[tuple[str, str, str]]:
    """(url, language, outlet) for each feed line of the bundled list."""
    found = []
    for line in bundled_text().splitlines():
        if line.strip() and not line.startswith("#"):
            match = _LINE.match(line)
            assert match, f"not 'URL  # language outlet': {line!r}"
            found.append((match["url"], match["language"], match["outlet"]))
    return found


def test_the_bundled_list_is_what_a_fresh_install_reads() -> None:
    urls = Settings.from_environment({}, env_file=None).sources
    assert list(urls) == parse_sources_text(bundled_text()) == [url for url, _, _ in bundled()]
    assert len(set(urls)) == len(urls)


def test_every_bundled_feed_is_https() -> None:
    for url, _, _ in bundled():
        parts = urlsplit(url)
        assert parts.scheme == "https" and parts.hostname, url


def test_every_language_the_bot_speaks_has_a_handful_of_outlets() -> None:
    outlets: dict[str, set[str]] = defaultdict(set)
    hosts: dict[str, set[str]] = defaultdict(set)
    for url, language, outlet in bundled():
        assert language in LANGUAGES, (url, language)
        outlets[language].add(outlet)
        hosts[language].add(urlsplit(url).hostname or "")
    assert set(outlets) == set(LANGUAGES)
    for language in LANGUAGES:
        assert len(outlets[language]) >= 5, (language, outlets[language])
        assert len(hosts[language]) >= 5, (language, hosts[language])


def test_the_list_says_its_feeds_were_not_checked_online() -> None:
    """Feeds added without network access are said to be unverified, for whoever deploys."""
    header = " ".join(line for line in bundled_text().splitlines() if line.startswith("#"))
    assert "without network access" in header
