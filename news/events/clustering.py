"""Cross-outlet story clusters: which reports, in one language and within a window, are one event.

`Clusterer.add` places each new story in an open cluster or starts one, and says whether the story
is a near-identical copy (wire copy, syndicated text) of a story already seen. Nothing here grows
with the archive: a story is compared with at most `MAX_CANDIDATES` recent clusters of its
language, found through an inverted index, and everything older than the window is forgotten.

Method, and why:

- Independent reports of one event share few word sequences (each outlet writes its own), but they
  share the rare words: names, places, numbers, the thing that happened. So a story is a TF-IDF
  vector over its terms (the analyser of topics, `news.topics.analysis.document_terms`; title terms
  count twice; function words, years and the names of days and months dropped, as they say
  when and not what; a German or Dutch compound also counts as its longest head
  and modifier already seen as words, "Bahnstreik" → "streik", "bahn"), weighted
  `(1 + ln tf) · ln((N + 50) / df)`. N and df are counted online over the stories of that language
  in the window; the 50 pretend documents keep the first hours of a cold start from treating an
  event's own words as common. A vector keeps its `STORY_TERMS` (24) heaviest terms.
- A cluster's centroid is the sum of its members' vectors, cut to `CENTROID_TERMS` (40) terms; its
  `INDEX_TERMS` (12) heaviest are posted in an inverted index. A new story looks up its
  `QUERY_TERMS` (10) heaviest terms there, ranks the clusters found by the weight they share
  (ties by cluster id, lowest first: a restarted process ranks as the one that ran on does), and
  takes the exact cosine with the best `MAX_CANDIDATES` (24) centroids. It joins the most similar
  if the cosine is at least `COSINE_CUTOFF` (0.24; `COMPOUNDING_CUTOFF`, 0.22, in German and
  Dutch, whose reports share fewer terms), else starts a cluster. Each language has its own
  document frequencies, index and clusters, so languages never mix.
- Copies are found first, by MinHash over 3-term shingles of the summary (with the title when the
  summary is short): 15 minimum hashes in `MINHASH_BANDS` (5) bands of `MINHASH_ROWS` (3), so a
  pair with Jaccard 0.8 becomes a candidate with probability 0.97 and one with Jaccard 0.1 almost
  never. A candidate agreeing on at least `DUPLICATE_JACCARD` (0.5) of the hashes is a copy: the
  story joins that story's cluster whatever its cosine with the (perhaps drifted) centroid.
  Shingles alone find only copies, hence a first pass and not the method.
- The cut-offs were chosen on the labelled sets in `tests/data/clusters/` (invented English and
  German reports with distractors about the same country or people, and real feed entries of
  many outlets, a title and one sentence each) as the best trade of B-cubed precision against
  recall; `tests/test_clustering.py` prints them, docs/benchmarks.md gives them by cut-off. Texts
  are short, so cosines are low; what is missed is mostly German reports that share no word but
  the place ("Hochwasser" and "Flut"); what is joined wrongly, analyses and features beside the
  day's event on their subject.
- Two stories of one outlet join one cluster only as a copy (above) or an update (headlines
  sharing `_SAME_HEADLINE` of their terms): an outlet's stories on one theme ("peace talks
  resume", "activists call for peace") share words without being one event. One exception:
  a cluster that another outlet's report confirms takes a second report of the same outlet
  when it is as close as reports of one event are (cosine ≥ `_SAME_OUTLET_COSINE`, 0.38), as an
  outlet carrying two wires' reports of one event (Reuters', AFP's) has. Only the most
  similar cluster may be joined: a story its own outlet's report keeps out of it starts a
  cluster rather than join the next most similar, another event.
- A cosine resting on the subject alone does not join: unless the story's headline shares
  `_SHARED_HEADLINE` (3) terms with the cluster's headlines, the story and the centroid must
  share `_OTHER_EVIDENCE` (2) terms beyond those the headlines share, and the cluster must have
  had a report within `_QUIET` (12 h) of the story (`_enough_evidence`). Different events about
  one person or place share the name and little else ("Northport pilots strike", "Northport
  doubles cruise fees", which in an otherwise empty window, where every word weighs as if rare,
  share "northport" and "pay" at a cosine of 0.25), and after half a day without a report the
  next story on the subject is the next development (the pope's death the morning after his
  Easter blessing, told with a look back at it). On the labelled sets this joins no pair of
  look-alike events any more (two before) and costs two joins of one event whose reports share
  only a name or two (Solingen's knife attack and its manhunt; "Saudi Arabia" in two Ramadan
  reports). The quiet time was tried at 6, 12 and 18 h: 12 and 18 h give the same figures, 6 h
  splits follow-ups of the short texts (their recall 0.944 → 0.939).
- A cluster is open for `window` (48 h) after its first story, then it leaves the index: a later
  report starts a new cluster, so a long-running story does not grow without end and a pushed
  message is never edited after 48 h. A story leaves the document frequencies and the copy index
  when it is older than the window. The clock is the newest `published_at` seen.
- Memory per story is kept small (`bench/bench_clustering.py` measures it; a start loads a
  whole window, `bench/bench_cluster_start.py`): a centroid is a tuple of interned terms beside
  its norm and weights packed in bytes, a cluster's members a tuple (most hold one story), a
  MinHash signature is 60 bytes, a headline that opens a story's terms is a count of them, the
  copy index and the postings are arrays of ids (not dicts, sets or lists of int objects), and
  an expiry is one int, not a (time, id) tuple.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import struct
from array import array
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import islice
from operator import eq
from sys import intern
from typing import TYPE_CHECKING, NamedTuple

from news.events.cluster_state import ClusterRow, ClusterState, StorySignature
from news.events.linking import EventLinker, meaning_keys, project
from news.policy import CLUSTER_WINDOW
from news.topics import document_terms

if TYPE_CHECKING:
    import numpy
    from numpy.typing import NDArray

COSINE_CUTOFF = 0.24
# German and Dutch reports of one event share fewer terms (compounds, inflection): a lower cut-off.
COMPOUNDING_CUTOFF = 0.22
STORY_TERMS = 24
CENTROID_TERMS = 40
INDEX_TERMS = 12
QUERY_TERMS = 10
MAX_CANDIDATES = 24
TITLE_WEIGHT = 2
PRIOR_DOCS = 50
SHINGLE = 3
MINHASH_BANDS = 5
MINHASH_ROWS = 3
DUPLICATE_JACCARD = 0.5
_BAND_CHECKS = 8
# Hashes agreeing (share) that make a copy certain enough to stop looking for a closer one.
_CERTAIN_COPY = 0.8
# Headlines of one outlet sharing this much (Jaccard of their terms) are one story updated.
_SAME_HEADLINE = 0.6
# A story of an outlet already in a cluster under another headline joins it only this close,
# and only when another outlet's report is in it too (see `_may_join`).
_SAME_OUTLET_COSINE = 0.38
# A story whose headline shares fewer terms than this with the headlines of a cluster joins it
# only when it shares this many other terms with the centroid (see `_enough_evidence`).
_SHARED_HEADLINE = 3
_OTHER_EVIDENCE = 2
_HEADLINES_COMPARED = 32
_QUIET = timedelta(hours=12)
# A summary this short (in terms) is shingled together with its title.
_SHORT_SUMMARY = 12
# German and Dutch join nouns into compounds ("Bahnstreik"): such a term also counts as its
# longest head and modifier already seen as words of their own ("streik", "bahn").
_COMPOUNDING = frozenset({"de", "nl"})
_MIN_COMPOUND = 9
_MIN_PART = 4
_LOW_30 = (1 << 30) - 1
_HASHES = MINHASH_BANDS * MINHASH_ROWS
# A centroid's norm, packed before its weights (`Cluster.packed_weights`).
_NORM = struct.Struct("d")
# One BLAKE2b digest of a shingle gives all its 32-bit hashes at once (C code, not a loop).
_UNPACK_HASHES = struct.Struct(f"<{_HASHES}I").unpack
# Function words carry no event; IDF learns that too, but not in the first hour of a cold start.
# Names of days and months say when, not what: every story of the day shares them (English
# "march" stays, a word for a protest too).
_FUNCTION_WORDS = {
    "en": "the a an of and or to in on at for by with from as is are was were be been has have "
    "had it its this that these those he she they his her their said says will would not but "
    "over into about more than who which what when where new also after up out could "
    "can may one two first last year years week day told no us there how why so off "
    "monday tuesday wednesday thursday friday saturday sunday january february april june "
    "july august september october november december",
    "de": "der die das den dem des ein eine einen einem einer und oder zu im in am an auf für mit "
    "von vom bei als ist sind war waren wird werden hat haben sich nicht auch es er sie sagte "
    "nach über um bis noch nur mehr wie wegen soll sollen will kann können seit gegen durch "
    "aus vor zum zur jetzt neue neuen ersten jahr jahren teilte mit was wer wo warum wann beim "
    "muss müssen montag dienstag mittwoch donnerstag freitag samstag sonntag januar februar "
    "märz april mai juni juli august september oktober november dezember",
    "fr": "le la les un une des du de et ou à au aux en dans sur pour par avec est sont a ont "
    "été il elle ils qui que ce cette ne pas se a dit",
    "es": "el la los las un una unos del de y o a al en con por para es son fue ha han se que "
    "no su sus lo como dijo",
    "ru": "и в во на не что с со по как это для из от за к о его но все так же был была были",
    "uk": "і й в у на не що з із по як це для від за до о його але все так же був була були",
}


@cache
def function_terms(language: str) -> frozenset[str]:
    """Terms of a language's function words, which say nothing about an event."""
    return frozenset(document_terms(_FUNCTION_WORDS.get(language, ""), language))


