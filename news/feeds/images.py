"""The image a story shows: chosen from what its feed names, made safe to store and to hand on.

Feeds name a story's picture in many places. In order of preference:

1. `media:content` that is an image (`medium="image"`, an `image/*` type, or an image file
   name), the widest first when widths are given;
2. `media:thumbnail`;
3. an enclosure (RSS `<enclosure>`, Atom `rel="enclosure"`) of an `image/*` type;
4. JSON Feed's `image`, then its `banner_image`;
5. the first `<img>` of the story's own HTML that is not a tracking pixel.

The parsers (`news.feeds.parse`, `news.feeds._jsonfeed`) list the candidates in that order;
`story_image` takes the first that is fit to keep: an absolute http(s) URL (a relative one is
resolved against the entry's link), without credentials, fragment, white space or control
characters, and no longer than the column that keeps it. Anything else is no image: a feed's
hostile value never fails its story, it only costs the picture.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit, urlunsplit

from news.feeds.fitting import URL_LIMIT, clean_text

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif", ".bmp")
# Characters no URL carries as they are; a space inside a path is quoted instead.
_UNSAFE = re.compile(r"[\x00-\x20\x7f-\x9f\s]")
# Images this small are tracking pixels or spacers, not the story's picture.
_PIXEL_SIZES = frozenset({"0", "1", "1px", "0px"})
# The first <img> is looked for in this much of a story's HTML: a picture comes early.
_HTML_SCANNED = 20_000


def _number(value: object) -> int:
    text = str(value).strip() if isinstance(value, str | int) else ""
    return int(text) if text.isascii() and text.isdigit() and len(text) < 7 else 0


def is_image(medium: object, mime_type: object, url: object) -> bool:
    """Whether a media reference names an image: by its medium, its type, or its file name."""
    if isinstance(medium, str) and medium.strip():
        return medium.strip().lower() == "image"
    if isinstance(mime_type, str) and mime_type.strip():
        return mime_type.strip().lower().startswith("image/")
    if not isinstance(url, str):
        return False
    path = url.split("?", 1)[0].split("#", 1)[0].lower()
    return path.endswith(_IMAGE_SUFFIXES)


def media_images(media: Iterable[Mapping[str, object]]) -> list[str]:
    """The image URLs of `media:content` elements (feedparser's dicts), the widest first."""
    found = [
        (-_number(item.get("width")), position, str(item["url"]))
        for position, item in enumerate(media)
        if isinstance(item, Mapping)
        and isinstance(item.get("url"), str)
        and is_image(item.get("medium"), item.get("type"), item.get("url"))
    ]
    return [url for _, _, url in sorted(found)]


class _FirstImage(HTMLParser):
    """Finds the `src` of the first `<img>` that is not a pixel."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.src: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.src is not None or tag != "img":
            return
        values = {name: value or "" for name, value in attrs}
        if values.get("width", "").strip() in _PIXEL_SIZES:
            return
        if values.get("height", "").strip() in _PIXEL_SIZES:
            return
        src = values.get("src", "").strip()
        if src and not src.lower().startswith("data:"):
            self.src = src


def first_image(html: str) -> str | None:
    """The `src` of the first real `<img>` in an HTML fragment, as written; None without one."""
    head = html[:_HTML_SCANNED]
    if "<img" not in head.lower():
        return None
    finder = _FirstImage()
    try:
        finder.feed(head)
        finder.close()
    except (AssertionError, ValueError):  # html.parser on broken markup in older Pythons
        return finder.src
    return finder.src


def fit_image_url(candidate: str, base: str) -> str | None:
    """`candidate` as an absolute http(s) URL fit to store and to give Telegram; else None."""
    value = clean_text(candidate).strip()
    if not value or len(value) > URL_LIMIT:
        return None
    value = value.replace(" ", "%20")
    if _UNSAFE.search(value):
        return None
    try:
        absolute = urljoin(base, value) if base else value
        parts = urlsplit(absolute)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    # Credentials would reach Telegram and every reader's client: the host alone is kept.
    netloc = parts.netloc.rpartition("@")[2]
    if not netloc or _UNSAFE.search(netloc):
        return None
    fitted = urlunsplit((parts.scheme.lower(), netloc.lower(), parts.path, parts.query, ""))
    # A relative candidate takes the path of `base` (the entry's link, as the feed wrote it),
    # which may carry white space or control characters of its own.
    if len(fitted) > URL_LIMIT or _UNSAFE.search(fitted):
        return None
    return fitted


def story_image(candidates: Iterable[str], base: str) -> str | None:
    """The first of `candidates` (best first, see the module) that is fit to keep, or None.

    `base` is the entry's link (else the feed's URL): relative image URLs are resolved
    against it."""
    for candidate in candidates:
        if isinstance(candidate, str):
            fitted = fit_image_url(candidate, base)
            if fitted is not None:
                return fitted
    return None
