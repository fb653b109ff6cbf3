"""Paragraph -> sentences, with sentencex (Wikimedia's segmenter; PyPI `sentencex`).

Why sentencex: it is maintained (Wikimedia, releases through 2026), compiled (Rust), needs
no model or data download at run time, covers ~300 languages through language-specific
abbreviation lists with fallbacks, and applies Chinese/Japanese rules (a sentence ends after
。！？ and any closing quote or bracket that follows: 他说：“好。”|然后); `_cjk_split` adds
the case it misses (。 before a digit). `--language` chooses the rules; codes sentencex does
not know fall back to its generic rules.

Measured on the English dump's cleaned text (bench/bench_sentence_split.py,
docs/benchmarks.md): sentencex splits 130 MB/s (with our joins on top ~85 MB/s, still
faster than the cleaner); pysbd 0.23 MB/s, syntok 1.3 MB/s (English only), blingfire 20 MB/s
but unmaintained since 2021, a 99 MB wheel, and, like pysbd, it cuts Chinese closing quotes
off their sentence (你好！|”然后).
"""

import re

import sentencex

FORMULA = "\ue000"  # a private-use character: marks where the cleaner removed a formula
LANGUAGE = re.compile(r"[a-z]{2,3}(?:[-_][A-Za-z]{2,8})?")
_NEWLINES = re.compile(r"\s*\n\s*")
SPACES = re.compile(r"[ \t\u00a0\u2009\u200a\u202f\u3000]+")  # runs of spaces, odd ones too
_WORD = re.compile(r"\w")
_LETTER = re.compile(r"[^\W\d_]")


_CJK_END = re.compile(r"([。！？][。！？!?]*[”’」』）》〉\"']*)(?=\S)")
_CJK = re.compile(r"[\u2e80-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")


def join_lines(lines):
    """A paragraph's lines as one line: joined with a space, except where the break falls
    next to a Chinese or Japanese character (those scripts do not put spaces between words)."""
    out = ""
    for line in lines:
        line = line.strip()
        if not line:
            continue
        if out and not (_CJK.match(out[-1]) or _CJK.match(line[0])):
            out += " "
        out += line
    return out


def check_language(code):
    """True for a language code sentencex can take (ISO 639 with an optional region)."""
    return bool(LANGUAGE.fullmatch(code or ""))


def _cjk_split(pieces):
    """Our Chinese rule on top of sentencex's: a sentence ends after 。！？ (and the closing
    quotes or brackets that follow) whatever comes next; sentencex misses 。 before a digit
    (呐喊。2010年...)."""
    for piece in pieces:
        if "。" in piece or "！" in piece or "？" in piece:
            yield from _CJK_END.sub("\\1\n", piece).split("\n")
        else:
            yield piece


def split(paragraph, language):
    """The sentences of one paragraph, stripped. A piece the segmenter cut off without a
    letter joins its neighbour: closing punctuation (")") the sentence before, an enumerator
    ("1.") the sentence after. A sentence that held a formula is dropped."""
    sentences, carry = [], ""
    pieces = sentencex.segment(language, paragraph)
    if "。" in paragraph or "！" in paragraph or "？" in paragraph:
        pieces = _cjk_split(pieces)
    for piece in pieces:
        piece = _NEWLINES.sub(" ", piece).strip() if "\n" in piece else piece.strip()
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
