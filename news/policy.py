"""Policy: the ages, windows, intervals, leases, rates, size caps and retry limits, in one place.

Ingest, the schedule, the clusterer, storage, the delivery decider (`news.delivery`), the sender
and the settings (`bot.settings`, for the defaults of its environment variables) take these as
their defaults (or as parameters passed down from here), so changing how the bot polls or
delivers means changing this module only.
"""

from __future__ import annotations

from datetime import timedelta

#: Events a list shows when the reader names no number: a glance, about one phone screen.
DEFAULT_LATEST = 5
#: The most events one list shows: a longer list is skimmed, not read, and costs more to build.
MAX_LATEST = 20

# A push is news: a story older than a day is history by the time it lands, so it is not pushed.
PUSH_MAX_AGE = timedelta(hours=24)
# A daily digest held back by an outage still carries the stories it would have carried on time.
DIGEST_GRACE = timedelta(hours=6)
# More stories than this due for one chat at once go out as one digest message, not a flood.
DIGEST_THRESHOLD = 3
# "Also: BBC, DW +3": outlets a card names before the rest are counted, so a card stays short.
ALSO_NAMED = 2
# Other outlets' headlines a story card lists before the rest are counted: a screenful.
OTHER_REPORTS_SHOWN = 10
# An event's reports arrive within a day or two; a cluster open longer grows without end.
CLUSTER_WINDOW = timedelta(hours=48)
# A big event gains outlets by the minute: one edit a minute per card keeps the requests few.
EDIT_INTERVAL = timedelta(minutes=1)
# An event's cluster closes after its window, and a message that old is not edited any more.
EDIT_WINDOW = CLUSTER_WINDOW
# A sender that died mid-send leaves rows claimed: they are claimed again after this long.
SEND_LEASE = timedelta(seconds=60)
# The most outbox rows a sender claims at once.
CLAIM_BATCH = 500


def claim_batch(send_rate: float, lease: timedelta) -> int:
    """Outbox rows a sender claims at once: at most what it sends in half its lease, so that
    another sender never takes rows over (their lease run out) while their claimant still
    works through them — which would push them twice."""
    return max(1, min(CLAIM_BATCH, int(send_rate * lease.total_seconds() / 2)))


# No source is polled more often than this, however busy (NEWSBOT_POLL_INTERVAL): publishers
# are not hammered.
POLL_FLOOR = timedelta(minutes=5)
# Nor less often than this, however quiet (NEWSBOT_POLL_CEILING): it bounds how late a quiet
# feed's next story is.
POLL_CEILING = timedelta(hours=1)
# A failing source is still retried this often, so its recovery is noticed within this long.
POLL_BACKOFF_CAP = timedelta(hours=6)
# A poller that died before recording a poll leaves its sources claimed this long.
POLL_LEASE = timedelta(minutes=10)
# A feed's body larger than this is refused (NEWSBOT_MAX_FEED_BYTES): a broken or hostile
# server cannot make a poller hold more in memory.
MAX_FEED_BYTES = 10 * 1024 * 1024
# Messages per second sent in all (NEWSBOT_SEND_RATE), below Telegram's ~30 per second to a bot.
SEND_RATE = 25.0
# How long stories, finished deliveries and inactive chats are kept (NEWSBOT_RETENTION_DAYS).
RETENTION = timedelta(days=90)
# A feed down for a day is not a hiccup: its admins are told, once per failing streak.
REPORT_FAILING_AFTER = timedelta(hours=24)
# Short enough that a story reaches its chats within a minute of the Bot API coming back, long
# enough that an outage costs a request every half minute, not a fan-out of failures.
MAX_BACKOFF = timedelta(seconds=30)
# Recording a sent message is retried from half a second, doubling up to half a minute: a
# locked database frees up quickly, a lost one is not hammered.
RECORD_RETRY_FIRST = 0.5
RECORD_RETRY_MAX = 30.0


# Curation: what a chat may follow and what /status lists (`news.curation`, `news.model`).
# A chat follows at most this many topics, over all its forum topics: every topic followed is
# matched against each new story, so the cap bounds what one chat costs the percolator.
MAX_SUBSCRIPTIONS = 50
# The failing sources /status names; the rest are counted.
FAILING_LISTED = 10
