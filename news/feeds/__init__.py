"""Feeds: from a source's URL to fitted story drafts, safely.

Exported here (light, no third-party weight): the defences against hostile hosts and markup
(`safety`), text hygiene (`text`), fitting values to what storage keeps (`fitting`), a story's
image (`images`) and sources files (`sources`). Public modules imported by their own path,
because they load aiohttp, feedparser or worker processes that a terminal command should not pay
for: `news.feeds.fetch` (the HTTP client), `news.feeds.parse` (the only feedparser import),
`news.feeds.discovery` (finding the feed a page advertises) and `news.feeds.offload` (parsing in
worker processes). `_jsonfeed` and `_language` are the parser's own helpers.
"""

from __future__ import annotations

from news.feeds.fitting import (
    EARLIEST,
    ENTRY_ID_LIMIT,
    LANGUAGE_LIMIT,
    URL_LIMIT,
    bounded_int,
    fit_draft,
    fit_language,
    fit_record,
)
from news.feeds.images import first_image, fit_image_url, media_images, story_image
from news.feeds.safety import check_public_host, is_public_address, strip_doctype
from news.feeds.sources import parse_sources_text, plan_sync, read_sources_file, to_opml
from news.feeds.text import canonical_link, cut_at_word, is_web_url, plain_text

__all__ = [
    "EARLIEST",
    "ENTRY_ID_LIMIT",
    "LANGUAGE_LIMIT",
    "URL_LIMIT",
    "bounded_int",
    "canonical_link",
    "check_public_host",
    "cut_at_word",
    "first_image",
    "fit_draft",
    "fit_image_url",
    "fit_language",
    "fit_record",
    "is_public_address",
    "is_web_url",
    "media_images",
    "parse_sources_text",
    "plain_text",
    "plan_sync",
    "read_sources_file",
    "story_image",
    "strip_doctype",
    "to_opml",
]
