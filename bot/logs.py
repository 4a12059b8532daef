"""Logging set-up that never lets the bot token or the database's password reach a log line.

Bot API URLs contain the token. The bot's own transport (aiohttp) logs no URLs, but httpx, which
python-telegram-bot ships with, logs every request URL at INFO: its logger is kept at WARNING,
and a filter on every handler masks the token wherever else it might appear. Another masks the
password of any URL (`postgresql://user:***@host/db`) and `DATABASE_URL`'s password wherever it
appears alone (`password_mask`); the `newsbot` command passes what it prints through it too.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

from news.errors import without_passwords

# A password shorter than this is masked only inside its URL: masking it alone would blot out
# ordinary words of every log line ("pw"), and a password that short hides nothing anyway.
_SHORTEST_MASKED_ALONE = 4


class TokenMask(logging.Filter):
    """Replaces the token (or another secret) in a record's rendered message with a placeholder."""

    def __init__(self, token: str, placeholder: str = "<TOKEN>") -> None:
        super().__init__()
        self.token = token
        self._placeholder = placeholder
        # In any case: python-telegram-bot capitalises Telegram's error descriptions, which
        # lowercases a token quoted in one.
        self._pattern = re.compile(re.escape(token), re.IGNORECASE)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = self._pattern.sub(self._placeholder, message)
        if masked != message:
            record.msg = masked
            record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            masked = self._pattern.sub(self._placeholder, text)
            if masked != text:
                record.exc_text = masked
        return True


class TextMask(logging.Filter):
    """Passes each record's rendered message (and traceback) through `mask`."""

    def __init__(self, mask: Callable[[str], str]) -> None:
        super().__init__()
        self._mask = mask

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = self._mask(message)
        if masked != message:
            record.msg = masked
            record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            masked = self._mask(text)
            if masked != text:
                record.exc_text = masked
        return True


def password_mask(database_url: str | None) -> Callable[[str], str]:
    """What hides passwords in a text: any URL's (`news.errors.without_passwords`), and that of
    `database_url` wherever it appears alone, as written and percent-decoded."""
    try:
        password = urlsplit(database_url or "").password
    except ValueError:  # not a URL urllib can split (a bad port): its URL form is still masked
        password = None
    alone = sorted(
        {word for word in (password, unquote(password or "")) if word}, key=len, reverse=True
    )
    patterns = [re.escape(word) for word in alone if len(word) >= _SHORTEST_MASKED_ALONE]
    pattern = re.compile("|".join(patterns)) if patterns else None

    def mask(text: str) -> str:
        text = without_passwords(text)
        return pattern.sub("***", text) if pattern is not None else text

    return mask


def configure_logging(
    token: str | None, level: int = logging.INFO, *, database_url: str | None = None
) -> None:
    """Log to stderr with timestamps; quiet httpx; mask `token` and passwords everywhere."""
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    for noisy in ("httpx", "httpcore", "alembic", "pymorphy3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # The jobs run one at a time on purpose (max_instances=1): APScheduler's warning for each
    # tick skipped while a long fan-out runs would be a line a second.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    if token:
        mask_secret(token, "<TOKEN>")
    passwords = TextMask(password_mask(database_url))
    for handler in logging.getLogger().handlers:
        handler.addFilter(passwords)


def mask_secret(secret: str, placeholder: str) -> None:
    """From now on, every handler of the root logger shows `secret` as `placeholder`."""
    mask = TokenMask(secret, placeholder)
    for handler in logging.getLogger().handlers:
        handler.addFilter(mask)
