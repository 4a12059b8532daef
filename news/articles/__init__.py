"""Article text for teaser feeds: read a story's web page, extract its article and key points.

The API (stable; the bot's wiring builds on it):

    Article(url, title, text, key_points)     frozen dataclass; key_points: tuple[str, ...]
    ArticleUnavailable(NewsbotError)          .kind (UnavailableKind: "paywall", "robots",
                                              "not_html", "too_large", "too_complex", "timeout",
                                              "private_address", "no_text", "off_site",
                                              "http_status", "slow", "network", "bad_url"),
                                              .retry_after: float | None (seconds), str(): one
                                              line a person can read
    needs_article(text) -> bool               the teaser rule: plain text under 400 characters,
                                              or a "Continue reading"/"Read more"/"[…]" stub;
                                              give it a story's body if it has one, else its
                                              summary (the summary is always cut to 300)
    HostPace(interval=5.0, *, clock, sleep)   per-host politeness: note(host) records a request
                                              made elsewhere (a feed poll), await
                                              wait_for(host) takes the host's next turn,
                                              pause(host, seconds) after 429/503/Retry-After,
                                              delay(host) says how long a visit would wait
    ArticleReader(fetcher, pace, *, executor=None, max_bytes, deadline, robots_deadline,
                  cpu_seconds, max_elements, max_wait, user_agent, clock)
        await read(url, site=None) -> Article  site: the feed's URL and/or its links' domain
                                              (a str or a sequence); pages elsewhere are
                                              "off_site". Raises ArticleUnavailable, nothing
                                              else for a bad page or host. executor: the parse
                                              worker pool (`bot.wiring.parse_executor`); None
                                              extracts inline (terminal commands only).
    article_key_points(text, title="") -> tuple[str, ...]
                                              2–4 whole sentences of the body, in the
                                              article's order

One `ArticleReader` and one `HostPace` per process (the reader caches robots.txt; the pace is
what the feed poller `note`s too). `Article.text` is not capped here: the caller keeps what it
stores (e.g. 20,000 characters). Tests can serve article pages with
`tests.fakes.article_site.ArticleHost` (hosts on 127.0.0.N, robots.txt, paywall and hostile
pages; the fetcher needs `public_only=False` for loopback).

Modules: `model` (the types), `teaser` (the rule), `pace`, `sites` (registrable domains),
`robots`, `reader` (fetching, imports aiohttp), `extract` (what a worker runs: decoding, the
element cap, the CPU bound, trafilatura, imported only there) and `keypoints`.
The domain's: no telegram, no sqlalchemy.
"""

from __future__ import annotations

from news.articles.keypoints import article_key_points
from news.articles.model import Article, ArticleUnavailable, UnavailableKind
from news.articles.pace import HostPace
from news.articles.reader import ArticleReader
from news.articles.teaser import TEASER_CHARS, needs_article

__all__ = [
    "TEASER_CHARS",
    "Article",
    "ArticleReader",
    "ArticleUnavailable",
    "HostPace",
    "UnavailableKind",
    "article_key_points",
    "needs_article",
]
