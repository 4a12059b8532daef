"""Logging set-up that never lets the bot token reach a log line.

Bot API URLs contain the token. The bot's own transport (aiohttp) logs no URLs, but httpx, which
python-telegram-bot ships with, logs every request URL at INFO: its logger is kept at WARNING,
and a filter on every handler masks the token wherever else it might appear.
"""

from __future__ import annotations

import logging
import re


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


def configure_logging(token: str | None, level: int = logging.INFO) -> None:
    """Log to stderr with timestamps; quiet httpx; mask `token` everywhere."""
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


def mask_secret(secret: str, placeholder: str) -> None:
    """From now on, every handler of the root logger shows `secret` as `placeholder`."""
    mask = TokenMask(secret, placeholder)
    for handler in logging.getLogger().handlers:
        handler.addFilter(mask)