class Member(NamedTuple):
    """A story in the window, in its cluster: its outlet and clustering time, and what the
    clusterer keeps of it to carry on (the terms counted in the document frequencies, its
    MinHash signature, its cluster, its headline's terms).

    One record a story, which the window's index and the story's cluster share. A tuple: built
    for each story of the window at a start, several times faster than a frozen dataclass, and
    no bigger. The signature is its 32-bit hashes as bytes (a third smaller than an array). The
    headline's terms are most often the first of `terms`: then `headline` is how many (a small
    int costs nothing), else the tuple of them.
    """

    story_id: int
    source: str
    published_at: datetime
    language: str
    terms: tuple[str, ...]
    signature: bytes
    cluster_id: int
    headline: tuple[str, ...] | int

    @property
    def headline_terms(self) -> tuple[str, ...]:
        headline = self.headline
        return self.terms[:headline] if isinstance(headline, int) else headline

    @property
    def hashes(self) -> memoryview:
        """The MinHash signature's 32-bit hashes."""
        return memoryview(self.signature).cast("I")


@dataclass(frozen=True, slots=True)
class Assignment:
    """Where a story went: the cluster it joined or started, and whether it is a copy."""

    story_id: int
    cluster_id: int
    created: bool
    similarity: float
    duplicate_of: int | None = None

    @property
    def is_duplicate(self) -> bool:
        return self.duplicate_of is not None


