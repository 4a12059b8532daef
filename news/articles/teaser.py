"""The teaser rule: when a story's feed text is too little to be the story itself.

The rule lives with the feed's text hygiene (`news.feeds.text.is_teaser`), because the parser
uses it too: a teaser description beside the full content:encoded takes the card's body from
the content.
"""

from __future__ import annotations

from news.feeds.text import TEASER_CHARS, is_teaser, plain_text

__all__ = ["TEASER_CHARS", "needs_article"]


def needs_article(text: str) -> bool:
    """Whether a story whose feed text is `text` (plain or HTML; give its body when it has
    one, else its summary) should have its page read.

    Yes when its plain text is under `TEASER_CHARS` (400) characters, or when it ends in a
    "Continue reading" / "Read more" / "[…]" stub, however long.
    """
    return is_teaser(plain_text(text))
