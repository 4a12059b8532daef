"""The bot token never reaches a log line, even inside URLs and tracebacks."""

from __future__ import annotations

import io
import logging

from bot.logs import TokenMask

TOKEN = "123456:SECRET-token_value"


def test_token_is_masked_in_messages_arguments_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(TokenMask(TOKEN))
    logger = logging.getLogger("newsbot.test.secrets")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("POST https://api.telegram.org/bot%s/sendMessage", TOKEN)
        # python-telegram-bot capitalises error descriptions: a quoted token comes lowercased.
        logger.warning("chat 5 refused a message: No bot%s here", TOKEN.lower())
        try:
            raise RuntimeError(f"failed: https://api.telegram.org/bot{TOKEN}/getMe")
        except RuntimeError:
            logger.exception("request failed")
    finally:
        logger.removeHandler(handler)

    output = stream.getvalue()
    assert TOKEN not in output and TOKEN.lower() not in output
    assert "No bot<TOKEN> here" in output
    assert "bot<TOKEN>/sendMessage" in output
    assert "bot<TOKEN>/getMe" in output
