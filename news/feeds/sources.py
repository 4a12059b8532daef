"""Sources files: OPML or one feed URL per line, read into a list of URLs or a clear error;
what syncing one into the database changes (`plan_sync`: never a deletion); and the OPML
export of the sources the bot reads."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from pathlib import Path

from news.errors import SourceError
from news.feeds.safety import strip_doctype
from news.feeds.text import is_web_url
from news.model import Source, SourcesPlan

# A comment after a URL needs white space before "#": URLs may carry fragments.
_TRAILING_COMMENT = re.compile(r"\s+#.*$")


def parse_sources_text(text: str, *, origin: str = "sources file") -> list[str]:
    """Feed URLs in a sources file's text: OPML outlines, or one URL per line (# comments)."""
    if text.lstrip().startswith("<"):
        return _parse_opml(text, origin)
    urls = []
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = _TRAILING_COMMENT.sub("", raw_line).strip()
        if not line or line.startswith("#"):
            continue
        if not is_web_url(line):
            raise SourceError(f"{origin}, line {number}: {line!r} is not an http(s) URL")
        urls.append(line)
    return list(dict.fromkeys(urls))


def _parse_opml(text: str, origin: str) -> list[str]:
    try:
        root = ElementTree.fromstring(strip_doctype(text.encode("utf-8")))
    except ElementTree.ParseError as exc:
        raise SourceError(f"{origin} is not valid OPML: {exc}") from exc
    urls = []
    for outline in root.iter("outline"):
        url = (outline.get("xmlUrl") or "").strip()
        if not url:
            continue
        if not is_web_url(url):
            raise SourceError(f"{origin}: outline xmlUrl {url!r} is not an http(s) URL")
        urls.append(url)
    return list(dict.fromkeys(urls))


def read_sources_file(path: Path) -> list[str]:
    """Feed URLs listed in the file at `path`; `SourceError` when it is missing or malformed."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SourceError(f"sources file {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"sources file {path} cannot be read: {exc}") from exc
    return parse_sources_text(text, origin=str(path))


def to_opml(sources: Sequence[Source], *, title: str = "Newsbot sources") -> str:
    """An OPML 2.0 document listing `sources`, as feed readers import it."""
    root = ElementTree.Element("opml", version="2.0")
    head = ElementTree.SubElement(root, "head")
    ElementTree.SubElement(head, "title").text = title
    body = ElementTree.SubElement(root, "body")
    for source in sources:
        ElementTree.SubElement(
            body, "outline", type="rss", text=source.name, title=source.name, xmlUrl=source.url
        )
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(
        root, encoding="unicode"
    )


def plan_sync(listed: Sequence[str], known: Sequence[Source]) -> SourcesPlan:
    """What syncing the file-listed `listed` URLs into the `known` sources would change.

    Sources added by hand (`origin` "user") are the user's: a file never disables them. A
    source disabled for another reason than leaving the file (removed by an admin, gone) stays
    disabled when the file lists it: only `newsbot sources add` or /addsource brings it back.
    """
    wanted = dict.fromkeys(listed)
    by_url = {source.url: source for source in known}
    leaving = [
        source
        for source in known
        if source.origin == "file" and source.enabled and source.url not in wanted
    ]
    return SourcesPlan(
        added=tuple(url for url in wanted if url not in by_url),
        restored=tuple(
            url
            for url in wanted
            if url in by_url
            and not by_url[url].enabled
            and by_url[url].disabled_reason == "unlisted"
        ),
        unlisted=tuple(source.url for source in leaving),
        kept_stories=sum(source.stories_count for source in leaving),
    )