@dataclass(eq=False, slots=True)
class Cluster:
    """Reports of one event in one language: its stories and their sources."""

    id: int
    language: str
    started_at: datetime
    # A tuple, not a list: most clusters of a window hold one story, and a tuple of one is
    # 32 bytes less than a list of one (an object and a buffer of its own).
    members: tuple[Member, ...] = ()
    # The centroid, heaviest term first, beside its weights: a third of the memory of a dict.
    terms: tuple[str, ...] = field(default=(), repr=False)
    # The centroid's norm, then its weights, as 64-bit floats in one bytes object (`norm` and
    # `weights` read them): an array is 45 bytes more, a header and a buffer of its own, and a
    # float object 32 bytes more than 8 in the bytes, in each of 100,000 clusters.
    packed_weights: bytes = field(default=b"", repr=False)
    # The event it reports, when a cluster of another language opened it (`linking`).
    linked_to: int | None = field(default=None, repr=False)

    @property
    def event_id(self) -> int:
        """The event's id: its own, or that of the cluster of another language it joined."""
        return self.id if self.linked_to is None else self.linked_to

    @property
    def weights(self) -> memoryview[float]:
        """The centroid's weights, in the order of `terms`."""
        return memoryview(self.packed_weights).cast("d")[1:]

    @property
    def norm(self) -> float:
        """The centroid's Euclidean norm (1.0 for a centroid of no weight)."""
        packed = self.packed_weights
        return _NORM.unpack_from(packed)[0] if packed else 0.0

    @property
    def story_ids(self) -> list[int]:
        return [member.story_id for member in self.members]

    @property
    def sources(self) -> list[str]:
        """Distinct sources, in the order they reported."""
        return list(dict.fromkeys(member.source for member in self.members))


class _Bands:
    """The copy index: a band's key → the stories with it, in the order they came.

    Five entries a story: as a dict of int keys that is 70 bytes an entry, here 12 (the keys
    and story ids in arrays, one pair per bucket of keys, scanned in C)."""

    __slots__ = ("ids", "keys")

    _BITS = 12

    def __init__(self) -> None:
        self.keys: list[array[int] | None] = [None] * (1 << self._BITS)
        self.ids: list[array[int]] = [_NO_IDS] * (1 << self._BITS)

    def add(self, key: int, story_id: int) -> None:
        bucket = key & ((1 << self._BITS) - 1)
        keys = self.keys[bucket]
        if keys is None:
            self.keys[bucket] = array("I", (key,))
            self.ids[bucket] = array("q", (story_id,))
        else:
            keys.append(key)
            self.ids[bucket].append(story_id)

    def held(self, key: int) -> list[int]:
        """The stories with band `key`, first come first."""
        bucket = key & ((1 << self._BITS) - 1)
        keys = self.keys[bucket]
        found: list[int] = []
        if keys is None:
            return found
        ids = self.ids[bucket]
        at = 0
        try:
            while True:
                at = keys.index(key, at)
                found.append(ids[at])
                at += 1
        except ValueError:
            return found

    def remove(self, key: int, story_id: int) -> None:
        bucket = key & ((1 << self._BITS) - 1)
        keys = self.keys[bucket]
        if keys is None:
            return
        ids = self.ids[bucket]
        at = 0
        try:
            while True:
                at = keys.index(key, at)
                if ids[at] == story_id:
                    del keys[at]
                    del ids[at]
                    if not keys:
                        self.keys[bucket] = None
                        self.ids[bucket] = _NO_IDS
                    return
                at += 1
        except ValueError:
            return


_NO_IDS: array[int] = array("q")


