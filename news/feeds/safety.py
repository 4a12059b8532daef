"""Defences against hostile feeds and hostile source URLs.

**XML entities.** feedparser 6.0.14 keeps the "safe-looking" entity declarations of a DOCTYPE
and, when the strict parser gives up, its lenient parser expands them without any limit: one
100 KB entity used a few thousand times makes gigabytes. `strip_doctype` therefore removes the
whole DOCTYPE declaration, internal subset included, from the document's prolog *before*
feedparser sees the bytes. With no declarations left there is nothing to expand (billion laughs,
one huge entity) and nothing to fetch (XXE, external DTDs); references to the now undeclared
entities stay as literal text. Feeds need no DTD: the only real-world use, RSS 0.91's Netscape
DOCTYPE, declares HTML entities that feedparser's lenient parser knows anyway.

Why not defusedxml: it detects the same constructs, but only by parsing the document an extra
time, and then the feed is refused, while stripping costs a scan of the prolog and still reads
the feed. The prolog is scanned in the document's own encoding (UTF-16 and UTF-32 are decoded
and re-encoded with their byte order mark), so a DOCTYPE cannot hide behind an encoding.

**Addresses.** A source a user or an admin adds must not make the bot fetch from inside its own
network (SSRF): `check_public_host` refuses hosts that resolve to loopback, private,
link-local, multicast or reserved addresses, also when written inside an IPv6 address that
leads to them (6to4, Teredo, NAT64).
"""

from __future__ import annotations

import asyncio
import codecs
import ipaddress
import re
import socket
from urllib.parse import urlsplit

from news.errors import SourceError

_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_DOCTYPE = re.compile(rb"<!doctype", re.IGNORECASE)
# "<?" in each wide encoding, for documents without a byte order mark.
_WIDE_STARTS = (
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00?\x00", "utf-16-le"),
    (b"\x00<\x00?", "utf-16-be"),
)


def strip_doctype(body: bytes) -> bytes:
    """`body` without its DOCTYPE declaration (and internal subset); unchanged if it has none."""
    for bom, codec in _WIDE_BOMS:
        if body.startswith(bom):
            return _strip_wide(body, codec)
    for start, codec in _WIDE_STARTS:
        if body.startswith(start):
            return _strip_wide(body, codec)
    if b"<!" not in body[: _prolog_end(body)]:
        return body
    return _strip_prolog(body)


def _strip_wide(body: bytes, codec: str) -> bytes:
    """Strip in the decoded text; re-encode as it came ("utf-16"/"utf-32" write a BOM)."""
    utf8 = body.decode(codec, errors="replace").encode("utf-8", errors="replace")
    stripped = _strip_prolog(utf8)
    if len(stripped) == len(utf8):
        return body
    return stripped.decode("utf-8").encode(codec)


def _prolog_end(body: bytes) -> int:
    """Index of the root element's "<" (where the prolog ends), or len(body)."""
    position = 0
    while True:
        position = body.find(b"<", position)
        if position < 0 or position + 1 >= len(body):
            return len(body)
        following = body[position + 1 : position + 2]
        if following.isalpha() or following in (b"_", b":"):
            return position
        position += 1


def _strip_prolog(body: bytes) -> bytes:
    """Remove every `<!DOCTYPE …>` before the root element, quotes and `[…]` respected."""
    out = bytearray()
    position = 0
    while True:
        root = _prolog_end(body[position:]) + position
        found = _DOCTYPE.search(body, position, root)
        if found is None:
            out += body[position:]
            return bytes(out)
        out += body[position : found.start()]
        position = _declaration_end(body, found.end())


def _declaration_end(body: bytes, position: int) -> int:
    """Index just past the `>` closing a DOCTYPE declaration that began before `position`."""
    quote: int | None = None
    depth = 0
    for index in range(position, len(body)):
        byte = body[index]
        if quote is not None:
            if byte == quote:
                quote = None
        elif byte in (0x22, 0x27):  # " '
            quote = byte
        elif byte == 0x5B:  # [
            depth += 1
        elif byte == 0x5D:  # ]
            depth = max(depth - 1, 0)
        elif byte == 0x3E and depth == 0:  # >
            return index + 1
    return len(body)


# Prefixes whose addresses carry an IPv4 address in their last 32 bits and reach it: NAT64's
# well-known and local-use prefixes, and the deprecated IPv4-compatible form.
_NAT64 = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),
    ipaddress.IPv6Network("::/96"),
)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 addresses an IPv6 address leads to: mapped, 6to4, Teredo, NAT64; else none."""
    if ip.ipv4_mapped is not None:
        return (ip.ipv4_mapped,)
    if ip.sixtofour is not None:
        return (ip.sixtofour,)
    if ip.teredo is not None:
        return ip.teredo  # (server, client): a packet goes through one to the other
    if int(ip) > 1 and any(ip in network for network in _NAT64):
        return (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF),)
    return ()


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast address (not loopback, private, link-local...).

    An IPv6 address that embeds an IPv4 address it leads to (IPv4-mapped, 6to4 `2002::/16`,
    Teredo `2001::/32`, NAT64 `64:ff9b::/96`) is judged by that IPv4 address: `2002:7f00:1::`
    is loopback.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded:
            return all(_is_public(inner) for inner in embedded)
    return _is_public(ip)


async def check_public_host(url: str) -> None:
    """Raise `SourceError` unless every address `url`'s host resolves to is public."""
    host = urlsplit(url).hostname
    if not host:
        raise SourceError(f"{url} has no host")
    port = urlsplit(url).port or (443 if url.startswith("https") else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise SourceError(f"the host {host} cannot be resolved: {exc}") from exc
    for info in infos:
        address = str(info[4][0])
        if not is_public_address(address):
            raise SourceError(
                f"{host} resolves to {address}, a loopback, private or link-local address; "
                "such sources are refused unless NEWSBOT_ALLOW_PRIVATE_SOURCES=1"
            )
