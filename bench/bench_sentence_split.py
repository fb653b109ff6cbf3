"""Sentence splitters side by side on the same cleaned text: why prepare_corpus uses sentencex.

English: the paragraphs bert_tf.corpus.wikitext keeps from the shortened English dump in
../shared/data/wikipedia. Chinese: the news sample in ../shared/data/pretrain_text_zh, one
paragraph a line. Each splitter runs on the same paragraphs; the figures are characters per
second (best of --rounds), sentences found, and hand-picked hard cases.

Set-up: the corpus bench venv (see bench/bench_corpus.py) plus the candidates:
    .venv-corpus-bench/bin/pip install sentencex==1.0.32 pysbd==0.3.4 syntok==1.4.4 blingfire==0.1.8
    flock /tmp/bert_tf_heavy.lock .venv-corpus-bench/bin/python bench/bench_sentence_split.py
"""

import argparse
import bz2
import os
import sys
import time
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
DATA = os.path.join(ROOT, "..", "shared", "data")
DUMP = os.path.join(DATA, "wikipedia", "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2")
CHINESE = os.path.join(DATA, "pretrain_text_zh", "news_zh_1.txt")

from bert_tf.corpus import sentences, wikitext  # noqa: E402  (after the path)

HARD = {
    "en": "Dr. Smith met Mr. Jones at 3 p.m. in Washington, D.C. on Jan. 5. They talked. "
          "The U.S. economy grew 2.5% (see Fig. 3). Was it enough? Yes!",
    "zh": "他说：“你好！”然后走了。奔走呐喊。2010年，他获奖了。「真的嗎？」是的。",
}


def english_paragraphs():
    rules = wikitext.LinkRules()
    paragraphs = []
    for _, elem in ET.iterparse(bz2.open(DUMP)):
        if elem.tag.endswith("}page"):
            p = "{" + elem.tag[1:].split("}")[0] + "}"
            if elem.findtext(p + "ns") == "0" and elem.find(p + "redirect") is None:
                paragraphs += wikitext.paragraphs(elem.find(f"{p}revision/{p}text").text or "", rules)
            elem.clear()
    return paragraphs


def chinese_paragraphs():
    with open(CHINESE, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def splitters():
    """name -> (language -> split function), for the libraries that are installed."""
    found = {"sentencex + our CJK rule (ours)": lambda lang: lambda p: sentences.split(p, lang)}
    import sentencex
    found["sentencex alone"] = lambda lang: lambda p: sentencex.segment(lang, p)
    try:
        import pysbd
        found["pysbd 0.3.4"] = lambda lang: pysbd.Segmenter(language=lang, clean=False).segment
    except ImportError:
        pass
    try:
        from syntok import segmenter

        def syntok_split(p):
            return ["".join(t.spacing + t.value for t in s).strip()
                    for para in segmenter.analyze(p) for s in para]
        found["syntok 1.4.4"] = lambda lang: syntok_split if lang == "en" else None
    except ImportError:
        pass
    try:
        import blingfire
        found["blingfire 0.1.8"] = lambda lang: lambda p: blingfire.text_to_sentences(p).split("\n")
    except ImportError:
        pass
    return found


def timed(split, paragraphs, rounds):
    best, count = float("inf"), 0
    for _ in range(rounds):
        start = time.perf_counter()
        count = sum(len(split(p)) for p in paragraphs)
        best = min(best, time.perf_counter() - start)
    return best, count


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    corpora = {"en": english_paragraphs(), "zh": chinese_paragraphs()}
    print("| splitter | language | MB/s | sentences | hard case |")
    print("| --- | --- | --- | --- | --- |")
    for name, make in splitters().items():
        for language, paragraphs in corpora.items():
            split = make(language)
            if split is None:
                continue
            chars = sum(map(len, paragraphs))
            rounds = args.rounds if "pysbd" not in name else 1  # pysbd takes minutes a round
            seconds, count = timed(split, paragraphs, rounds)
            hard = " ‖ ".join(s.strip() for s in split(HARD[language]))
            print(f"| {name} | {language} | {chars / 1e6 / seconds:.2f} | {count:,} | {hard} |", flush=True)


if __name__ == "__main__":
    main()
