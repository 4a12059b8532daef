"""Matching new stories against every subscription at once: a percolator over topics.

Searching the archive runs one query over many stories; pushing runs the other way, one story
over many standing queries. Each distinct topic is indexed under a few *anchor* terms, chosen so
that every story it matches must contain at least one of them: the topic's rarest required item
(a `Topic.required` group: the story must contain one of the group's phrases, so the group's
phrases' rarest terms are anchors). A story then looks up only its own terms, so the cost grows
with a story's words and the number of topics filed under them, not with the number of
subscriptions. Under its anchors a topic is filed one of three ways:

- *certain*: finding an anchor is a match (a topic of one item of single words, OR-ed or not,
  with at most single-word exclusions and no `source:` filter);
- *paired*, with a *partner* term beside each anchor, such that every match holds an anchor and
  its partner: the rarest terms of another item's phrases (any anchor goes with any of them),
  or, for a phrase that is itself the anchor's item, the phrase's next rarest term. A story
  looks its terms up among an anchor's partners, and only topics whose pair is complete are
  matches or, if anything is left (further items, a phrase's order, a source), verified;
- *checked*: verified whenever an anchor is in the story (only when no partner exists: one
  item OR-ing a word and a phrase, a phrase repeating one word, or one item of words with an
  excluded phrase or a `source:` filter).

An outlet's topic (`source:` terms alone, `Topic.is_outlet`) has no required item to anchor it:
it is filed under the first word of each source name it asks for instead, apart from the terms.
The topics a source name leads to are worked out once per name (cached until an outlet's topic
comes or goes), so a story costs one dictionary look-up of its source's name, however many
chats follow outlets; only excluded phrases are left to verify.

Excluded single words are indexed as well: each such term lists the topics it rules out, and
those leave a story's matches at the end, so an exclusion costs nothing until its word occurs;
excluded phrases, exclusions in the topic's own language (`Topic.excluded_in_language`, which
need the story's language) and `source:` filters are verified. Verification is specialised for each
topic's shape (it may run many times per story) and agrees with `Topic.matches`.

Chats are fanned out per distinct topic after matching, in one pass over the matched topics'
followers; a chat's topics are sorted only when it follows more than one of them.

Rarity comes from document frequencies the caller may feed in (`observe`); unknown terms count
as rare, and long terms as rarer than short ones, which is right for names and places.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from news.model import Subscription
from news.topics.analysis import Phrase, TermIndex, words
from news.topics.query import Topic, parse_topic

if TYPE_CHECKING:
    import numpy
    from numpy.typing import NDArray

    from news.topics.meanings import CrossLanguageIndex


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


#: A verification: the story's terms, its index, its source's name and its language.
Check = Callable[[set[str], _LazyIndex, str, str | None], bool]


# Compared and hashed by identity (eq=False): the index files the very object in sets and lists.
@dataclass(eq=False, slots=True)
class _Compiled:
    """A distinct topic as indexed: where it is filed, what is left to verify, who follows it.

    Filed under each of `anchors`, or, if it has `partners`, under each anchor and partner side
    by side (`anchors[i]` with `partners[i]`); `banned` are its excluded single terms. `check` is
    None when being found through the index is already a match (short of an excluded term,
    which the index applies itself); otherwise a function specialised for what is left.
    """

    text: str
    anchors: tuple[str, ...]
    partners: tuple[str, ...]
    banned: tuple[str, ...]
    check: Check | None
    chats: set[int] = field(default_factory=set)
    # An outlet's topic: the first word of each source name it asks for, and its source test.
    outlet_words: tuple[str, ...] = ()
    from_source: Callable[[str], bool] | None = None


class _Entry:
    """What one term leads to in the index (None where nothing is filed).

    As an anchor: `certain` topics, `pairs` (partner term → topics) and `checked` topics; as an
    excluded term: the `banned` topics it rules out.
    """

    __slots__ = ("banned", "certain", "checked", "pairs")

    def __init__(self) -> None:
        self.certain: list[_Compiled] | None = None
        self.pairs: dict[str, tuple[_Compiled, ...]] | None = None
        self.checked: list[_Compiled] | None = None
        # A set, so that taking it out of a story's few matches costs no more than they do.
        self.banned: set[_Compiled] | None = None


def _specialise(others: list[_Group], excluded: _Group | None, topic: Topic) -> Check | None:
    """The verification left once a topic was found: `others` items, `excluded`, sources."""
    filtered = bool(topic.sources or topic.excluded_sources)
    own = _Group(topic.excluded_in_language) if topic.excluded_in_language else None
    if (
        not filtered
        and excluded is None
        and own is None
        and all(not group.phrases for group in others)
    ):
        sets = tuple(group.singles for group in others)
        if not sets:
            return None
        if len(sets) == 1:
            [only] = sets
            return lambda terms, index, source, language: not only.isdisjoint(terms)
        if len(sets) == 2:
            first, second = sets
            return lambda terms, index, source, language: (
                not (first.isdisjoint(terms) or second.isdisjoint(terms))
            )
        return lambda terms, index, source, language: all(not s.isdisjoint(terms) for s in sets)

    def check(terms: set[str], index: _LazyIndex, source: str, language: str | None) -> bool:
        return (
            all(group.found(terms, index) for group in others)
            and (excluded is None or not excluded.found(terms, index))
            and (own is None or not (topic.in_own_language(language) and own.found(terms, index)))
            and topic.from_source(source)
        )

    return check


class Percolator:
    """Distinct topics indexed by anchor term, with the chats that follow each."""

    def __init__(self) -> None:
        self._frequency: Counter[str] = Counter()
        self._topics: dict[str, _Compiled] = {}
        self._entries: dict[str, _Entry] = {}
        # Outlets' topics by the first word of a source name they ask for, and the topics each
        # source name seen so far leads to (emptied whenever an outlet's topic comes or goes).
        self._outlets: dict[str, list[_Compiled]] = {}
        self._outlets_of_source: dict[str, tuple[_Compiled, ...]] = {}

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
        if topic.is_outlet:
            return _compile_outlet(topic)
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
        # The partners: (anchor, term) pairs such that every match holds one of them, from the
        # item whose terms are rarest. For another item, any anchor with its phrases' rarest
        # terms; for the anchor's own item, each phrase's anchor with the phrase's next rarest
        # term (so that item qualifies only if all its phrases have two different terms).
        paired: list[tuple[str, str]] = []
        partner_cost, settled = float("inf"), -1
        for number, (group, own) in enumerate(items):
            if not own:
                terms = {min(phrase, key=cost) for phrase in group}
                pairs = {(anchor, term) for anchor in anchors for term in terms}
            elif all(len(set(phrase)) > 1 for phrase in group):
                pairs = {
                    (anchor, min((term for term in phrase if term != anchor), key=cost))
                    for phrase, anchor in anchor_of.items()
                }
                terms = {term for _, term in pairs}
            else:
                continue
            terms_cost = sum(cost(term) for term in terms)
            if terms_cost < partner_cost:
                paired, partner_cost, settled = sorted(pairs), terms_cost, number
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
        if paired:
            # Filed under each pair: anchors and partners side by side.
            anchors = tuple(anchor for anchor, _ in paired)
        partners = tuple(partner for _, partner in paired)
        return _Compiled(topic.text, anchors, partners, banned, check)

    def add(self, chat_id: int, topic: str | Topic) -> None:
        """Subscribe `chat_id` to a topic (parsed, or in normal form)."""
        topic_text = topic.text if isinstance(topic, Topic) else topic
        compiled = self._topics.get(topic_text)
        if compiled is None:
            compiled = self._compile(topic if isinstance(topic, Topic) else parse_topic(topic))
            self._topics[topic_text] = compiled
            self._file(compiled)
        compiled.chats.add(chat_id)

    def remove(self, chat_id: int, topic_text: str) -> None:
        """Unsubscribe; a topic nobody follows any more leaves the index."""
        compiled = self._topics.get(topic_text)
        if compiled is None:
            return
        compiled.chats.discard(chat_id)
        if not compiled.chats:
            del self._topics[topic_text]
            self._unfile(compiled)

    def _file(self, compiled: _Compiled) -> None:
        if compiled.outlet_words:
            for word in compiled.outlet_words:
                self._outlets[word] = _with(self._outlets.get(word), compiled)
            self._outlets_of_source.clear()
        entries = self._entries
        for term in {*compiled.anchors, *compiled.banned}:
            if term not in entries:
                entries[term] = _Entry()
        if compiled.partners:
            for term, other in zip(compiled.anchors, compiled.partners, strict=True):
                entry = entries[term]
                if entry.pairs is None:
                    entry.pairs = {}
                # Mostly one topic a pair: tuples take less room than lists.
                entry.pairs[other] = (*entry.pairs.get(other, ()), compiled)
        else:
            self._file_unpaired(compiled, _with)
        for term in compiled.banned:
            entry = entries[term]
            if entry.banned is None:
                entry.banned = set()
            entry.banned.add(compiled)

    def _unfile(self, compiled: _Compiled) -> None:
        if compiled.outlet_words:
            for word in compiled.outlet_words:
                kept = _without(self._outlets.get(word), compiled)
                if kept is None:
                    self._outlets.pop(word, None)
                else:
                    self._outlets[word] = kept
            self._outlets_of_source.clear()
        entries = self._entries
        if compiled.partners:
            for term, other in zip(compiled.anchors, compiled.partners, strict=True):
                pairs = entries[term].pairs
                if pairs is not None:
                    left = tuple(topic for topic in pairs.pop(other, ()) if topic is not compiled)
                    if left:
                        pairs[other] = left
        else:
            self._file_unpaired(compiled, _without)
        for term in compiled.banned:
            banned = entries[term].banned
            if banned is not None:
                banned.discard(compiled)
        for term in {*compiled.anchors, *compiled.banned}:
            entry = entries[term]
            if not (entry.certain or entry.pairs or entry.checked or entry.banned):
                del entries[term]

    def _file_unpaired(
        self,
        compiled: _Compiled,
        change: Callable[[list[_Compiled] | None, _Compiled], list[_Compiled] | None],
    ) -> None:
        """Apply `change` (`_with` or `_without`) to the list a topic without partners is filed
        in under each of its anchors: `certain` if it needs no check, else `checked`."""
        for term in compiled.anchors:
            entry = self._entries[term]
            if compiled.check is None:
                entry.certain = change(entry.certain, compiled)
            else:
                entry.checked = change(entry.checked, compiled)

    def matching_topics(
        self, terms: Sequence[str], *, source: str = "", language: str | None = None
    ) -> list[str]:
        """The distinct topics (normal forms) a story with these terms, from `source`, in
        `language` (None: unknown), matches."""
        return [compiled.text for compiled in self._matching(terms, source, language)]

    def _matching(self, terms: Sequence[str], source: str, language: str | None) -> set[_Compiled]:
        term_set = set(terms)
        found: set[_Compiled] = set()
        add, update = found.add, found.update
        candidates: list[_Compiled] = []
        banned: list[set[_Compiled]] = []
        if self._outlets and source:
            for compiled in self._outlets_for(source):
                if compiled.check is None:
                    add(compiled)
                else:
                    candidates.append(compiled)
        for entry in filter(None, map(self._entries.get, term_set)):
            if certain := entry.certain:
                update(certain)
            if partners := entry.pairs:
                for other in partners.keys() & term_set:
                    for compiled in partners[other]:
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
                if (
                    check is not None
                    and compiled not in found
                    and check(term_set, index, source, language)
                ):
                    add(compiled)
        for excluded in banned:
            # Walk the smaller side: a common word may exclude many topics, none of them found.
            found.difference_update(excluded if len(excluded) <= len(found) else found & excluded)
        return found

    def _outlets_for(self, source: str) -> tuple[_Compiled, ...]:
        """The outlets' topics that follow the source called `source`."""
        found = self._outlets_of_source.get(source)
        if found is None:
            seen: dict[_Compiled, None] = {}
            for word in set(words(source)):
                for compiled in self._outlets.get(word, ()):
                    if compiled.from_source is not None and compiled.from_source(source):
                        seen[compiled] = None
            found = self._outlets_of_source[source] = tuple(seen)
        return found

    def matching_chats(
        self, terms: Sequence[str], *, source: str = "", language: str | None = None
    ) -> dict[int, list[str]]:
        """Each chat owed the story, with the topics of its own that matched."""
        owed: dict[int, list[str]] = {}
        shared = False
        for compiled in self._matching(terms, source, language):
            text = compiled.text
            for chat_id in compiled.chats:
                if chat_id in owed:
                    owed[chat_id].append(text)
                    shared = True
                else:
                    owed[chat_id] = [text]
        if shared:
            # Some chat follows several of the matched topics: name them in order.
            for topics in owed.values():
                topics.sort()
        return owed


