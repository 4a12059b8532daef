"""Text hygiene for stories: plain-text summaries, word-boundary cuts, canonical links."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SUMMARY_LIMIT = 300
# The most of a story's own text kept beside its summary, for the key points of its card.
BODY_LIMIT = 2_000
#: Plain text shorter than this is a teaser: a headline's worth, or a sentence or two.
TEASER_CHARS = 400
_WHITESPACE = re.compile(r"\s+")
# What a feed puts at the end of a cut text: "Continue reading…", "Read more", "[…]".
_STUB = re.compile(
    r"(?:continue\s+reading|read\s+(?:the\s+)?(?:more|full\s+(?:story|article))|"
    r"keep\s+reading|weiterlesen|mehr\s+lesen|lire\s+la\s+suite|leer\s+m[aá]s|"
    r"seguir\s+leyendo|читать\s+далее|читать\s+полностью|читати\s+далі|"
    r"\[\s*(?:…|\.\.\.)\s*\])[\s\W]*$",
    re.IGNORECASE,
)
# How far from the end a stub may stand (a link's text plus "The post … appeared first on …").
_STUB_WINDOW = 160
_TRACKING_PARAMS = frozenset({"fbclid", "gclid", "dclid", "mc_cid", "mc_eid", "yclid"})
_BLOCK_TAGS = frozenset(
    {"p", "br", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "blockquote"}
)
_SKIPPED_TAGS = frozenset({"script", "style", "noscript", "template", "head", "title"})


class _TextExtractor(HTMLParser):
    """Collects the visible text of an HTML fragment; block tags become spaces."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS and self._skipping:
            self._skipping -= 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def plain_text(fragment: str) -> str:
    """Visible text of an HTML fragment: tags dropped, entities decoded, white space folded."""
    if "<" not in fragment and "&" not in fragment:
        return _WHITESPACE.sub(" ", fragment).strip()
    extractor = _TextExtractor()
    extractor.feed(fragment)
    extractor.close()
    # A second unescape catches double-escaped feeds ("&amp;amp;"), common in the wild.
    text = html.unescape("".join(extractor.parts))
    return _WHITESPACE.sub(" ", text).strip()


def cut_at_word(text: str, limit: int = SUMMARY_LIMIT) -> str:
    """`text` shortened to at most `limit` characters at a word boundary, with an ellipsis."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    space = head.rfind(" ")
    if space > limit // 2:
        head = head[:space]
    return head.rstrip(" ,;:.-–—") + "…"


def canonical_link(url: str) -> str:
    """The link without fragment and tracking parameters (utm_*, fbclid, gclid…)."""
    parts = urlsplit(url.strip())
    query = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if not key.lower().startswith("utm_") and key.lower() not in _TRACKING_PARAMS
    ]
    return urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", urlencode(query), "")
    )


def is_web_url(url: str) -> bool:
    """True for absolute http(s) URLs with a host: the only links Newsbot stores or follows."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def is_teaser(plain: str) -> bool:
    """Whether a story's plain text is only a teaser of its article: under `TEASER_CHARS`
    characters, or ending in a "Continue reading" / "Read more" / "[…]" stub, however long."""
    if len(plain) < TEASER_CHARS:
        return True
    return _STUB.search(plain[-_STUB_WINDOW:]) is not None
