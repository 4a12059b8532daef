"""The bot token and the database's password never reach a log line, even inside URLs and
tracebacks."""

from __future__ import annotations

import io
import logging

from bot.logs import TextMask, TokenMask, password_mask

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


def test_the_database_password_is_masked_in_urls_alone_and_percent_decoded() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(TextMask(password_mask("postgresql://newsbot:p%40ss-w0rd@db/newsbot")))
    logger = logging.getLogger("newsbot.test.passwords")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("cannot open %s", "postgresql://newsbot:p%40ss-w0rd@db/newsbot")
        logger.warning("a driver said: password p@ss-w0rd refused")
        try:
            raise RuntimeError("connect to postgresql://other:hunter22@db2/x failed")
        except RuntimeError:
            logger.exception("start failed")
    finally:
        logger.removeHandler(handler)

    output = stream.getvalue()
    assert "p%40ss-w0rd" not in output and "p@ss-w0rd" not in output and "hunter22" not in output
    assert "postgresql://newsbot:***@db/newsbot" in output
    assert "password *** refused" in output
    assert "postgresql://other:***@db2/x" in output
