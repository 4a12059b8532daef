"""The teaser rule: when a story's feed text is too little to be the story itself."""

from __future__ import annotations

import re

from news.feeds.text import plain_text

#: Plain text shorter than this is a teaser: a headline's worth, or a sentence or two.
TEASER_CHARS = 400

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


def needs_article(text: str) -> bool:
    """Whether a story whose feed text is `text` (plain or HTML) should have its page read.

    Yes when its plain text is under `TEASER_CHARS` characters, or when it ends in a "Continue
    reading" / "Read more" / "[…]" stub, however long.
    """
    plain = plain_text(text)
    if len(plain) < TEASER_CHARS:
        return True
    return _STUB.search(plain[-_STUB_WINDOW:]) is not None
