"""Events across languages: which event of another language a story's new cluster reports.

The lexical clusterer (`news.events.clustering`) groups the reports of one event within one
language; reports in other languages share few of its terms. `EventLinker` joins them: when a
story opens a cluster, its meaning (a multilingual sentence embedding of headline and lead,
`news.meaning`) is compared with the meaning (the members' vectors summed) of every event
started within `LINK_HORIZON` (24 h) that is reported in another language and not yet in the
story's. The new cluster joins the best-scoring event when its score is at least
`LINK_COSINE` (0.45); the score is the cosine plus `KEY_BONUS` (0.1) for each key the story
shares with the event's reports (at most `KEY_BONUS_CAP`, 3), and an event sharing no key must
be as close as a near-translation (cosine `KEYLESS_COSINE`, 0.5) to count at all. Keys are what
reports in any language spell alike (`story_keys`): capitalised words transliterated to Latin
and cut to their first four consonants, one sound one letter ("Selenskyj", "Zelenskyy" and
«Зеленський» are all "slns", "Trump" and «Трамп» "trmp"), and numbers whatever their
separators ("3,5" and "3.5", "1.000" and "1,000"), years and 0/1 left out.

The same comparison keeps a story out of a cluster its words alone would join (`reroute`): when
an event of another language fits it better by `REROUTE_MARGIN` (0.15) than the event of that
cluster, the story opens a cluster of its own, linked to that event. Where many events of a
day share words, a report whose words drift to a look-alike's cluster finds its event again.

A linked cluster takes the event's id as its event (`Cluster.event_id`): every consumer (pushes,
"Also:" edits, /latest, cards, coverage counts) sees one event across languages, while each
language's lexical state carries on as before. Clusters are linked when they open, never
re-linked or merged later: a pushed card's event does not change under it.

Figures (`python -m tests.crosslanguage`; tests/test_crosslanguage_events.py asserts them). On
multi.txt (58 events, 275 reports in six languages, 22 groups of look-alike events), across
languages: B-cubed precision 1.000, recall 0.968 (words alone: 1.000 / 0.212); each half of the
events clustered alone (split by group, neither tuned on apart): 1.000 / 0.962 and 1.000 / 0.975.
(Before the encoder read Ukrainian in Russian spelling, `news.meaning.russian_spelling`: 0.953,
halves 0.945 and 0.962; the cut-offs below were chosen then.)
Distractor pairs joined: none. (Before the word clusterer asked for more than a shared subject,
`news.events.clustering._enough_evidence`, it joined two: the pope's Easter blessing and his death
the next morning in English, Trump's oath and his WHO exit in German; then 0.988 / 0.941.)
short_en.txt (English only): 0.968 / 0.944 (before, 0.960 / 0.947: two Ramadan reports sharing only
"Saudi Arabia" now stay apart). The thresholds were chosen on multi.txt together with a harder
arrangement that no figure above shows: every group of multi.txt moved into the same 40 hours as
the 387 real English entries of short_en.txt, so each story has ~80 look-alike candidates of the
same day. There the links kept precision 0.927 (words alone 0.938) at recall 0.854 (measured before
`_enough_evidence`, not since; without `reroute`, 0.874 / 0.818); a lower cut-off (0.40) gains
0.007 of recall on multi.txt and loses 0.02 of precision in the crowd; without the key gate recall
drops by 0.03; a floor on the cosine of a key-boosted link (0.35–0.45) costs recall and, through
the reports that then open clusters of their own and link wrongly, precision too. What is left out:
reports sharing no name or number with their event and written differently enough (a cosine under
0.45): most often a Ukrainian report (the encoder was not trained on Ukrainian) or one of another
angle.

Memory is kept small: an event's meaning is projected on `DIMENSIONS` (128) fixed orthonormal
directions and kept as int8 beside one float scale, its keys as `KEYS` (12) 32-bit hashes, in
rows of numpy arrays (about 230 bytes an event with the signs below and spare capacity), not
objects, found by id through a sorted array of the ids (not a dict: 12 bytes an event, not 80);
only events of the last `LINK_HORIZON` are held. Cost: a first cut of the candidates
by the signs of their meanings (128 bits, `SIGN_LIMIT`: an angle of at most about 82°, which
changes no figure above), then exact cosines of the few left, by einsum (BLAS's threads cost
ten times the work under load); bench/bench_crosslanguage.py times it. A restart reloads the
rows from the cluster rows (`pack_row`, `unpack_row`; storage keeps them in `clusters.meaning`).
"""