def _compile_outlet(topic: Topic) -> _Compiled:
    """An outlet's topic, filed under its source names' first words: once the source is known
    to be followed, only excluded phrases are left to verify (excluded words are banned)."""
    banned = tuple(sorted(phrase[0] for phrase in topic.excluded if len(phrase) == 1))
    phrases = [phrase for phrase in topic.excluded if len(phrase) > 1]
    check: Check | None = None
    if phrases or topic.excluded_in_language:
        excluded = _Group(phrases)
        own = _Group(topic.excluded_in_language)

        def check(terms: set[str], index: _LazyIndex, source: str, language: str | None) -> bool:
            return not excluded.found(terms, index) and not (
                topic.in_own_language(language) and own.found(terms, index)
            )

    return _Compiled(
        topic.text,
        anchors=(),
        partners=(),
        banned=banned,
        check=check,
        outlet_words=tuple(sorted({name[0] for name in topic.sources})),
        from_source=topic.from_source,
    )


def _with(topics: list[_Compiled] | None, compiled: _Compiled) -> list[_Compiled]:
    """`topics` (created if None) with `compiled` appended."""
    if topics is None:
        return [compiled]
    topics.append(compiled)
    return topics


def _without(topics: list[_Compiled] | None, compiled: _Compiled) -> list[_Compiled] | None:
    """`topics` less `compiled`, or None if nothing is left."""
    if topics is None:
        return None
    left = [other for other in topics if other is not compiled]
    return left or None


