"""The example topics the bot's texts give, in each language, and the stories they are tried on.

An example is what a text tells the reader to type as a topic: `<code>peace talks</code>` in
/help, "/subscribe ukraine" in /start, "Try for example: ukraine, …" in an error, "@botname
ukraine" for inline mode. They are read from the shipped catalogs (the msgid for English), so a
translator's example is tried as the reader will see it. `python -m tests.help_examples` prints
every example with the stories it finds in its own language.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from babel.messages.pofile import read_po

from handlers.i18n import DOMAIN, LANGUAGES, LOCALE_DIR
from tests.labelled import multilingual_set
from tests.multilingual import judged_stories

EXTRA = Path(__file__).parent / "data" / "topic_eval" / "help_stories.tsv"

_CODE = re.compile(r"<code>(.*?)</code>")
# "/subscribe україна — …", "Например: /subscribe украина": a command and its topic (one word, as
# in the English text) in plain text, in a text whose English says "/subscribe ukraine".
_COMMAND = re.compile(r"/(?:subscribe|unsubscribe|latest) ([^\s<]+)")
_EXAMPLE_COMMAND = re.compile(r"/(?:subscribe|unsubscribe|latest) ukraine\b")
# An English text that lists examples after a colon ("Try for example: a, b, c", "as in: a").
_LISTS = re.compile(r"(?:example|as in): ")
_PLACEHOLDER = re.compile(r"[{<]")


@dataclass(frozen=True)
class Example:
    language: str
    topic: str
    text: str  # the catalog entry (msgid) it comes from, for failure messages


@dataclass(frozen=True)
class Story:
    language: str
    source: str
    text: str


def _topic(candidate: str) -> str | None:
    """The topic in a command or example, or None when it is no topic (another command, a
    fragment such as `-source:bbc`, a placeholder)."""
    candidate = candidate.strip().rstrip(".")
    if candidate.startswith("/"):
        command, _, rest = candidate.partition(" ")
        if command not in ("/subscribe", "/unsubscribe", "/latest"):
            return None
        candidate = rest
    words = candidate.split()
    while words and words[0].startswith("@"):  # a channel, or the bot's @username
        words.pop(0)
    topic = " ".join(words)
    if not topic or _PLACEHOLDER.search(topic) or topic.startswith("-"):
        return None
    return topic


def examples_in(text: str, english: str) -> list[str]:
    """The example topics one text gives; `english` is its msgid, which tells where they are."""
    found = _CODE.findall(text)
    plain = _CODE.sub(" ", text)
    if _EXAMPLE_COMMAND.search(_CODE.sub(" ", english)):
        found += _COMMAND.findall(plain)
    if _LISTS.search(english):
        found += plain.rpartition(":")[2].strip().rstrip(".").split(", ")
    topics = (_topic(candidate) for candidate in found)
    return list(dict.fromkeys(topic for topic in topics if topic))


def examples() -> Iterator[Example]:
    """Every example topic of every text, in every language the bot speaks."""
    for language in LANGUAGES:
        # English is the msgids, read here from the German catalog.
        path = LOCALE_DIR / ("de" if language == "en" else language) / "LC_MESSAGES"
        with (path / f"{DOMAIN}.po").open("rb") as po:
            catalog = read_po(po)
        for message in catalog:
            if not message.id:
                continue
            ids = [message.id] if isinstance(message.id, str) else list(message.id)
            string = message.string or ""
            strings = [string] if isinstance(string, str) else list(string)
            for text in ids if language == "en" else strings:
                for topic in examples_in(text, ids[0]):
                    yield Example(language, topic, ids[0])


def stories() -> list[Story]:
    """The topic set's stories (multi_stories.tsv, their outlets from the event set) and the few
    written for the examples (help_stories.tsv)."""
    events = sorted(multilingual_set(), key=lambda story: story.story_id)
    found = [
        Story(
            story.language,
            events[story.number].source if story.number < len(events) else "",
            story.text,
        )
        for story in judged_stories()
    ]
    for line in EXTRA.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            language, source, text = line.split("\t")
            found.append(Story(language, source, text))
    return found
