"""A story's own site: the registrable domains its pages may be read from.

The bot reads a page only on the site of the story's feed (the feed URL's registrable domain)
or of the domain the feed's links point at, so that it is no open proxy: a feed cannot make it
fetch any page on the web. The registrable domain ("bbc.co.uk" for "feeds.bbci.co.uk" is
"bbci.co.uk"; "www.bbc.co.uk" is "bbc.co.uk") comes from the Public Suffix List as the `tld`
package ships it; nothing is downloaded at run time. An IP address or a single-label name
("localhost") is its own site.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from urllib.parse import urlsplit


def host_of(url_or_host: str) -> str:
    """The lower-case host of a URL, or `url_or_host` itself when it is a bare host name."""
    text = url_or_host.strip()
    try:
        host = urlsplit(text if "://" in text else f"//{text}").hostname
    except ValueError:  # "http://[oops/": no host to speak of
        return ""
    return (host or "").rstrip(".").lower()


@functools.lru_cache(maxsize=4096)
def registrable_domain(host: str) -> str:
    """`host`'s registrable domain ("news.example.co.uk" → "example.co.uk"); an IP address, a
    single label or a host under no known suffix is its own."""
    from tld import get_fld  # the suffix list is read on first use, not at import

    if not host:
        return ""
    found = get_fld(host, fix_protocol=True, fail_silently=True)
    return str(found).lower() if found else host


def site_domains(sites: Iterable[str]) -> frozenset[str]:
    """The registrable domains of `sites` (URLs or host names)."""
    return frozenset(domain for site in sites if (domain := registrable_domain(host_of(site))))


def on_site(url: str, domains: frozenset[str]) -> bool:
    """Whether `url`'s host belongs to one of the registrable `domains`."""
    return registrable_domain(host_of(url)) in domains