from __future__ import annotations

import hashlib
import re
import struct
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import numpy
from numpy.typing import NDArray

#: Dimensions of an event's kept meaning (a fixed projection of the encoder's).
DIMENSIONS = 128
#: Keys (hashed names and numbers) kept per event.
KEYS = 12
LINK_COSINE = 0.45
KEY_BONUS = 0.1
KEY_BONUS_CAP = 3
KEYLESS_COSINE = 0.5
REROUTE_MARGIN = 0.15
LINK_HORIZON = timedelta(hours=24)
#: Events whose meaning's signs differ from the story's in more of the 128 than this are no
#: candidates (an angle over about 82°: a cosine under about 0.15).
SIGN_LIMIT = 58
_SIGN_WORDS = DIMENSIONS // 64

LANGUAGES = ("en", "de", "fr", "es", "uk", "ru")
_SCALE = struct.Struct("<f")
ROW_BYTES = _SCALE.size + DIMENSIONS + 4 * KEYS + 1

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# New events' rows kept in a dict before they join the sorted index (`EventLinker._row`).
_RECENT = 4096
# Old events are looked for at most once a minute of the clock (a scan of every row).
_SWEEP_EVERY = 60
_NAIVE_EPOCH = datetime(1970, 1, 1)


@cache
def _projection(dimensions: int) -> NDArray[numpy.float32]:
    """Fixed orthonormal directions of the encoder's space (the same in every process)."""
    state = numpy.random.RandomState(23)  # the legacy generator's stream never changes
    gaussian = state.standard_normal((dimensions, DIMENSIONS))
    basis, _ = numpy.linalg.qr(gaussian)
    return numpy.ascontiguousarray(basis, dtype=numpy.float32)


def project(vector: NDArray[Any]) -> NDArray[numpy.float32]:
    """A story's meaning in the linker's space, of unit length."""
    row = numpy.asarray(vector, dtype=numpy.float32)
    projected = row @ _projection(row.shape[-1])
    norm = float(numpy.linalg.norm(projected))
    return projected / norm if norm > 0 else projected


def language_bit(language: str) -> int:
    try:
        return 1 << LANGUAGES.index(language)
    except ValueError:
        return 1 << len(LANGUAGES)  # any other language


# Transliteration of Russian and Ukrainian letters to Latin, as names are spelled in the West.
_CYRILLIC = dict(
    zip(
        "абвгґдеєёжзиіїйклмнопрстуфхцчшщъыьэюя",
        (
            *("a", "b", "v", "g", "g", "d", "e", "ye", "e", "zh", "z", "i", "i", "yi", "y", "k"),
            *("l", "m", "n", "o", "p", "r", "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch"),
            *("", "y", "", "e", "yu", "ya"),
        ),
        strict=True,
    )
)
_LATIN_EXTRA = str.maketrans({"ı": "i", "ł": "l", "ø": "o", "đ": "d", "æ": "ae", "œ": "oe"})
# Spellings of one sound across languages, then the consonants alone: "Selenskyj", "Zelensky",
# "Zelenskiy" and «Зеленський» are all "slnsk".
_SOUNDS = (
    ("shch", "s"),
    ("tsch", "s"),
    ("sch", "s"),
    ("zh", "s"),
    ("sh", "s"),
    ("ts", "s"),
    ("tz", "s"),
    ("ck", "k"),
    ("ph", "f"),
    ("kh", "k"),
    ("ch", "k"),
    ("x", "ks"),
    ("c", "k"),
    ("q", "k"),
    ("z", "s"),
    ("ß", "s"),
    ("w", "v"),
)
_NOT_CONSONANTS = frozenset("aeiouyjh")
_KEY_LENGTH = 4
_WORD = re.compile(r"[^\W\d_][^\W_]*")
_NUMBER = re.compile(r"\d+(?:[.,\u00a0\u202f ]\d{3})*(?:[.,]\d+)?")
_THOUSANDS = re.compile(r"[.,\u00a0\u202f ](?=\d{3}(?!\d))")


@cache
def name_key(word: str) -> str:
    """A capitalised word's key: transliterated, its sounds merged, its consonants' first 4."""
    latin = "".join(_CYRILLIC.get(ch, ch) for ch in word.lower()).translate(_LATIN_EXTRA)
    latin = "".join(
        ch for ch in unicodedata.normalize("NFKD", latin) if not unicodedata.combining(ch)
    )
    for spelling, sound in _SOUNDS:
        latin = latin.replace(spelling, sound)
    consonants: list[str] = []
    for ch in latin:
        if ch.isalpha() and ch not in _NOT_CONSONANTS and (not consonants or consonants[-1] != ch):
            consonants.append(ch)
    return "".join(consonants[:_KEY_LENGTH])


