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
from collections.abc import Callable, Iterable, Sequence

from news.analysis import Phrase, TermIndex
from news.model import Subscription
from news.topics import Topic, parse_topic


class _Group:
    """One required (or excluded) item compiled for speed: single terms as a set, phrases aside."""

    __slots__ = ("phrases", "singles")

    def __init__(self, phrases: Iterable[Phrase]) -> None:
        phrases = list(phrases)
        self.singles = frozenset(phrase[0] for phrase in phrases if len(phrase) == 1)
        # Each phrase with its set of terms: a cheap subset test rules most phrases out before
        # their positions are compared.
        self.phrases = tuple((frozenset(p), p) for p in phrases if len(p) > 1)

    def found(self, terms: set[str], index: _LazyIndex) -> bool:
        if not self.singles.isdisjoint(terms):
            return True
        return any(needed <= terms and phrase in index.get() for needed, phrase in self.phrases)


class _LazyIndex:
    """A story's `TermIndex`, built only if a phrase needs checking."""

    __slots__ = ("_index", "_terms")

    def __init__(self, terms: Sequence[str]) -> None:
        self._terms = terms
        self._index: TermIndex | None = None

    def get(self) -> TermIndex:
        if self._index is None:
            self._index = TermIndex(self._terms)
        return self._index


Check = Callable[[set[str], "_LazyIndex", str], bool]


class _Compiled:
    """A topic ready for verification once one of its anchors is in a story.

    `check` is None when an anchor hit is already a match (a single-term item, nothing else to
    verify); otherwise a function specialised for the topic's shape, because verification runs
    hundreds of times per story and generic code would dominate the cost.
    """

    __slots__ = ("anchors", "chats", "check", "partner", "rest", "text", "topic")

    def __init__(self, topic: Topic, anchor_group: int, anchors: tuple[str, ...]) -> None:
        self.topic = topic
        self.text = topic.text
        self.anchors = anchors
        self.chats: set[int] = set()
        chosen = topic.required[anchor_group]
        others = [
            _Group(group)
            for position, group in enumerate(topic.required)
            if position != anchor_group
        ]
        if any(len(phrase) > 1 for phrase in chosen):
            others.append(_Group(chosen))
        excluded = _Group(topic.excluded) if topic.excluded else None
        filtered = bool(topic.sources or topic.excluded_sources)
        self.check = _specialise(topic, others, excluded, filtered)
        # Plain items and nothing else (the commonest shapes after one word): the second item's
        # terms, so the percolator can index the pair, and any further items to check.
        self.partner: frozenset[str] | None = None
        self.rest: tuple[frozenset[str], ...] = ()
        if excluded is None and not filtered and others and not any(g.phrases for g in others):
            self.partner = others[0].singles
            self.rest = tuple(group.singles for group in others[1:])


def _specialise(
    topic: Topic, others: list[_Group], excluded: _Group | None, filtered: bool
) -> Check | None:
    plain = all(not group.phrases for group in others)
    if plain and not filtered and (excluded is None or not excluded.phrases):
        sets = tuple(group.singles for group in others)
        unwanted = excluded.singles if excluded is not None else frozenset()
        if not sets and not unwanted:
            return None
        if len(sets) == 1 and not unwanted:
            [only] = sets
            return lambda terms, index, source: not only.isdisjoint(terms)
        if len(sets) == 2 and not unwanted:
            first, second = sets
            return lambda terms, index, source: (
                not (first.isdisjoint(terms) or second.isdisjoint(terms))
            )
        if len(sets) == 1:
            [only] = sets
            return lambda terms, index, source: (
                not only.isdisjoint(terms) and unwanted.isdisjoint(terms)
            )
        return lambda terms, index, source: (
            unwanted.isdisjoint(terms) and all(not s.isdisjoint(terms) for s in sets)
        )

    def check(terms: set[str], index: _LazyIndex, source: str) -> bool:
        return (
            all(group.found(terms, index) for group in others)
            and (excluded is None or not excluded.found(terms, index))
            and topic.from_source(source)
        )

    return check


