"""Test fakes that speak real protocols over real HTTP on 127.0.0.1.

`telegram_api.FakeBotApi` is a fake Telegram Bot API server for the real python-telegram-bot
client (with Telegram's flood limits from `telegram_limits` on demand),
`feed_server.FeedServer` serves RSS/Atom feeds with conditional GET, and `feeds` builds feed
documents as strings.
"""
