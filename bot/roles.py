"""What `newsbot run --role …` runs: the whole bot, or one part of it beside others.

    all   everything in one process (the default, what `make run` starts): SQLite or PostgreSQL
    poll  fetch the due sources, store, cluster and match their stories (queue pushes), prune
    send  push the outbox, edit cards, send daily digests, report sources failing for a day
    bot   answer people: commands and buttons, by long polling (getUpdates)

Several `poll` and `send` processes share one PostgreSQL database: sources and outbox rows are
claimed with leases (`FOR UPDATE SKIP LOCKED`), so each due source is fetched once per due time
and each push sent once, and the rows of a process that died are taken over when its lease ends.
SQLite is one process's database by design, so a split role refuses it (`check_role`).

Only `poll` (and `all`) apply the sources file; only `bot` (and `all`) call getUpdates and
setMyCommands: Telegram allows one getUpdates consumer per bot. `poll` never talks to Telegram.

What each role keeps doing is `bot.work.RoleWork`; `bot.app` puts the roles together.
"""

from __future__ import annotations

from typing import Literal

from news.errors import ConfigError

Role = Literal["all", "poll", "send", "bot"]
ROLES: tuple[Role, ...] = ("all", "poll", "send", "bot")


def polls(role: Role) -> bool:
    return role in ("all", "poll")


def sends(role: Role) -> bool:
    return role in ("all", "send")


def answers(role: Role) -> bool:
    return role in ("all", "bot")


def check_role(role: Role, database_url: str) -> None:
    """A split role shares its database with other processes, which SQLite is not made for."""
    # Imported here: `newsbot`'s argument parser lists the roles without loading SQLAlchemy.
    from sqlalchemy.engine import make_url

    if role != "all" and make_url(database_url).get_backend_name() == "sqlite":
        raise ConfigError(
            f"--role {role} runs beside other newsbot processes on one database, which needs "
            "PostgreSQL: set DATABASE_URL=postgresql://user@host/db. SQLite is a one-process "
            "database: with it, run everything in one process (newsbot run, --role all)."
        )