class Percolator:
    """Distinct topics indexed by anchor term, with the chats that follow each."""

    def __init__(self) -> None:
        self._frequency: Counter[str] = Counter()
        self._topics: dict[str, _Compiled] = {}
        # Anchor → topics an anchor hit alone matches; anchor → partner term → two-item topics
        # whose pair is then found by lookups; anchor → topics that need their check.
        self._certain: dict[str, list[_Compiled]] = defaultdict(list)
        self._pairs: dict[str, dict[str, list[_Compiled]]] = defaultdict(dict)
        self._by_anchor: dict[str, list[_Compiled]] = defaultdict(list)

    def __len__(self) -> int:
        return len(self._topics)

    def observe(self, documents: Iterable[Iterable[str]]) -> None:
        """Learn how common terms are from a sample of stories' terms (before adding topics)."""
        for terms in documents:
            self._frequency.update(set(terms))

    def _rarity_cost(self, term: str) -> float:
        # Documents expected to contain the term; a slight length bonus breaks ties toward names.
        return self._frequency.get(term, 0) + 1.0 / (1 + len(term))

    def _compile(self, topic: Topic) -> _Compiled:
        best_group, best_cost = 0, float("inf")
        best_anchors: tuple[str, ...] = ()
        for position, group in enumerate(topic.required):
            anchors = tuple(sorted({min(phrase, key=self._rarity_cost) for phrase in group}))
            cost = sum(self._rarity_cost(term) for term in anchors)
            if cost < best_cost:
                best_group, best_anchors, best_cost = position, anchors, cost
        return _Compiled(topic, best_group, best_anchors)

    def add(self, chat_id: int, topic: str | Topic) -> None:
        """Subscribe `chat_id` to a topic (parsed, or in normal form)."""
        topic_text = topic.text if isinstance(topic, Topic) else topic
        compiled = self._topics.get(topic_text)
        if compiled is None:
            compiled = self._compile(topic if isinstance(topic, Topic) else parse_topic(topic))
            self._topics[topic_text] = compiled
            for term in compiled.anchors:
                if compiled.check is None:
                    self._certain[term].append(compiled)
                elif compiled.partner is not None:
                    partners = self._pairs[term]
                    for other in compiled.partner:
                        partners.setdefault(other, []).append(compiled)
                else:
                    self._by_anchor[term].append(compiled)
        compiled.chats.add(chat_id)

    def remove(self, chat_id: int, topic_text: str) -> None:
        """Unsubscribe; a topic nobody follows any more leaves the index."""
        compiled = self._topics.get(topic_text)
        if compiled is None:
            return
        compiled.chats.discard(chat_id)
        if compiled.chats:
            return
        del self._topics[topic_text]
        for term in compiled.anchors:
            if compiled.check is None:
                _discard(self._certain, term, compiled)
            elif compiled.partner is not None:
                partners = self._pairs[term]
                for other in compiled.partner:
                    _discard(partners, other, compiled)
                if not partners:
                    del self._pairs[term]
            else:
                _discard(self._by_anchor, term, compiled)

    def matching_topics(self, terms: Sequence[str], *, source: str = "") -> list[str]:
        """The distinct topics (normal forms) a story with these terms, from `source`, matches."""
        return [compiled.text for compiled in self._matching(terms, source)]

    def _matching(self, terms: Sequence[str], source: str) -> list[_Compiled]:
        term_set = set(terms)
        found: set[_Compiled] = set()
        candidates: set[_Compiled] = set()
        certain, pairs, by_anchor = self._certain, self._pairs, self._by_anchor
        for term in term_set:
            if hit := certain.get(term):
                found.update(hit)
            if partners := pairs.get(term):
                if len(partners) < len(term_set):
                    for other, paired in partners.items():
                        if other in term_set:
                            _add_complete(found, paired, term_set)
                else:
                    for other in term_set:
                        if also := partners.get(other):
                            _add_complete(found, also, term_set)
            if anchored := by_anchor.get(term):
                candidates.update(anchored)
        if candidates:
            index = _LazyIndex(terms)
            found.update(
                compiled
                for compiled in candidates
                if compiled.check is not None and compiled.check(term_set, index, source)
            )
        return list(found)

    def matching_chats(self, terms: Sequence[str], *, source: str = "") -> dict[int, list[str]]:
        """Each chat owed the story, with the topics of its own that matched."""
        matched = self._matching(terms, source)
        if len(matched) == 1:
            [only] = matched
            return {chat_id: [only.text] for chat_id in only.chats}
        owed: dict[int, list[str]] = {}
        for compiled in matched:
            text = compiled.text
            for chat_id in compiled.chats:
                topics = owed.get(chat_id)
                if topics is None:
                    owed[chat_id] = [text]
                else:
                    topics.append(text)
                    topics.sort()
        return owed


def _add_complete(found: set[_Compiled], paired: list[_Compiled], terms: set[str]) -> None:
    """Add the paired topics whose further items, if any, are in the story too."""
    for compiled in paired:
        if not compiled.rest or all(not item.isdisjoint(terms) for item in compiled.rest):
            found.add(compiled)


def _discard(index: dict[str, list[_Compiled]], key: str, compiled: _Compiled) -> None:
    topics = index.get(key)
    if topics is not None and compiled in topics:
        topics.remove(compiled)
        if not topics:
            del index[key]


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
