"""Telegram's text rules for the fake Bot API: its HTML parse mode and bot-command detection.

`parse_html` is a port of TDLib's `parse_html` (td/telegram/MessageEntity.cpp), which the Bot API
server uses for `parse_mode=HTML`: it yields the plain text and the Bot API `MessageEntity`
dicts (offsets and lengths in UTF-16 code units), or raises `HtmlParseError` with TDLib's own
wording ("Unsupported start tag "p" at byte offset 0", ...), which the Bot API reports as
`400 Bad Request: can't parse entities: <wording>`. Only `&lt;`, `&gt;`, `&amp;`, `&quot;` and
numeric character references are decoded; any other `&name;` stays literal text, as on Telegram.

`bot_command_entities` finds `bot_command` entities the way Telegram marks them in incoming
messages.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

SUPPORTED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)

# TDLib's sort order among entities starting at the same offset with the same length.
_TYPE_PRIORITY: dict[str, int] = {
    "blockquote": 0,
    "expandable_blockquote": 0,
    "pre": 11,
    "code": 20,
    "text_link": 49,
    "text_mention": 49,
    "bold": 90,
    "italic": 91,
    "underline": 92,
    "strikethrough": 93,
    "spoiler": 94,
    "custom_emoji": 99,
}

_SIMPLE_TAG_TYPES: dict[str, str] = {
    "i": "italic",
    "em": "italic",
    "b": "bold",
    "strong": "bold",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "u": "underline",
    "ins": "underline",
    "tg-spoiler": "spoiler",
    "span": "spoiler",  # only <span class="tg-spoiler"> is accepted
}

_NAMED_ENTITIES: dict[bytes, int] = {b"lt": 0x3C, b"gt": 0x3E, b"amp": 0x26, b"quot": 0x22}

_LINK_SCHEMES = frozenset({"http", "https", "tg", "ton", "tonsite"})

_BOT_COMMAND = re.compile(
    r"(?<![\w/<>])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32}(?![\w/<>])|(?![\w/<>@]))"
)


class HtmlParseError(ValueError):
    """The text is not valid Telegram HTML; `str(error)` is TDLib's description."""


