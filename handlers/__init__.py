"""Everything that speaks Telegram: commands, rendering to Telegram HTML, pushing stories.

Handlers reach storage only through `news.ports.Storage`; this package imports no SQL.
"""