def story_keys(text: str) -> frozenset[str]:
    """What reports of one event in any language spell alike: names and numbers.

    Names are capitalised words of 3 letters or more, by `name_key`; numbers are read with
    either decimal mark and thousands separator, years (1900–2100) and 0 and 1 left out.
    """
    keys: set[str] = set()
    for match in _WORD.finditer(text):
        word = match.group()
        if len(word) >= 3 and word[0].isupper():
            key = name_key(word)
            if len(key) >= 2:
                keys.add(key)
    for match in _NUMBER.finditer(text):
        digits = _THOUSANDS.sub("", match.group()).replace(",", ".")
        try:
            value = float(digits)
        except ValueError:  # pragma: no cover - the pattern reads numbers only
            continue
        if value < 2 or (value.is_integer() and 1900 <= value <= 2100):
            continue
        keys.add(f"#{value:g}")
    return frozenset(keys)


def hashed_keys(keys: Iterable[str]) -> NDArray[numpy.uint32]:
    """Keys as 32-bit hashes (the same in every process), none of them 0 (an empty slot)."""
    return numpy.array(
        sorted(
            {
                int.from_bytes(hashlib.blake2b(key.encode(), digest_size=4).digest(), "little") or 1
                for key in keys
            }
        ),
        dtype=numpy.uint32,
    )