def utf16_len(text: str) -> int:
    """Length of `text` in UTF-16 code units, the unit of Bot API entity offsets."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def bot_command_entities(text: str) -> list[dict[str, Any]]:
    """The `bot_command` entities Telegram attaches to an incoming message with this text."""
    return [
        {
            "type": "bot_command",
            "offset": utf16_len(text[: match.start()]),
            "length": utf16_len(match.group()),
        }
        for match in _BOT_COMMAND.finditer(text)
    ]


def _is_space(byte: int) -> bool:
    # TDLib's is_space() also treats the terminating NUL as a space.
    return byte in b" \t\r\n\0\v\f"


def _is_alnum(byte: int) -> bool:
    return 0x30 <= byte <= 0x39 or 0x41 <= byte <= 0x5A or 0x61 <= byte <= 0x7A


def _decode_entity(data: bytes, pos: int) -> tuple[int, int]:
    """Decode the character reference at `data[pos] == '&'`: (code point or 0, next position)."""
    size = len(data)

    def at(index: int) -> int:
        return data[index] if index < size else 0

    end = pos + 1
    code = 0
    if at(pos + 1) == 0x23:  # '#'
        end += 1
        if at(pos + 2) == 0x78:  # 'x'
            end += 1
            while chr(at(end)) in "0123456789abcdefABCDEF" and at(end) != 0:
                code = code * 16 + int(chr(at(end)), 16)
                end += 1
        else:
            while 0x30 <= at(end) <= 0x39:
                code = code * 10 + at(end) - 0x30
                end += 1
        if code == 0 or code >= 0x10FFFF or end - pos >= 10:
            return 0, pos
    else:
        while chr(at(end)).isascii() and chr(at(end)).isalpha():
            end += 1
        named = _NAMED_ENTITIES.get(data[pos + 1 : end])
        if named is None:
            return 0, pos
        code = named
    if at(end) == 0x3B:  # ';'
        end += 1
    return code, end


def _checked_link(url: str) -> str | None:
    """A simplified `LinkManager::get_checked_link`: normalise the URL or reject it."""
    url = url.strip()
    if not url:
        return None
    if "://" not in url and not url.lower().startswith(("tg:", "ton:")):
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme.lower() not in _LINK_SCHEMES:
        return None
    if parts.scheme.lower() in ("http", "https"):
        if not parts.netloc or any(c.isspace() for c in url):
            return None
        if not parts.path:
            url = parts._replace(path="/").geturl()
    return url


def _link_entity(url: str, offset: int, length: int) -> dict[str, Any] | None:
    match = re.fullmatch(r"tg://user\?id=(\d+)", url.strip())
    if match:
        user = {"id": int(match.group(1)), "is_bot": False, "first_name": ""}
        return {"type": "text_mention", "offset": offset, "length": length, "user": user}
    checked = _checked_link(url)
    if checked is None:
        return None
    return {"type": "text_link", "offset": offset, "length": length, "url": checked}


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram HTML into (plain text, Bot API entities); raise `HtmlParseError`."""
    data = text.encode("utf-8", "surrogatepass")
    size = len(data)

    def at(index: int) -> int:
        return data[index] if index < size else 0

    out = bytearray()
    utf16_offset = 0
    entities: list[dict[str, Any]] = []
    # (tag name, argument, entity start in UTF-16 units, entity start in `out`)
    nested: list[tuple[str, str, int, int]] = []

    i = 0
    while i < size:
        byte = data[i]
        if byte == 0x26:  # '&'
            code, end = _decode_entity(data, i)
            if code:
                utf16_offset += 2 if code > 0xFFFF else 1
                out += chr(code).encode("utf-8", "surrogatepass")
                i = end
                continue
        if byte != 0x3C:  # not '<'
            if byte & 0xC0 != 0x80:  # first byte of a UTF-8 sequence
                utf16_offset += 2 if byte >= 0xF0 else 1
            out.append(byte)
            i += 1
            continue

        begin = i
        i += 1
        if at(i) != 0x2F:  # a start tag
            while not _is_space(at(i)) and at(i) != 0x3E:
                i += 1
            if at(i) == 0:
                raise HtmlParseError(f"Unclosed start tag at byte offset {begin}")
            tag = data[begin + 1 : i].decode("utf-8", "replace").lower()
            if tag not in SUPPORTED_TAGS:
                raise HtmlParseError(f'Unsupported start tag "{tag}" at byte offset {begin}')

            argument = ""
            while at(i) != 0x3E:
                while at(i) != 0 and _is_space(at(i)):
                    i += 1
                if at(i) == 0x3E:
                    break
                name_begin = i
                # TDLib stops at '=' only; stopping at '>' too is what lets the valueless
                # `<blockquote expandable>` through (error messages stay the same).
                while not _is_space(at(i)) and at(i) not in (0x3D, 0x3E):
                    i += 1
                name = data[name_begin:i].decode("utf-8", "replace")
                if not name:
                    raise HtmlParseError(
                        f'Empty attribute name in the tag "{tag}" at byte offset {begin}'
                    )
                while at(i) != 0 and _is_space(at(i)):
                    i += 1
                if at(i) != 0x3D:  # '='
                    if tag == "blockquote" and name == "expandable":
                        argument = "1"
                        continue
                    raise HtmlParseError(
                        "Expected equal sign in declaration of an attribute of the tag "
                        f'"{tag}" at byte offset {begin}'
                    )
                i += 1
                while at(i) != 0 and _is_space(at(i)):
                    i += 1
                if at(i) == 0:
                    raise HtmlParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')

                if at(i) not in (0x22, 0x27):  # a name token
                    token_begin = i
                    while _is_alnum(at(i)) or at(i) in (0x2E, 0x2D):
                        i += 1
                    value = data[token_begin:i].decode("ascii").lower()
                    if not _is_space(at(i)) and at(i) != 0x3E:
                        raise HtmlParseError(
                            f"Unexpected end of name token at byte offset {token_begin}"
                        )
                else:  # a quoted string
                    quote = at(i)
                    i += 1
                    raw = bytearray()
                    while at(i) != quote and at(i) != 0:
                        if at(i) == 0x26:
                            code, end = _decode_entity(data, i)
                            if code:
                                raw += chr(code).encode("utf-8", "surrogatepass")
                                i = end
                                continue
                        raw.append(at(i))
                        i += 1
                    if at(i) == quote:
                        i += 1
                    value = raw.decode("utf-8", "replace")
                if at(i) == 0:
                    raise HtmlParseError(f"Unclosed start tag at byte offset {begin}")

                if (tag == "a" and name == "href") or (tag == "tg-emoji" and name == "emoji-id"):
                    argument = value
                elif tag == "code" and name == "class" and value.startswith("language-"):
                    argument = value[len("language-") :]
                elif tag == "span" and name == "class" and value.startswith("tg-"):
                    argument = value[len("tg-") :]

            if tag == "span" and argument != "spoiler":
                raise HtmlParseError(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {begin}'
                )
            nested.append((tag, argument, utf16_offset, len(out)))
            i += 1  # skip '>'
            continue

        # an end tag
        if not nested:
            raise HtmlParseError(f"Unexpected end tag at byte offset {begin}")
        while not _is_space(at(i)) and at(i) != 0x3E:
            i += 1
        end_tag = data[begin + 2 : i].decode("utf-8", "replace").lower()
        while _is_space(at(i)) and at(i) != 0:
            i += 1
        if at(i) != 0x3E:
            raise HtmlParseError(f"Unclosed end tag at byte offset {begin}")
        tag, argument, entity_offset, entity_begin = nested[-1]
        if end_tag and end_tag != tag:
            raise HtmlParseError(
                f'Unmatched end tag at byte offset {begin}, expected "</{tag}>", '
                f'found "</{end_tag}>"'
            )
        length = utf16_offset - entity_offset
        if length > 0:
            _close_entity(entities, tag, argument, entity_offset, length, out[entity_begin:])
        nested.pop()
        i += 1  # skip '>'

    if nested:
        raise HtmlParseError(
            f"Can't find end tag corresponding to start tag {nested[-1][0]}"  # sic: no quotes
        )
    try:
        plain = out.decode("utf-8")
    except UnicodeDecodeError:
        raise HtmlParseError(
            "Text contains invalid Unicode characters after decoding HTML entities, check for "
            "unmatched surrogate code units"
        ) from None
    for entity in entities:
        entity.pop("_argument", None)
    entities.sort(key=lambda e: (e["offset"], -e["length"], _TYPE_PRIORITY.get(e["type"], 50)))
    return plain, entities


