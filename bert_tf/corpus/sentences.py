"""Paragraph -> sentences, with sentencex (Wikimedia's segmenter; PyPI `sentencex`).

Why sentencex: it is maintained (Wikimedia, releases through 2026), compiled (Rust), needs
no model or data download at run time, covers ~300 languages through language-specific
abbreviation lists with fallbacks, and already applies the Chinese/Japanese rules (a
sentence ends after 。！？ and any closing quote or bracket that follows: 他说：“好。”|然后).
On the English dump's cleaned text it splits ~20 MB/s; pysbd is ~100x slower, syntok ~30x,
blingfire is as fast but unmaintained since 2021, ships a 99 MB wheel and has no Chinese
rules (figures: bench/bench_sentence_split.py, docs/benchmarks.md). `--language` chooses the
rules; codes sentencex does not know fall back to its generic rules.
"""

import re

import sentencex

from bert_tf.corpus.wikitext import FORMULA

LANGUAGE = re.compile(r"[a-z]{2,3}(?:[-_][A-Za-z]{2,8})?")
_NEWLINES = re.compile(r"\s*\n\s*")
_WORD = re.compile(r"\w")
_LETTER = re.compile(r"[^\W\d_]")


def check_language(code):
    """True for a language code sentencex can take (ISO 639 with an optional region)."""
    return bool(LANGUAGE.fullmatch(code or ""))


def split(paragraph, language):
    """The sentences of one paragraph, stripped. A piece the segmenter cut off without a
    letter joins its neighbour: closing punctuation (")") the sentence before, an enumerator
    ("1.") the sentence after. A sentence that held a formula is dropped."""
    sentences, carry = [], ""
    for piece in sentencex.segment(language, paragraph):
        piece = _NEWLINES.sub(" ", piece).strip()
        if not piece:
            continue
        if _LETTER.search(piece):
            sentences.append(f"{carry} {piece}" if carry else piece)
            carry = ""
        elif sentences and not _WORD.search(piece):
            sentences[-1] += piece
        else:
            carry = f"{carry} {piece}" if carry else piece
    if carry:
        sentences.append(carry)
    return [s for s in sentences if FORMULA not in s]
