"""Everything that speaks Telegram: commands, rendering to Telegram HTML, pushing stories.

Handlers reach storage only through the ports in `news.ports`; this package imports no SQL.
"""
