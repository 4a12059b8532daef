"""Test fakes that speak real protocols over real HTTP on 127.0.0.1.

`telegram.FakeBotApi` is a fake Telegram Bot API server for the real python-telegram-bot client,
`feed_server.FeedServer` serves RSS/Atom feeds with conditional GET, and `feeds` builds feed
documents as strings; `loopback` holds the server lifecycle both servers share.
"""