def _close_entity(
    entities: list[dict[str, Any]],
    tag: str,
    argument: str,
    offset: int,
    length: int,
    inner: bytearray,
) -> None:
    last = entities[-1] if entities else None
    same_range = last is not None and last["offset"] == offset and last["length"] == length
    if tag in _SIMPLE_TAG_TYPES:
        entities.append({"type": _SIMPLE_TAG_TYPES[tag], "offset": offset, "length": length})
    elif tag == "tg-emoji":
        if not argument.isdigit() or int(argument) == 0:
            raise HtmlParseError("Invalid custom emoji identifier specified")
        entities.append(
            {
                "type": "custom_emoji",
                "offset": offset,
                "length": length,
                "custom_emoji_id": argument,
            }
        )
    elif tag == "a":
        url = argument or inner.decode("utf-8", "replace")
        entity = _link_entity(url, offset, length)
        if entity is not None:
            entities.append(entity)
    elif tag == "pre":
        if last is not None and same_range and last["type"] == "code" and last.get("_argument"):
            last["type"] = "pre"
            last["language"] = last.pop("_argument")
        else:
            entities.append({"type": "pre", "offset": offset, "length": length})
    elif tag == "code":
        if last is not None and same_range and last["type"] == "pre" and argument:
            last["language"] = argument
        else:
            entities.append(
                {"type": "code", "offset": offset, "length": length, "_argument": argument}
            )
    elif tag == "blockquote":
        kind = "expandable_blockquote" if argument else "blockquote"
        entities.append({"type": kind, "offset": offset, "length": length})
