"""From a page's bytes to its article: decoding, limits, trafilatura. Runs in a parse worker.

`extract_article` is what a worker process runs (`news.feeds.offload`'s pool, or inline for the
terminal command): it decodes the page, refuses markup over `MAX_ELEMENTS` elements before
parsing any of it, and runs trafilatura under a CPU-time bound, returning an `Article` or a
`Refusal` (values: they cross the process boundary by pickle, which exceptions with keyword
arguments do not).

Decoding, as browsers do: a byte order mark wins, then the Content-Type header's charset, then a
`<meta charset>` (or `http-equiv`) in the first 4 KB, then UTF-8 if the bytes are valid UTF-8,
then charset_normalizer's guess (trafilatura's own dependency). trafilatura is given text, never
a URL, so it fetches nothing; it runs without its fallback extractors (`fast=True`) and with the
balance of precision and recall it has by default (on the benchmark pages `favor_precision`
cut recall more than it gained), comments and tables left out.

The CPU bound is an interval timer on the process's CPU time (`ITIMER_VIRTUAL`), armed around
decoding and extraction when they run on a process's main thread (a worker's or the terminal
command's); nothing is imported while it is armed.
"""

from __future__ import annotations

import codecs
import functools
import html
import itertools
import re
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import cast

from news.articles.keypoints import article_key_points
from news.articles.model import Article, UnavailableKind

#: A page with more elements than this is refused before it is parsed.
MAX_ELEMENTS = 40_000
#: CPU seconds one page's extraction may take.
CPU_SECONDS = 10.0
# CPU seconds between a lost signal (see `cpu_bound`) and the next.
_REFIRE = 0.05
#: Less article text than this is no article (a JavaScript shell, a gallery, a login form).
MIN_ARTICLE_CHARS = 250
#: A page marked or worded as paywalled that shows less text than this shows only a stub.
PAYWALL_STUB_CHARS = 1200

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
_META_CHARSET = re.compile(
    rb"<meta[^>]+charset\s*=\s*[\"']?\s*([\w.:-]+)|"
    rb"<meta[^>]+content\s*=\s*[\"'][^\"'>]*charset\s*=\s*([\w.:-]+)",
    re.IGNORECASE,
)
_ELEMENT = re.compile(r"<[A-Za-z]")
_TITLE_PATTERNS = (
    re.compile(
        r"<meta\s[^>]*?property\s*=\s*[\"']og:title[\"'][^>]*?content\s*=\s*\"([^\"]*)\"",
        re.IGNORECASE,
    ),
    re.compile(
        r"<meta\s[^>]*?content\s*=\s*\"([^\"]*)\"[^>]*?property\s*=\s*[\"']og:title[\"']",
        re.IGNORECASE,
    ),
    re.compile(r"<h1[^>]*>(.*?)</h1>", re.IGNORECASE | re.DOTALL),
    re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL),
)
_TAG = re.compile(r"<[^>]*>")
_SUBSCRIBE = re.compile(
    r"subscribe (?:now )?to (?:continue|keep) reading|subscribe to read|subscribers only|"
    r"already a subscriber|to continue reading,? (?:subscribe|log in|sign in)|"
    r"this (?:article|content) is (?:for|reserved for|available to) "
    r"(?:paying )?(?:subscribers|members)",
    re.IGNORECASE,
)
# schema.org's mark of paywalled content, as Google asks publishers to set it.
_NOT_FREE = re.compile(r"[\"']isAccessibleForFree[\"']\s*:\s*[\"']?false", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a page gave no article: a kind and a one-line reason."""

    kind: UnavailableKind
    message: str


class _OverCpu(Exception):
    pass


def decode_page(body: bytes, content_type: str | None = None) -> str:
    """`body` as text, in the encoding a browser would read it in."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(codec, errors="replace")
    declared = _charset(content_type or "")
    if declared is None:
        if body[:2] in (b"<\x00", b"\x00<"):  # UTF-16 without a byte order mark
            declared = "utf-16-le" if body[0] == ord("<") else "utf-16-be"
        else:
            found = _META_CHARSET.search(body[:4096])
            if found:
                declared = _codec((found.group(1) or found.group(2)).decode("ascii", "replace"))
                if declared is not None and declared.startswith("utf-16"):
                    declared = "utf-8"  # a meta tag read in ASCII bytes cannot be UTF-16
    if declared is not None:
        return body.decode(declared, errors="replace")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        from charset_normalizer import from_bytes

        best = from_bytes(body[:200_000]).best()
        return body.decode(best.encoding if best else "windows-1252", errors="replace")


def _charset(content_type: str) -> str | None:
    found = _HEADER_CHARSET.search(content_type)
    return _codec(found.group(1)) if found else None


def _codec(name: str) -> str | None:
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        return None
    # As the WHATWG encoding standard reads them: latin-1 and ASCII mean windows-1252.
    return "cp1252" if codec in ("latin-1", "iso8859-1", "ascii") else codec


def page_title(page: str) -> str:
    """The page's headline: og:title, else its first h1, else its <title>."""
    head = page[:200_000]
    for pattern in _TITLE_PATTERNS:
        found = pattern.search(head)
        if found:
            title = " ".join(html.unescape(_TAG.sub(" ", found.group(1))).split())
            if title:
                return title
    return ""


@contextmanager
def cpu_bound(seconds: float) -> Iterator[None]:
    """Raise `_OverCpu` in the block once it has used `seconds` of CPU (main thread only).

    A signal handler's exception is lost when the signal arrives while a destructor or a weakref
    callback runs (Python reports it as "unraisable" and goes on), so the timer fires again
    every `_REFIRE` seconds of CPU until the block is left, and such lost ones are not reported.
    """
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        return

    armed = True
    report_unraisable = sys.unraisablehook

    def over(signum: int, frame: FrameType | None) -> None:
        if armed:  # a signal handled just after the block must not raise outside it
            raise _OverCpu

    def unraisable(args: sys.UnraisableHookArgs) -> None:
        if args.exc_type is not _OverCpu:
            report_unraisable(args)

    previous = signal.signal(signal.SIGVTALRM, over)
    sys.unraisablehook = unraisable
    signal.setitimer(signal.ITIMER_VIRTUAL, seconds, _REFIRE)
    try:
        yield
    finally:
        armed = False
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, previous)
        sys.unraisablehook = report_unraisable