class EventLinker:
    """The meanings of the window's events, and the choice of the event a story reports.

    Rows of numpy arrays, one per event started within `horizon` (see the module docstring).
    """

    def __init__(
        self,
        *,
        cutoff: float = LINK_COSINE,
        key_bonus: float = KEY_BONUS,
        keyless_cosine: float = KEYLESS_COSINE,
        reroute_margin: float = REROUTE_MARGIN,
        horizon: timedelta = LINK_HORIZON,
    ) -> None:
        self.cutoff = cutoff
        self.keyless_cosine = keyless_cosine
        self.reroute_margin = reroute_margin
        self.key_bonus = key_bonus
        self.horizon = horizon
        # Event id → row: a sorted array of the ids beside their rows, and a dict of the rows
        # started since it was last merged into them (`_row`). A dict of every event costs
        # 80 bytes an event (at 50,000 events, a table of 131,072 slots and an int object a
        # row), the arrays 12. Entries of forgotten events stay until the next merge: a row
        # is an event's only while it is live and holds that id.
        self._index_ids = numpy.zeros(0, dtype=numpy.int64)
        self._index_rows = numpy.zeros(0, dtype=numpy.int32)
        self._recent: dict[int, int] = {}
        self._count = 0  # live events
        self._used = 0  # rows ever used (the arrays' filled part)
        self._free: list[int] = []
        capacity = 64
        self._ids = numpy.zeros(capacity, dtype=numpy.int64)
        self._started = numpy.zeros(capacity, dtype=numpy.int64)  # seconds since the epoch
        self._languages = numpy.zeros(capacity, dtype=numpy.uint8)
        self._vectors = numpy.zeros((capacity, DIMENSIONS), dtype=numpy.int8)
        self._scales = numpy.zeros(capacity, dtype=numpy.float32)
        self._keys = numpy.zeros((capacity, KEYS), dtype=numpy.uint32)
        self._live = numpy.zeros(capacity, dtype=bool)
        # The signs of each event's meaning, 128 bits in two words: a first cut of the
        # candidates by the bits they differ in, which costs a pass of fast integer work.
        self._signs = numpy.zeros((capacity, _SIGN_WORDS), dtype=numpy.uint64)
        self._swept = 0  # when `forget_before` last looked (seconds since the epoch)

    def __len__(self) -> int:
        return self._count

    def __contains__(self, event_id: object) -> bool:
        return isinstance(event_id, int) and self._row(event_id) is not None

    def best(
        self,
        meaning: NDArray[numpy.float32],
        keys: NDArray[numpy.uint32],
        language: str,
        at: datetime,
    ) -> tuple[int | None, float]:
        """The event of another language that fits the story best, and its score (cosine plus
        the bonus of shared keys); None when no event is a candidate.

        Candidates: events started within the horizon before `at` (and not after it by more
        than the horizon), reported in some other language and not in the story's."""
        bit = language_bit(language)
        now = _seconds(at)
        horizon = int(self.horizon.total_seconds())
        end = self._used
        differing = numpy.bitwise_count(self._signs[:end] ^ _signs(meaning)).sum(axis=1)
        candidates = numpy.flatnonzero(
            self._live[:end]
            & (differing <= SIGN_LIMIT)
            & (self._started[:end] >= now - horizon)
            & (self._started[:end] <= now + horizon)
            & ((self._languages[:end] & bit) == 0)
        )
        if not candidates.size:
            return None, 0.0
        scores = self._scores(candidates, meaning, keys)
        top = int(numpy.argmax(scores))
        return int(self._ids[candidates[top]]), float(scores[top])

    def link(
        self,
        meaning: NDArray[numpy.float32],
        keys: NDArray[numpy.uint32],
        language: str,
        at: datetime,
    ) -> int | None:
        """The event a story opening a cluster reports, if one of another language fits."""
        event_id, score = self.best(meaning, keys, language, at)
        return event_id if event_id is not None and score >= self.cutoff else None

    def reroute(
        self,
        event_id: int,
        meaning: NDArray[numpy.float32],
        keys: NDArray[numpy.uint32],
        language: str,
        at: datetime,
    ) -> int | None:
        """An event of another language that fits a story clearly better (by
        `reroute_margin`) than the event of the cluster its words would join, or None.

        (The story's own event has a report in its language, so it is no candidate.)"""
        row = self._row(event_id)
        if row is None:
            return None
        own = float(self._scores(numpy.array([row]), meaning, keys)[0])
        other, score = self.best(meaning, keys, language, at)
        if other is None or score < self.cutoff or score - own < self.reroute_margin:
            return None
        return other

    def add(
        self,
        event_id: int,
        started_at: datetime,
        meaning: NDArray[numpy.float32],
        keys: NDArray[numpy.uint32],
        language: str,
    ) -> None:
        """Count a story of `language` in an event (starting its row if it has none)."""
        row = self._row(event_id)
        if row is None:
            row = self._new_row(event_id, started_at)
        summed = self._vectors[row].astype(numpy.float32) * self._scales[row] + meaning
        self._set_vector(row, summed)
        self._languages[row] |= language_bit(language)
        if keys.size:
            held = self._keys[row]
            merged = numpy.union1d(held[held != 0], keys)[:KEYS]
            held[:] = 0
            held[: merged.size] = merged

    def forget(self, event_id: int) -> None:
        row = self._row(event_id)
        if row is not None:
            self._live[row] = False
            self._free.append(row)
            self._recent.pop(event_id, None)
            self._count -= 1

    def forget_before(self, at: datetime) -> None:
        """Forget the events started more than the horizon before `at`."""
        now = _seconds(at)
        if not self._count or now - self._swept < _SWEEP_EVERY:
            return
        self._swept = now
        limit = now - int(self.horizon.total_seconds())
        for row in numpy.flatnonzero(self._live & (self._started < limit)):
            self.forget(int(self._ids[row]))

    def pack_row(self, event_id: int) -> bytes:
        """An event's meaning as storage keeps it (`unpack_row` reads it back); b"" if none."""
        row = self._row(event_id)
        if row is None:
            return b""
        return b"".join(
            (
                _SCALE.pack(float(self._scales[row])),
                self._vectors[row].tobytes(),
                self._keys[row].astype("<u4").tobytes(),
                bytes((int(self._languages[row]),)),
            )
        )

    def unpack_row(self, event_id: int, started_at: datetime, data: bytes) -> None:
        """Take an event's meaning back from storage (replacing the one held)."""
        if len(data) != ROW_BYTES:
            return  # none kept, or of another layout: the event links no more
        row = self._row(event_id)
        if row is None:
            row = self._new_row(event_id, started_at)
        (self._scales[row],) = _SCALE.unpack_from(data)
        at = _SCALE.size
        self._vectors[row] = numpy.frombuffer(data, dtype=numpy.int8, count=DIMENSIONS, offset=at)
        at += DIMENSIONS
        self._keys[row] = numpy.frombuffer(data, dtype="<u4", count=KEYS, offset=at)
        self._languages[row] = data[-1]
        self._signs[row] = _signs(self._vectors[row])

    def _scores(
        self,
        rows: NDArray[numpy.intp],
        meaning: NDArray[numpy.float32],
        keys: NDArray[numpy.uint32],
    ) -> NDArray[numpy.float32]:
        vectors = self._vectors[rows].astype(numpy.float32)
        norms = numpy.sqrt(numpy.einsum("ij,ij->i", vectors, vectors))
        norms[norms == 0] = 1.0
        # einsum, not BLAS: a matrix-vector product this small is not worth BLAS's threads,
        # which under load cost ten times the work.
        cosines: NDArray[numpy.float32] = (
            numpy.einsum("ij,j->i", vectors, meaning) / norms
        ).astype(numpy.float32)
        shared = (
            numpy.isin(self._keys[rows], keys).sum(axis=1)
            if keys.size
            else numpy.zeros(rows.shape[0], dtype=numpy.intp)
        )
        # An event sharing no name or number with the story must be as close as a
        # translation is.
        cosines[(shared == 0) & (cosines < self.keyless_cosine)] = -1.0
        cosines += numpy.float32(self.key_bonus) * numpy.minimum(shared, KEY_BONUS_CAP)
        return cosines

    def _row(self, event_id: int) -> int | None:
        """The live row of an event, or None."""
        row = self._recent.get(event_id)
        if row is None:
            ids = self._index_ids
            at = int(numpy.searchsorted(ids, event_id))
            if at == ids.shape[0] or int(ids[at]) != event_id:
                return None
            row = int(self._index_rows[at])
        return row if self._live[row] and int(self._ids[row]) == event_id else None

    def _merge(self) -> None:
        """The recent rows into the sorted arrays, the forgotten events' left out (a sort of
        the index, a few milliseconds at 50,000 events, once in `_RECENT` new events)."""
        ids = numpy.concatenate(
            (self._index_ids, numpy.fromiter(self._recent.keys(), dtype=numpy.int64))
        )
        rows = numpy.concatenate(
            (self._index_rows, numpy.fromiter(self._recent.values(), dtype=numpy.int32))
        )
        kept = self._live[rows] & (self._ids[rows] == ids)
        ids, rows = ids[kept], rows[kept]
        order = numpy.argsort(ids, kind="stable")
        self._index_ids, self._index_rows = ids[order], rows[order]
        self._recent.clear()

    def _new_row(self, event_id: int, started_at: datetime) -> int:
        if self._free:
            row = self._free.pop()
        else:
            row = self._used
            self._used += 1
            if row >= self._ids.shape[0]:
                self._grow()
        self._count += 1
        self._ids[row] = event_id
        self._started[row] = _seconds(started_at)
        self._languages[row] = 0
        self._vectors[row] = 0
        self._scales[row] = 0.0
        self._keys[row] = 0
        self._signs[row] = 0
        self._live[row] = True
        self._recent[event_id] = row
        if len(self._recent) >= _RECENT:
            self._merge()
        return row

    def _grow(self) -> None:
        capacity = self._ids.shape[0] * 2
        for name in ("_ids", "_started", "_languages", "_scales", "_live"):
            old = getattr(self, name)
            new = numpy.zeros(capacity, dtype=old.dtype)
            new[: old.shape[0]] = old
            setattr(self, name, new)
        for name, width in (("_vectors", DIMENSIONS), ("_keys", KEYS), ("_signs", _SIGN_WORDS)):
            old = getattr(self, name)
            new = numpy.zeros((capacity, width), dtype=old.dtype)
            new[: old.shape[0]] = old
            setattr(self, name, new)

    def _set_vector(self, row: int, summed: NDArray[numpy.float32]) -> None:
        peak = float(numpy.abs(summed).max())
        if peak == 0:
            return
        scale = peak / 127.0
        self._vectors[row] = numpy.clip(numpy.rint(summed / scale), -127, 127).astype(numpy.int8)
        self._scales[row] = scale
        self._signs[row] = _signs(summed)


def _signs(vector: NDArray[Any]) -> NDArray[numpy.uint64]:
    """The signs of a vector's components, as bits in 64-bit words."""
    return numpy.packbits(numpy.asarray(vector) > 0).view(numpy.uint64)


def _seconds(at: datetime) -> int:
    return int((at - (_NAIVE_EPOCH if at.tzinfo is None else _EPOCH)).total_seconds())


def meaning_keys(title: str, summary: str) -> NDArray[numpy.uint32]:
    """A story's keys, hashed (see `story_keys`)."""
    return hashed_keys(story_keys(f"{title}. {summary}"))


__all__: Sequence[str] = [
    "EventLinker",
    "meaning_keys",
    "project",
    "story_keys",
]
