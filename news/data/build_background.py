"""Regenerate background_meanings.bin: the meanings of a sample of news stories in six languages.

    .venv/bin/python news/data/build_background.py

A topic's closeness to a story is measured against how close it is to news in general
(`news.topics.meanings.Background`). The stories of the window are that background; while a
fresh install has too few of them (`MIN_BACKGROUND`), these stand in: the 325 stories of
tests/data/topic_eval/stories.tsv (written in the style of agency wires, in en, de, fr, es, uk,
ru; not the cross-language evaluation set), encoded by `news.meaning.default_encoder` and
packed by `news.meaning.pack` (512 bytes each, one after the other); background_languages.txt
holds their languages, one a line in the same order (each language's mean is taken off before
closeness is measured).
"""

from __future__ import annotations

from pathlib import Path

from news.meaning import default_encoder, pack, story_meaning_text

HERE = Path(__file__).resolve().parent
STORIES = HERE.parents[1] / "tests" / "data" / "topic_eval" / "stories.tsv"
OUTPUT = HERE / "background_meanings.bin"
LANGUAGES = HERE / "background_languages.txt"


def main() -> None:
    texts = []
    languages = []
    for line in STORIES.read_text(encoding="utf-8").splitlines():
        language, _, text = line.split("\t")
        title, _, summary = text.partition(". ")
        texts.append(story_meaning_text(title, summary))
        languages.append(language)
    OUTPUT.write_bytes(b"".join(pack(default_encoder().encode(texts))))
    LANGUAGES.write_text("".join(f"{language}\n" for language in languages), encoding="utf-8")
    print(f"{len(texts)} meanings written to {OUTPUT}")


if __name__ == "__main__":
    main()