class _Language:
    """Document frequencies, the centroid index and the copy index of one language."""

    __slots__ = ("bands", "df", "docs", "postings")

    def __init__(self) -> None:
        self.df: dict[str, int] = {}
        self.docs = 0
        # A term → the clusters it leads, ascending by id: an array of 8 bytes a cluster (a
        # set costs five times that), in an order that does not depend on what came and went.
        self.postings: dict[str, array[int]] = {}
        self.bands = _Bands()


class Clusterer:
    """Online clustering of a stream of stories; see the module docstring for the method."""

    def __init__(
        self,
        window: timedelta = CLUSTER_WINDOW,
        *,
        cutoff: float = COSINE_CUTOFF,
        compounding_cutoff: float = COMPOUNDING_CUTOFF,
        duplicate_jaccard: float = DUPLICATE_JACCARD,
        linker: EventLinker | None = None,
    ) -> None:
        self.window = window
        # Events across languages (`news.events.linking`): used for stories with a meaning.
        self.linker = EventLinker() if linker is None else linker
        # Linked clusters' events, kept while their stories may be in the window (twice the
        # window after the cluster started): (expiry, cluster id) in a heap.
        self._linked: dict[int, int] = {}
        self._linked_expiry: list[int] = []
        self.cutoff = cutoff
        self.compounding_cutoff = compounding_cutoff
        self.duplicate_jaccard = duplicate_jaccard
        self._languages: dict[str, _Language] = {}
        self._clusters: dict[int, Cluster] = {}
        self._stories: dict[int, Member] = {}
        # Heaps of (time, id) packed into one int each (`_expiry`): half a tuple's memory. A
        # story that opened its cluster has no expiry of its own: its cluster's is the same
        # (time and id), and the story leaves with the cluster (`_advance`). In a window of
        # one story a cluster, that is half of the expiries' ints.
        self._cluster_expiry: list[int] = []
        self._story_expiry: list[int] = []
        self._now: datetime | None = None
        # What changed since `changes()` was last called: clusters whose centroid moved, and
        # stories added (kept here too: a story may leave the window before it is handed out).
        self._dirty: set[int] = set()
        self._new: dict[int, Member] = {}
        self._closed: dict[int, ClusterRow] = {}
        self._forgotten: dict[int, StorySignature] = {}

    def __len__(self) -> int:
        """Stories in the window."""
        return len(self._stories)

    def __contains__(self, story_id: object) -> bool:
        return story_id in self._stories

    def cluster_of(self, story_id: int) -> int | None:
        """The cluster a story in the window was placed in."""
        seen = self._stories.get(story_id)
        return None if seen is None else self._linked.get(seen.cluster_id, seen.cluster_id)

    def cluster(self, cluster_id: int) -> Cluster | None:
        """An open cluster, or None once it has expired."""
        return self._clusters.get(cluster_id)

    def clusters(self) -> list[Cluster]:
        return list(self._clusters.values())

    def add(
        self,
        story_id: int,
        title: str,
        summary: str,
        language: str,
        published_at: datetime,
        source: str,
        *,
        terms: Sequence[str] | None = None,
        meaning: NDArray[numpy.float32] | None = None,
    ) -> Assignment:
        """Place a story in the cluster of its event, starting one if none is open.

        A new cluster takes its first story's id as its own, so ids are stable across restarts
        (a restart loads the stored state, `load`). `terms` are
        the story's indexed terms (`Story.terms`: the title's, then the text's), when known,
        which saves analysing the text again.
        `meaning` is the story's vector (`news.meaning`): with it, a story that opens a cluster
        may join the event of a cluster of another language (`news.events.linking`), and the
        assignment names that event; without it, the story is placed by its words alone.
        Raises ValueError for a story id already in the window: a story is added once.
        """
        if story_id in self._stories:
            raise ValueError(f"story {story_id} is already clustered")
        self._advance(published_at)
        language = intern(language)
        lang = self._language(language)
        title_terms = document_terms(title, language)
        if terms is not None and tuple(terms[: len(title_terms)]) == title_terms:
            summary_terms = tuple(terms[len(title_terms) :])
        else:
            summary_terms = document_terms(summary, language)
        # Terms read back from storage are fresh strings, one copy per story; the window keeps
        # each story's terms, so they are interned: one copy per term, a third of the memory.
        title_terms = tuple(map(intern, title_terms))
        summary_terms = tuple(map(intern, summary_terms))
        signature = _minhash(
            summary_terms if len(summary_terms) >= _SHORT_SUMMARY else title_terms + summary_terms
        )
        bands = _bands(signature)
        duplicate_of = self._find_copy(lang, signature, bands)
        vector, distinct = self._vector(lang, title_terms * TITLE_WEIGHT + summary_terms, language)

        source = intern(source)
        cluster: Cluster | None = None
        similarity = 1.0
        if duplicate_of is not None:
            cluster = self._clusters.get(self._stories[duplicate_of].cluster_id)
        skip = function_terms(language)
        # A tuple of interned terms: a third of a frozenset's memory, and rarely compared.
        headline = tuple(
            term for term in dict.fromkeys(title_terms) if term not in skip and not _is_year(term)
        )
        if cluster is None:
            cutoff = self.compounding_cutoff if language in _COMPOUNDING else self.cutoff
            cluster, similarity = self._nearest(
                lang, vector, source, headline, cutoff, published_at
            )
        linked: int | None = None
        if meaning is not None:
            projected = project(meaning)
            keys = meaning_keys(title, summary)
            if cluster is not None and duplicate_of is None:
                linked = self.linker.reroute(
                    cluster.event_id, projected, keys, language, published_at
                )
                if linked is not None:
                    cluster = None  # an event of another language fits it clearly better
        created = cluster is None
        if cluster is None:
            cluster = Cluster(story_id, language, published_at)
            if meaning is not None and linked is None:
                linked = self.linker.link(projected, keys, language, published_at)
            if linked is not None:
                cluster.linked_to = linked
                self._linked[cluster.id] = linked
                heapq.heappush(self._linked_expiry, _expiry(published_at + self.window, cluster.id))
            self._clusters[cluster.id] = cluster
            heapq.heappush(self._cluster_expiry, _expiry(published_at, cluster.id))
        member = Member(
            story_id,
            source,
            published_at,
            language,
            distinct,
            signature.tobytes(),
            cluster.id,
            _headline(headline, distinct),
        )
        self._join(lang, cluster, member, vector)
        self._dirty.add(cluster.id)
        self._new[story_id] = member
        self._stories[story_id] = member
        if not created:
            heapq.heappush(self._story_expiry, _expiry(published_at, story_id))
        self._band(lang, story_id, bands)
        event_id = cluster.event_id
        if meaning is not None:
            self.linker.add(event_id, cluster.started_at, projected, keys, language)
            if event_id in self._clusters:  # its row keeps the event's meaning
                self._dirty.add(event_id)
        return Assignment(story_id, event_id, created and linked is None, similarity, duplicate_of)

    def changes(self) -> ClusterState:
        """What changed since the last call: the centroids of the clusters that gained a story
        and the signatures of the stories added (closed or forgotten since, too), for storage
        to keep."""
        clusters = list(self._closed.values())
        clusters += [
            _row(self._clusters[cluster_id], self.linker.pack_row(cluster_id))
            for cluster_id in sorted(self._dirty)
            if cluster_id in self._clusters
        ]
        stories = [
            self._forgotten.get(story_id) or _signature(member)
            for story_id, member in self._new.items()
        ]
        self._dirty.clear()
        self._new.clear()
        self._closed.clear()
        self._forgotten.clear()
        return ClusterState(clusters, stories)

    def load(self, state: ClusterState, *, now: datetime | None = None) -> None:
        """Take in clusters and stories as storage keeps them: at a start, the open clusters
        and the window's stories; later, what other processes clustered. Nothing is analysed.

        Stories come in the order they were added (members keep it). A cluster row replaces
        the centroid of the cluster it names; a story already here is left alone; a story
        whose cluster is not open counts in the document frequencies and the copy index but
        is no member of any cluster. An event's meaning is taken only when the event started
        within the linker's horizon before `now` (else the clock), the events a story may link
        to: a start holds no meaning of the window's older half.
        """
        clock = now or self._now
        linkable = None if clock is None else clock - self.linker.horizon
        # Strings read back from storage are fresh, one copy per row: interned, one in all.
        for row in state.clusters:
            language = intern(row.language)
            lang = self._language(language)
            cluster = self._clusters.get(row.id)
            if cluster is None:
                cluster = Cluster(row.id, language, row.started_at)
                self._clusters[row.id] = cluster
                heapq.heappush(self._cluster_expiry, _expiry(row.started_at, row.id))
            self._set_centroid(lang, cluster, tuple(map(intern, row.terms)), row.weights)
            if row.event_id is not None and row.event_id != row.id:
                if cluster.linked_to is None:
                    heapq.heappush(
                        self._linked_expiry, _expiry(row.started_at + self.window, row.id)
                    )
                cluster.linked_to = self._linked[row.id] = row.event_id
            if row.meaning and (linkable is None or row.started_at >= linkable):
                self.linker.unpack_row(row.id, row.started_at, row.meaning)
        newest = self._now
        for story in state.stories:
            story_id, published_at = story.story_id, story.published_at
            if story_id in self._stories:
                continue
            language = intern(story.language)
            lang = self._language(language)
            terms = tuple(map(intern, story.terms))
            lang.docs += 1
            df = lang.df
            for term in terms:
                df[term] = df.get(term, 0) + 1
            signature = story.signature
            cluster = self._clusters.get(story.cluster_id)
            cluster_id = story.cluster_id
            if cluster is not None:
                # The cluster's own objects where the row repeats them (its id, its start: the
                # story that opened it), not the row's copies.
                cluster_id = cluster.id
                if story_id == cluster_id:
                    story_id = cluster_id
                started_at = cluster.started_at
                if published_at == started_at and published_at.tzinfo is started_at.tzinfo:
                    published_at = started_at
            headline = _headline(tuple(map(intern, story.headline)), terms)
            member = Member(
                story_id,
                intern(story.source),
                published_at,
                language,
                terms,
                signature.tobytes(),
                cluster_id,
                headline,
            )
            self._stories[story_id] = member
            if cluster is None or not _opened(member, cluster):
                heapq.heappush(self._story_expiry, _expiry(published_at, story_id))
            self._band(lang, story_id, _bands(signature))
            if cluster is not None:
                cluster.members += (member,)
            if newest is None or published_at > newest:
                newest = published_at
        if newest is not None:
            self._advance(newest)

    def _language(self, language: str) -> _Language:
        # Not `setdefault(language, _Language())`: that builds an index for every story.
        lang = self._languages.get(language)
        if lang is None:
            lang = self._languages[language] = _Language()
        return lang

    @staticmethod
    def _band(lang: _Language, story_id: int, bands: list[int]) -> None:
        add = lang.bands.add
        for band in bands:
            add(band, story_id)

    def _vector(
        self, lang: _Language, terms: Sequence[str], language: str
    ) -> tuple[dict[str, float], tuple[str, ...]]:
        """The story's TF-IDF vector, cut to its heaviest terms and of unit length; its terms."""
        skip = function_terms(language)
        counts: dict[str, int] = {}
        compounding = language in _COMPOUNDING
        for term in terms:
            if term not in skip and len(term) > 1 and not _is_year(term):
                counts[term] = counts.get(term, 0) + 1
                if compounding and len(term) >= _MIN_COMPOUND:
                    for part in _parts(term, lang.df):
                        counts[part] = counts.get(part, 0) + 1
        lang.docs += 1
        df = lang.df
        for term in counts:
            df[term] = df.get(term, 0) + 1
        scale = lang.docs + PRIOR_DOCS
        weights = [
            ((1.0 + math.log(tf)) * math.log(scale / df[term]), term) for term, tf in counts.items()
        ]
        top = heapq.nlargest(STORY_TERMS, weights)
        norm = math.sqrt(sum(w * w for w, _ in top)) or 1.0
        return {term: w / norm for w, term in top if w > 0}, tuple(counts)

    def _nearest(
        self,
        lang: _Language,
        vector: dict[str, float],
        source: str,
        headline: tuple[str, ...],
        cutoff: float,
        published_at: datetime,
    ) -> tuple[Cluster | None, float]:
        """The cluster the story joins, if any, and its cosine with the most similar one.

        Only the most similar cluster may be joined: when it holds a different story of the
        same outlet (see `_may_join`), the story opens a cluster rather than join a less similar
        one, which would be another event.
        """
        shared: dict[int, float] = {}
        for term, weight in islice(vector.items(), QUERY_TERMS):
            for cluster_id in lang.postings.get(term, ()):
                shared[cluster_id] = shared.get(cluster_id, 0.0) + weight
        best: Cluster | None = None
        best_score = 0.0
        for cluster_id in heapq.nlargest(MAX_CANDIDATES, shared, key=shared.__getitem__):
            cluster = self._clusters[cluster_id]
            get = vector.get
            dot = sum(
                w * get(term, 0.0) for term, w in zip(cluster.terms, cluster.weights, strict=True)
            )
            score = dot / cluster.norm
            if score > best_score:
                best, best_score = cluster, score
        if best is None or best_score < cutoff:
            return None, best_score
        if not self._may_join(best, source, headline, best_score):
            return None, best_score
        if not self._enough_evidence(best, vector, headline, published_at):
            return None, best_score
        return best, best_score

    @staticmethod
    def _enough_evidence(
        cluster: Cluster, vector: dict[str, float], headline: tuple[str, ...], at: datetime
    ) -> bool:
        """Whether the story shares more with `cluster` than the subject of the headlines.

        Reports of different events about one person or place (a port's pilots strike, its
        cruise fees doubled; the president's oath, his first decree) have headlines that share
        that subject alone, and texts that share little else: the cosine rests on the name
        (and, in a window of few stories, on any everyday word, which then weighs as much as a
        rare one). Reports of one event share words of what happened besides. So unless the
        headlines share `_SHARED_HEADLINE` terms, the story and the centroid must share
        `_OTHER_EVIDENCE` terms the headlines do not, and the cluster must have had a report
        within `_QUIET` (12 h) of the story: after half a day without one, a story on the same
        subject is the next development (the pope's death the morning after his Easter
        blessing, told with a look back at it), not another report of that event.
        """
        last = cluster.members[-1].published_at if cluster.members else cluster.started_at
        subject: set[str] = set()
        # The newest headlines: a large event's first ones change nothing, and cost time.
        for member in islice(reversed(cluster.members), _HEADLINES_COMPARED):
            subject.update(term for term in member.headline_terms if term in headline)
            if len(subject) >= _SHARED_HEADLINE:
                return True
        if at - last > _QUIET:
            return False
        other = sum(1 for term in cluster.terms if term in vector and term not in subject)
        return other >= _OTHER_EVIDENCE

    def _may_join(
        self, cluster: Cluster, source: str, headline: tuple[str, ...], similarity: float
    ) -> bool:
        """Whether a story of `source` may join `cluster` on similarity alone.

        An outlet rarely reports one event twice under different headlines, but it often runs
        several stories that share a theme ("peace talks" and a protest calling for peace): so a
        story joins a cluster holding its own outlet's report only as an update of that report,
        with a near-identical headline (copies are found before, by their text).
        """
        others = False
        own_differs = False
        for member in cluster.members:
            if member.source != source:
                others = True
                continue
            seen = self._stories.get(member.story_id)
            if seen is None or _jaccard(headline, seen.headline_terms) < _SAME_HEADLINE:
                own_differs = True
        if not own_differs:
            return True
        # Another outlet's report confirms the event, and the story is as close to it as
        # reports of one event are: an outlet carrying two wires' reports of it (Reuters' and
        # AFP's) lists them under it.
        return others and similarity >= _SAME_OUTLET_COSINE

    def _join(
        self, lang: _Language, cluster: Cluster, member: Member, vector: dict[str, float]
    ) -> None:
        cluster.members += (member,)
        summed = dict(zip(cluster.terms, cluster.weights, strict=True))
        for term, weight in vector.items():
            summed[term] = summed.get(term, 0.0) + weight
        top = heapq.nsmallest(CENTROID_TERMS, summed.items(), key=_heaviest)
        self._set_centroid(
            lang,
            cluster,
            tuple(term for term, _ in top),
            array("d", (weight for _, weight in top)),
        )

    def _set_centroid(
        self, lang: _Language, cluster: Cluster, terms: tuple[str, ...], weights: array[float]
    ) -> None:
        """Give `cluster` a new centroid, and move it in the index of its terms: off those it no
        longer leads with, onto those it now does."""
        old = set(cluster.terms[:INDEX_TERMS])
        cluster.terms = terms
        cluster.packed_weights = _NORM.pack(math.sqrt(sum(w * w for w in weights)) or 1.0) + (
            weights.tobytes()
        )
        new = set(cluster.terms[:INDEX_TERMS])
        for term in old - new:
            self._unpost(lang, term, cluster.id)
        for term in new - old:
            posting = lang.postings.get(term)
            if posting is None:
                lang.postings[term] = array("q", (cluster.id,))
            elif cluster.id > posting[-1]:  # most often: a new cluster has the newest id
                posting.append(cluster.id)
            else:
                at = bisect_left(posting, cluster.id)
                if at == len(posting) or posting[at] != cluster.id:
                    posting.insert(at, cluster.id)

    def _find_copy(self, lang: _Language, signature: array[int], bands: list[int]) -> int | None:
        best: int | None = None
        best_agreeing = math.ceil(self.duplicate_jaccard * len(signature))
        checked: set[int] = set()
        for band in bands:
            # A band shared by many stories (a templated feed: "Weather for …") is checked for
            # its newest few only; copies of one text are one cluster, so that finds it.
            for story_id in lang.bands.held(band)[-_BAND_CHECKS:]:
                if story_id in checked:
                    continue
                checked.add(story_id)
                agreeing = sum(map(eq, signature, self._stories[story_id].hashes))
                if agreeing >= best_agreeing:
                    best, best_agreeing = story_id, agreeing
                    if agreeing >= _CERTAIN_COPY * len(signature):
                        return best  # no closer copy would change the cluster
        return best

    def _advance(self, published_at: datetime) -> None:
        """Move the clock to the newest story seen and forget what fell out of the window."""
        if self._now is None or published_at > self._now:
            self._now = published_at
        horizon = self._now - self.window
        before = _expiry(horizon, _FIRST_ID)
        while self._cluster_expiry and self._cluster_expiry[0] < before:
            cluster_id = _expired_id(heapq.heappop(self._cluster_expiry))
            cluster = self._clusters.pop(cluster_id)
            if cluster_id in self._dirty:  # closed before its change was handed out
                self._dirty.discard(cluster_id)
                self._closed[cluster_id] = _row(cluster, self.linker.pack_row(cluster_id))
            self.linker.forget(cluster_id)
            lang = self._languages[cluster.language]
            for term in cluster.terms[:INDEX_TERMS]:
                self._unpost(lang, term, cluster_id)
            # The story that opened it, which has no expiry of its own (its time and id are
            # the cluster's): the order stories are forgotten in changes nothing kept.
            opener = self._stories.get(cluster_id)
            if opener is not None and _opened(opener, cluster):
                self._forget(cluster_id)
        while self._story_expiry and self._story_expiry[0] < before:
            story_id = _expired_id(heapq.heappop(self._story_expiry))
            # Gone already when it opened a cluster this process heard of only after the story
            # (its own expiry is the cluster's: both fall due in this call).
            if story_id in self._stories:
                self._forget(story_id)
        while self._linked_expiry and self._linked_expiry[0] < before:
            self._linked.pop(_expired_id(heapq.heappop(self._linked_expiry)), None)
        self.linker.forget_before(self._now)

    def _forget(self, story_id: int) -> None:
        member = self._new.get(story_id)
        if member is not None:  # forgotten before its signature was handed out
            self._forgotten[story_id] = _signature(member)
        seen = self._stories.pop(story_id)
        lang = self._languages[seen.language]
        lang.docs -= 1
        for term in seen.terms:
            left = lang.df[term] - 1
            if left:
                lang.df[term] = left
            else:
                del lang.df[term]
        for band in _bands(seen.hashes):
            lang.bands.remove(band, story_id)

    @staticmethod
    def _unpost(lang: _Language, term: str, cluster_id: int) -> None:
        ids = lang.postings.get(term)
        if ids is not None:
            at = bisect_left(ids, cluster_id)
            if at < len(ids) and ids[at] == cluster_id:
                del ids[at]
            if not ids:
                del lang.postings[term]


