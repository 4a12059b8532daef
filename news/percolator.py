"""Matching new stories against every subscription at once: a percolator over topics.

Searching the archive runs one query over many stories; pushing runs the other way, one story
over many standing queries. Each distinct topic is indexed under a few *anchor* terms, chosen so
that every story it matches must contain at least one of them: the topic's rarest required item
(a `Topic.required` group: the story must contain one of the group's phrases, so the group's
phrases' rarest terms are anchors). A story then looks up only its own terms, so the cost grows
with a story's words and the number of topics anchored on them, not with the number of
subscriptions. Under its anchor a topic is filed one of three ways:

- *certain*: the anchor alone makes a match (one single-word item, or one item of OR-ed words);
- *paired*, under a second *partner* term that every match also holds (the rarest term of
  another item's phrases, or a phrase's second rarest term): the story looks its own terms up
  among the anchor's partners, and only the few topics whose pair is complete are verified
  further (if anything is left to verify: the other items, a phrase's word order, a source);
- *checked*: verified whenever its anchor is in a story (only when no partner exists, as for a
  phrase of one word repeated).

Exclusions of single words are indexed too: each excluded term lists the topics it rules out,
and those are taken out of a story's matches at the end; only excluded phrases and `source:`
filters are part of a topic's verification. Verification is specialised for each topic's shape,
because it may run hundreds of times per story, and agrees with `Topic.matches`.

Chats are fanned out per distinct topic after matching: each topic keeps its (chat, topic) pairs
ready, so a story's pushes are read off with one pass over the matched topics' pairs.

Rarity comes from document frequencies the caller may feed in (`observe`); unknown terms count
as rare, and long terms as rarer than short ones, which is right for names and places.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from itertools import chain
from operator import attrgetter

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


Check = Callable[[set[str], _LazyIndex, str], bool]


class _Compiled:
    """A distinct topic as indexed: where it is filed, what is left to verify, who follows it.

    `check` is None when being found through the index is already a match (short of an excluded
    term, which the index applies itself); otherwise a function specialised for what is left.
    """

    __slots__ = ("anchors", "banned", "chats", "check", "fan", "partners", "text")

    def __init__(
        self,
        text: str,
        anchors: tuple[str, ...],
        partners: tuple[str, ...],
        banned: tuple[str, ...],
        check: Check | None,
    ) -> None:
        self.text = text
        self.anchors = anchors
        self.partners = partners
        self.banned = banned
        self.check = check
        self.chats: set[int] = set()
        # (chat, topic) for each follower, rebuilt before matching once `chats` changed.
        self.fan: tuple[tuple[int, str], ...] = ()


class _Entry:
    """What one term leads to in the index (None where nothing is filed)."""

    __slots__ = ("banned", "certain", "checked", "pairs")

    def __init__(self) -> None:
        self.certain: list[_Compiled] | None = None
        self.pairs: dict[str, list[_Compiled]] | None = None
        self.checked: list[_Compiled] | None = None
        self.banned: list[_Compiled] | None = None


def _specialise(others: list[_Group], excluded: _Group | None, topic: Topic) -> Check | None:
    """The verification left once a topic was found: `others` items, `excluded`, sources."""
    filtered = bool(topic.sources or topic.excluded_sources)
    if not filtered and excluded is None and all(not group.phrases for group in others):
        sets = tuple(group.singles for group in others)
        if not sets:
            return None
        if len(sets) == 1:
            [only] = sets
            return lambda terms, index, source: not only.isdisjoint(terms)
        if len(sets) == 2:
            first, second = sets
            return lambda terms, index, source: (
                not (first.isdisjoint(terms) or second.isdisjoint(terms))
            )
        return lambda terms, index, source: all(not s.isdisjoint(terms) for s in sets)

    def check(terms: set[str], index: _LazyIndex, source: str) -> bool:
        return (
            all(group.found(terms, index) for group in others)
            and (excluded is None or not excluded.found(terms, index))
            and topic.from_source(source)
        )

    return check


_FAN = attrgetter("fan")


class Percolator:
    """Distinct topics indexed by anchor term, with the chats that follow each."""

    def __init__(self) -> None:
        self._frequency: Counter[str] = Counter()
        self._topics: dict[str, _Compiled] = {}
        self._entries: dict[str, _Entry] = {}
        # Topics whose followers changed since their `fan` was built.
        self._stale: set[_Compiled] = set()

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
        cost = self._rarity_cost
        best_group, best_cost = 0, float("inf")
        for position, group in enumerate(topic.required):
            group_cost = sum(cost(term) for term in {min(phrase, key=cost) for phrase in group})
            if group_cost < best_cost:
                best_group, best_cost = position, group_cost
        chosen = topic.required[best_group]
        anchor_of = {phrase: min(phrase, key=cost) for phrase in chosen}
        anchors = tuple(sorted(set(anchor_of.values())))
        # Items still to verify once an anchor is found: the others, and the anchor's own item
        # if it has phrases (their other words and order are not known yet), marked True.
        items = [
            (group, False)
            for position, group in enumerate(topic.required)
            if position != best_group
        ]
        if any(len(phrase) > 1 for phrase in chosen):
            items.append((chosen, True))
        # The partner: the cheapest set of terms one of which every match holds beside its
        # anchor. An item's phrases' rarest terms; for the anchor's own item, each phrase's
        # rarest term after its anchor (so that item qualifies only if all its phrases have two).
        partners: tuple[str, ...] = ()
        partner_cost, settled = float("inf"), -1
        for number, (group, own) in enumerate(items):
            if not own:
                terms = {min(phrase, key=cost) for phrase in group}
            elif all(len(set(phrase)) > 1 for phrase in group):
                terms = {
                    min((term for term in phrase if term != anchor_of[phrase]), key=cost)
                    for phrase in group
                }
            else:
                continue
            terms_cost = sum(cost(term) for term in terms)
            if terms_cost < partner_cost:
                partners, partner_cost, settled = tuple(sorted(terms)), terms_cost, number
        # A partner item of single words is complete once a partner is found.
        if settled >= 0 and all(len(phrase) == 1 for phrase in items[settled][0]):
            del items[settled]
        banned = tuple(sorted(phrase[0] for phrase in topic.excluded if len(phrase) == 1))
        excluded_phrases = [phrase for phrase in topic.excluded if len(phrase) > 1]
        check = _specialise(
            [_Group(group) for group, _ in items],
            _Group(excluded_phrases) if excluded_phrases else None,
            topic,
        )
        return _Compiled(topic.text, anchors, partners, banned, check)

    def _entry(self, term: str) -> _Entry:
        entry = self._entries.get(term)
        if entry is None:
            entry = self._entries[term] = _Entry()
        return entry

    def add(self, chat_id: int, topic: str | Topic) -> None:
        """Subscribe `chat_id` to a topic (parsed, or in normal form)."""
        topic_text = topic.text if isinstance(topic, Topic) else topic
        compiled = self._topics.get(topic_text)
        if compiled is None:
            compiled = self._compile(topic if isinstance(topic, Topic) else parse_topic(topic))
            self._topics[topic_text] = compiled
            for term in compiled.anchors:
                entry = self._entry(term)
                if compiled.partners:
                    if entry.pairs is None:
                        entry.pairs = {}
                    for other in compiled.partners:
                        entry.pairs.setdefault(other, []).append(compiled)
                elif compiled.check is None:
                    if entry.certain is None:
                        entry.certain = []
                    entry.certain.append(compiled)
                else:
                    if entry.checked is None:
                        entry.checked = []
                    entry.checked.append(compiled)
            for term in compiled.banned:
                entry = self._entry(term)
                if entry.banned is None:
                    entry.banned = []
                entry.banned.append(compiled)
        if chat_id not in compiled.chats:
            compiled.chats.add(chat_id)
            self._stale.add(compiled)

    def remove(self, chat_id: int, topic_text: str) -> None:
        """Unsubscribe; a topic nobody follows any more leaves the index."""
        compiled = self._topics.get(topic_text)
        if compiled is None or chat_id not in compiled.chats:
            return
        compiled.chats.discard(chat_id)
        self._stale.add(compiled)
        if compiled.chats:
            return
        del self._topics[topic_text]
        self._stale.discard(compiled)
        for term in compiled.anchors:
            entry = self._entries[term]
            if compiled.partners and entry.pairs is not None:
                for other in compiled.partners:
                    paired = _without(entry.pairs.pop(other, None), compiled)
                    if paired is not None:
                        entry.pairs[other] = paired
            elif compiled.check is None:
                entry.certain = _without(entry.certain, compiled)
            else:
                entry.checked = _without(entry.checked, compiled)
            self._prune(term, entry)
        for term in compiled.banned:
            entry = self._entries[term]
            entry.banned = _without(entry.banned, compiled)
            self._prune(term, entry)

    def _prune(self, term: str, entry: _Entry) -> None:
        if not (entry.certain or entry.pairs or entry.checked or entry.banned):
            del self._entries[term]

    def matching_topics(self, terms: Sequence[str], *, source: str = "") -> list[str]:
        """The distinct topics (normal forms) a story with these terms, from `source`, matches."""
        return [compiled.text for compiled in self._matching(terms, source)]

    def _matching(self, terms: Sequence[str], source: str) -> set[_Compiled]:
        term_set = set(terms)
        size = len(term_set)
        found: set[_Compiled] = set()
        add, update = found.add, found.update
        candidates: list[_Compiled] = []
        banned: list[list[_Compiled]] = []
        for entry in filter(None, map(self._entries.get, term_set)):
            if certain := entry.certain:
                update(certain)
            if partners := entry.pairs:
                if len(partners) < size:
                    hits = [partners[other] for other in partners if other in term_set]
                else:
                    hits = [paired for other in term_set if (paired := partners.get(other))]
                for paired in hits:
                    for compiled in paired:
                        if compiled.check is None:
                            add(compiled)
                        else:
                            candidates.append(compiled)
            if checked := entry.checked:
                candidates.extend(checked)
            if excluded := entry.banned:
                banned.append(excluded)
        if candidates:
            index = _LazyIndex(terms)
            for compiled in candidates:
                check = compiled.check
                if check is not None and compiled not in found and check(term_set, index, source):
                    add(compiled)
        for excluded in banned:
            found.difference_update(excluded)
        return found

    def matching_chats(self, terms: Sequence[str], *, source: str = "") -> dict[int, list[str]]:
        """Each chat owed the story, with the topics of its own that matched."""
        if self._stale:
            for compiled in self._stale:
                compiled.fan = tuple((chat_id, compiled.text) for chat_id in compiled.chats)
            self._stale.clear()
        pushes = [*chain.from_iterable(map(_FAN, self._matching(terms, source)))]
        owed = {chat_id: [text] for chat_id, text in pushes}
        if len(owed) < len(pushes):
            # Some chat follows several of the matched topics: gather them, in order.
            owed = {}
            for chat_id, text in sorted(pushes):
                topics = owed.get(chat_id)
                if topics is None:
                    owed[chat_id] = [text]
                else:
                    topics.append(text)
        return owed


def _without(topics: list[_Compiled] | None, compiled: _Compiled) -> list[_Compiled] | None:
    """`topics` less `compiled`, or None if nothing is left."""
    if topics is None:
        return None
    left = [other for other in topics if other is not compiled]
    return left or None


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
