"""The news domain: stories, sources, topics and the decisions around them.

This package is the core of Newsbot. It knows nothing of Telegram or of SQL: `handlers/` speaks
Telegram, `storage/` speaks SQL, and both meet here through the types in `news.model` and the
storage interface in `news.ports`.
"""