def extract_article(
    body: bytes,
    *,
    url: str,
    content_type: str | None = None,
    cpu_seconds: float = CPU_SECONDS,
    max_elements: int = MAX_ELEMENTS,
) -> Article | Refusal:
    """The article in the page `body` fetched from `url`, or why there is none.

    Only decoding and extraction run under the CPU bound. Everything they import is imported
    (and trafilatura run once) before it is armed: an import cut short by the timer would leave
    its modules half made for the life of the worker. The key points, whose cost is bounded by
    `news.articles.keypoints.CANDIDATES`, are ranked after it.
    """
    parse_error = _prepare()
    try:
        with cpu_bound(cpu_seconds):
            extracted = _extract(body, url, content_type, max_elements)
    except _OverCpu:
        return Refusal("timeout", f"reading the page took over {cpu_seconds:g} s of CPU time")
    except (parse_error, ValueError, RecursionError, MemoryError) as error:
        # The parsers' complaints about markup they cannot take: this page has no article for
        # us, the next page may.
        return Refusal("no_text", f"the page could not be read ({type(error).__name__})")
    if isinstance(extracted, Refusal):
        return extracted
    title, text = extracted
    return Article(url=url, title=title, text=text, key_points=article_key_points(text, title))


@functools.cache
def _prepare() -> type[Exception]:
    """Import what extraction needs and run it once (its lazy set-up); lxml's error class."""
    import charset_normalizer  # noqa: F401 - decode_page's last resort, imported before the bound
    import trafilatura  # here, in the worker: the bot's process never loads it
    from lxml.etree import LxmlError

    trafilatura.extract("<html><body><article><p>Ready.</p></article></body></html>", fast=True)
    article_key_points("The first sentence is here for the ranker. Then a second one.", "")
    return cast(type[Exception], LxmlError)


def _extract(
    body: bytes, url: str, content_type: str | None, max_elements: int
) -> tuple[str, str] | Refusal:
    """(title, text) of the page's article, or why there is none."""
    import trafilatura  # imported already (`_prepare`): a look-up in sys.modules

    page = decode_page(body, content_type)
    if sum(1 for _ in itertools.islice(_ELEMENT.finditer(page), max_elements + 1)) > max_elements:
        return Refusal(
            "too_complex", f"the page has over {max_elements:,} HTML elements; no article does"
        )
    text = trafilatura.extract(
        page,
        url=url,
        output_format="txt",
        fast=True,
        include_comments=False,
        include_tables=False,
        include_images=False,
        include_links=False,
        deduplicate=False,
        with_metadata=False,
    )
    title = page_title(page)
    text = _tidy(text or "", title)
    if len(text) < PAYWALL_STUB_CHARS and (_NOT_FREE.search(page) or _SUBSCRIBE.search(text)):
        # Marked for subscribers, or asking for a subscription, with only a stub shown to us.
        # (A page marked so that shows us the whole article is read: nothing is circumvented.)
        return Refusal("paywall", "the article is for subscribers only")
    if len(text) < MIN_ARTICLE_CHARS:
        return Refusal("no_text", "the page has no article text (it may need JavaScript)")
    return title, text


def _tidy(text: str, title: str) -> str:
    """One paragraph a line, spaces folded, empty lines dropped, the headline not repeated."""
    lines = [folded for line in text.splitlines() if (folded := " ".join(line.split()))]
    if lines and title and lines[0].casefold() == title.casefold():
        del lines[0]
    return "\n".join(lines)