def _headline(headline: tuple[str, ...], terms: tuple[str, ...]) -> tuple[str, ...] | int:
    """What `Member` keeps of a headline's terms: how many, when they are the first of `terms`."""
    return len(headline) if terms[: len(headline)] == headline else headline


# An expiry is a time and an id packed into one int that sorts as the tuple would: the time in
# microseconds since the epoch, above the id made non-negative (any 64-bit id).
_ID_BIAS = 1 << 63
_FIRST_ID = -_ID_BIAS
_LOW_64 = (1 << 64) - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)


def _expiry(at: datetime, item_id: int) -> int:
    since = at - (_NAIVE_EPOCH if at.tzinfo is None else _EPOCH)
    return ((since // _MICROSECOND) << 64) + item_id + _ID_BIAS


def _expired_id(expiry: int) -> int:
    return (expiry & _LOW_64) - _ID_BIAS


def _opened(member: Member, cluster: Cluster) -> bool:
    """Whether the story opened the cluster: its id and time are the cluster's, and so is its
    expiry."""
    return member.story_id == cluster.id and member.published_at == cluster.started_at


def _signature(member: Member) -> StorySignature:
    return StorySignature(
        member.story_id,
        member.cluster_id,
        member.language,
        member.source,
        member.published_at,
        member.terms,
        member.headline_terms,
        array("I", member.hashes),
    )


def _row(cluster: Cluster, meaning: bytes = b"") -> ClusterRow:
    return ClusterRow(
        cluster.id,
        cluster.language,
        cluster.started_at,
        cluster.terms,
        array("d", cluster.weights),
        cluster.linked_to,
        meaning,
    )


def _parts(term: str, known: dict[str, int]) -> list[str]:
    """The longest known head and modifier of a compound: "bahnstreik" → "streik", "bahn"."""
    parts = []
    for start in range(_MIN_PART, len(term) - _MIN_PART + 1):
        if term[start:] in known:
            parts.append(term[start:])
            break
    for end in range(len(term) - _MIN_PART, _MIN_PART - 1, -1):
        if term[:end] in known:
            parts.append(term[:end])
            break
    return parts


def _is_year(term: str) -> bool:
    """A year ("2026") says when, like a month's name: stories of one season share it."""
    return len(term) == 4 and term.isdigit() and term[:2] in ("19", "20")


def _jaccard(a: Sequence[str], b: Sequence[str]) -> float:
    union = set(a) | set(b)
    return len(set(a) & set(b)) / len(union) if union else 1.0


def _heaviest(item: tuple[str, float]) -> tuple[float, str]:
    return -item[1], item[0]


def _minhash(terms: Sequence[str]) -> array[int]:
    """`MINHASH_BANDS × MINHASH_ROWS` minimum hashes (32 bits) of the text's 3-term shingles.

    The i-th hash of a shingle is the i-th 32-bit word of its BLAKE2b digest: independent hash
    functions, one digest per shingle.
    """
    shingles = {" ".join(terms[i : i + SHINGLE]) for i in range(max(1, len(terms) - SHINGLE + 1))}
    rows = [
        _UNPACK_HASHES(hashlib.blake2b(shingle.encode(), digest_size=4 * _HASHES).digest())
        for shingle in shingles
    ]
    return array("I", map(min, zip(*rows, strict=True)))


def _bands(signature: Sequence[int]) -> list[int]:
    """The keys of a signature's bands: 30-bit hashes, so that each is one small int.

    (Tuples of ints hash the same in every process.) A key shared by chance only costs a
    comparison of signatures.
    """
    return [
        hash((band, *signature[band * MINHASH_ROWS : (band + 1) * MINHASH_ROWS])) & _LOW_30
        for band in range(MINHASH_BANDS)
    ]
