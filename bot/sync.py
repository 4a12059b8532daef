"""Syncing the sources file into the database, without surprises.

The sources file (`NEWSBOT_SOURCES`, else the bundled list) says which feeds to read. A sync
never deletes anything (`news.feeds.sources.plan_sync`): a source that left the file is disabled and
keeps its stories. And a command started with a *different* file than the one the database was
last synced from — most often a shell where `NEWSBOT_SOURCES` is not set, which means the
bundled list — changes nothing unless it is `newsbot run` or `newsbot poll` (whose job is to
read the configured feeds) or was given `--sync-sources`: it says what the sync would change
and how to apply it. The same file, edited, is synced by every command, as it always was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.settings import Settings
from news.feeds import plan_sync
from news.model import Source, SourcesPlan
from news.ports import Sources


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What a sync changed (`applied`) or would change, and a line saying so (None: nothing)."""

    plan: SourcesPlan
    applied: bool
    message: str | None
    #: Every source as the database holds them after the sync, when the sync wrote nothing
    #: (the usual start): read for the plan already, so a poll need not read them again.
    sources: list[Source] | None = None


def may_apply(plan: SourcesPlan, *, file: str, previous: str | None, confirmed: bool) -> bool:
    """Whether a sync from `file` may change the database without asking.

    Yes when confirmed (run, poll, --sync-sources), when nothing would change, when `file` is
    the one synced last, and on a database never synced from any file where nothing would be
    disabled. A database from before files were remembered that would lose sources asks.
    """
    return confirmed or not plan or file == previous or (previous is None and not plan.unlisted)


async def sync_configured_sources(
    storage: Sources, settings: Settings, *, now: datetime, confirmed: bool
) -> SyncResult:
    """Sync `settings.sources` into `storage` when allowed, else say what it would change."""
    previous = await storage.sources_file()
    file = settings.sources_file
    listed = await storage.list_sources()
    plan = plan_sync(settings.sources, listed)
    if not may_apply(plan, file=file, previous=previous, confirmed=confirmed):
        was = previous or "another sources file"
        return SyncResult(
            plan,
            False,
            f"The sources file is {file}, but this database was last synced from {was}. "
            f"Syncing it would change: {plan.describe()}. Nothing was changed: set "
            f"NEWSBOT_SOURCES to the file you mean, or apply this one with --sync-sources "
            f"(`newsbot run` and `newsbot poll` apply it at start).",
        )
    if not plan and file == previous:
        # The usual start: the database already holds the file's sources; a write
        # transaction that re-reads every source would change nothing.
        return SyncResult(plan, True, None, listed)
    plan = await storage.sync_sources(settings.sources, now=now, file=file)
    message = f"Sources from {file}: {plan.describe()}." if plan else None
    return SyncResult(plan, True, message)
