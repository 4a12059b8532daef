"""Matching new stories against every subscription at once: a percolator over topics.

Searching the archive runs one query over many stories; pushing runs the other way, one story
over many standing queries. Each distinct topic is indexed under a few *anchor* terms, chosen so
that every story it matches must contain at least one of them: the topic's rarest required item
(a `Topic.required` group: the story must contain one of the group's phrases, so the group's
phrases' rarest terms are anchors). A story then looks up only its own terms, and verifies the
few candidate topics with `Topic.matches`. The cost grows with a story's words and the number of
topics anchored on them, not with the number of subscriptions; chats are fanned out per distinct
topic after matching.

Rarity comes from document frequencies the caller may feed in (`observe`); unknown terms count
as rare, and long terms as rarer than short ones, which is right for names and places.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from news.analysis import TermIndex
from news.model import Subscription
from news.topics import Topic, parse_topic


class Percolator:
    """Distinct topics indexed by anchor term, with the chats that follow each."""

    def __init__(self) -> None:
        self._frequency: Counter[str] = Counter()
        self._observed = 0
        self._topics: dict[str, Topic] = {}
        self._anchors: dict[str, tuple[str, ...]] = {}
        self._by_anchor: dict[str, list[str]] = defaultdict(list)
        self._chats: dict[str, set[int]] = defaultdict(set)

    def __len__(self) -> int:
        return len(self._topics)

    def observe(self, documents: Iterable[Iterable[str]]) -> None:
        """Learn how common terms are from a sample of stories' terms (before adding topics)."""
        for terms in documents:
            self._frequency.update(set(terms))
            self._observed += 1

    def _rarity_cost(self, term: str) -> float:
        # Documents expected to contain the term; a slight length bonus breaks ties toward names.
        return self._frequency.get(term, 0) + 1.0 / (1 + len(term))

    def _anchors_for(self, topic: Topic) -> tuple[str, ...]:
        best: tuple[str, ...] = ()
        best_cost = float("inf")
        for group in topic.required:
            anchors = tuple(sorted({min(phrase, key=self._rarity_cost) for phrase in group}))
            cost = sum(self._rarity_cost(term) for term in anchors)
            if cost < best_cost:
                best, best_cost = anchors, cost
        return best

    def add(self, chat_id: int, topic: str | Topic) -> None:
        """Subscribe `chat_id` to a topic (parsed, or in normal form)."""
        topic_text = topic.text if isinstance(topic, Topic) else topic
        if topic_text not in self._topics:
            if not isinstance(topic, Topic):
                topic = parse_topic(topic)
            anchors = self._anchors_for(topic)
            self._topics[topic_text] = topic
            self._anchors[topic_text] = anchors
            for term in anchors:
                self._by_anchor[term].append(topic_text)
        self._chats[topic_text].add(chat_id)

    def remove(self, chat_id: int, topic_text: str) -> None:
        """Unsubscribe; a topic nobody follows any more leaves the index."""
        followers = self._chats.get(topic_text)
        if followers is None:
            return
        followers.discard(chat_id)
        if followers:
            return
        del self._chats[topic_text]
        self._topics.pop(topic_text, None)
        for term in self._anchors.pop(topic_text, ()):
            self._by_anchor[term].remove(topic_text)
            if not self._by_anchor[term]:
                del self._by_anchor[term]

    def matching_topics(self, terms: Sequence[str], *, source: str = "") -> list[str]:
        """The distinct topics (normal forms) a story with these terms, from `source`, matches."""
        candidates: set[str] = set()
        for term in set(terms):
            anchored = self._by_anchor.get(term)
            if anchored:
                candidates.update(anchored)
        if not candidates:
            return []
        index = TermIndex(terms)
        return [text for text in candidates if self._topics[text].matches(index, source=source)]

    def matching_chats(self, terms: Sequence[str], *, source: str = "") -> dict[int, list[str]]:
        """Each chat owed the story, with the topics of its own that matched."""
        owed: dict[int, list[str]] = defaultdict(list)
        for text in sorted(self.matching_topics(terms, source=source)):
            for chat_id in self._chats[text]:
                owed[chat_id].append(text)
        return owed


class SubscriptionIndex(Percolator):
    """A percolator kept in step with the subscriptions table across polls."""

    def __init__(self) -> None:
        super().__init__()
        self._current: set[tuple[int, str]] = set()

    def sync(self, subscriptions: Iterable[Subscription]) -> None:
        """Apply the difference between the indexed subscriptions and `subscriptions`."""
        wanted = {(s.chat_id, s.topic) for s in subscriptions}
        for chat_id, topic in self._current - wanted:
            self.remove(chat_id, topic)
        for chat_id, topic in wanted - self._current:
            self.add(chat_id, topic)
        self._current = wanted
