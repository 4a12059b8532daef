"""A fake Telegram Bot API server for tests, driven by the real python-telegram-bot client.

`FakeBotApi` speaks the Bot API over real HTTP on 127.0.0.1. It keeps only what the bot uses
and what the tests need; its modules, by concern:

* `server`: `FakeBotApi` itself, the HTTP routing and the life of one call;
* `protocol`: the wire conventions (answers, errors, `chat_id`s, PTB's form encoding);
* `chats`: the chats and messages Telegram keeps;
* `methods`: the methods the bot calls, checked like Telegram (HTML via `text_rules`);
* `members`: channels, who is what in a chat, and `getChat`/`getChatMember`;
* `forums`: forum supergroups, their topics, and messages in a topic (`message_thread_id`);
* `updates`: user input (`inject_message`, `inject_channel_post`, `inject_callback_query`,
  `inject_inline_query`), `getUpdates` and the answers to queries;
* `faults`: failures on demand (errors, dropped connections, outages, redirects, the flood
  limits of `limits`);
* `records`: what the fake received and what got through, and waiting for it.
"""

from .methods import RATE_LIMITED_METHODS
from .records import RecordedCall
from .server import FakeBotApi

__all__ = ["RATE_LIMITED_METHODS", "FakeBotApi", "RecordedCall"]