#: Where a subscription pushes: a chat and its forum topic (0: the chat itself).
Place = tuple[int, int]


class SubscriptionIndex(Percolator):
    """A percolator kept in step with the subscriptions table across polls.

    Its readers are places (a chat and one of its forum topics), each filed under a number of
    its own: the percolator itself only knows numbers.
    """

    def __init__(self) -> None:
        super().__init__()
        self._current: set[tuple[Place, str]] = set()
        self._keys: dict[Place, int] = {}
        self._places: list[Place] = []
        # The same topics by meaning, for stories in other languages; made on first use, so
        # that numpy is imported only where meanings are.
        self._across: CrossLanguageIndex | None = None

    def _key(self, place: Place) -> int:
        key = self._keys.get(place)
        if key is None:
            key = self._keys[place] = len(self._places)
            self._places.append(place)
        return key

    def sync(self, subscriptions: Iterable[Subscription]) -> None:
        """Apply the difference between the indexed subscriptions and `subscriptions`."""
        wanted = {((s.chat_id, s.thread_id), s.topic) for s in subscriptions}
        for place, topic in self._current - wanted:
            self.remove(self._key(place), topic)
        for place, topic in wanted - self._current:
            self.add(self._key(place), topic)
        self._current = wanted
        if self._across is not None:
            self._across.keep_only({topic for _, topic in wanted})

    @property
    def across(self) -> CrossLanguageIndex:
        """The followed topics by meaning (`news.topics.meanings`), kept in step by `sync`."""
        if self._across is None:
            from news.topics.meanings import CrossLanguageIndex

            self._across = CrossLanguageIndex()
            self._across.keep_only({topic for _, topic in self._current})
        return self._across

    def across_languages(
        self,
        matched: dict[Place, list[str]],
        vector: NDArray[numpy.float32],
        judged: tuple[set[str], set[str]],
        language: str | None,
    ) -> dict[Place, list[str]]:
        """`matched` (what the words of a story in `language` matched, by place) with what its
        meaning adds in other languages, less the topics whose exclusions leave it out by
        meaning: `judged`, from `across.matching_many`. The topics its words found are drawn
        toward it."""
        for topics in matched.values():
            for topic in topics:
                self.across.found(topic, vector, language)
        added, left_out = judged
        if not added and not left_out:
            return matched
        result: dict[Place, list[str]] = {}
        for place, topics in matched.items():
            kept = [topic for topic in topics if topic not in left_out]
            if kept:
                result[place] = kept
        for topic in sorted(added):
            compiled = self._topics.get(topic)
            if compiled is None:
                continue
            for key in compiled.chats:
                place = self._places[key]
                owed = result.setdefault(place, [])
                if topic not in owed:
                    owed.append(topic)
                    owed.sort()
        return result

    def matching_places(
        self, terms: Sequence[str], *, source: str = "", language: str | None = None
    ) -> dict[Place, list[str]]:
        """Each place owed the story, with the topics followed there that matched."""
        return {
            self._places[key]: topics
            for key, topics in self.matching_chats(terms, source=source, language=language).items()
        }
