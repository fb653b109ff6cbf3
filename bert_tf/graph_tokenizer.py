"""Google's FullTokenizer as a TensorFlow graph of core ops only, for SavedModels.

A SavedModel that tokenizes with tensorflow-text's ops runs only where those ops are
registered: not in `saved_model_cli`, not in TensorFlow's C/C++ loaders, and in TF Serving
only when its build embeds a matching tensorflow-text (TF Serving embedded 2.12 in 2025,
which lacks ops newer releases emit). `GraphTokenizer` uses core TensorFlow ops alone, so an
export runs wherever TensorFlow does, and it computes what Google's Python tokenizer does:

1. UTF-8 decoding dropping undecodable bytes, then Google's `_clean_text` (NUL, U+FFFD and
   control characters removed, whitespace as separators) and `_tokenize_chinese_chars`
   (each CJK character a word of its own);
2. uncased: each word lower-cased and stripped of accents (NFD, then no `Mn` character), as a
   per-character mapping computed from Python's own `str.lower` and `unicodedata`, plus
   Python's one context rule (a final capital sigma becomes `ς`);
3. Google's punctuation split; words over 200 characters are `[UNK]`;
4. greedy longest-match-first WordPiece against the vocab (`##` continuations), `[UNK]` for a
   word with an unmatched remainder.

The character tables are built at export time from the exporting Python's `unicodedata`, the
tables Google's tokenizer consults. One approximation remains: NFD's canonical reordering of
combining marks is not applied, which matters only when a spacing mark with a non-zero
combining class (`Mc`, e.g. U+1D165) meets another combining mark in an uncased word.
"""

import functools
import sys
import unicodedata

import numpy as np
import tensorflow as tf

from bert_tf.tokenization import (MAX_WORD_CHARS, BasicTokenizer, _is_chinese_char, _is_control,
                                  _is_punctuation, _is_whitespace)

KEEP, DROP, SPACE, CJK = 0, 1, 2, 3  # what _clean_text/_tokenize_chinese_chars do to a character
NOT_CASED, CASED, CASE_IGNORABLE = 0, 1, 2  # Python's Final_Sigma classes
CAPITAL_SIGMA, FINAL_SIGMA = 0x3A3, 0x3C2
_ALL_CODE_POINTS = range(sys.maxunicode + 1)


def _runs(values):
    """A per-code-point array as (run starts, run values): value(cp) = values[searchsorted]."""
    starts = np.concatenate([[0], np.flatnonzero(np.diff(values)) + 1])
    return starts.astype(np.int32), values[starts]


def _clean_class(cp):
    char = chr(cp)
    if cp == 0 or cp == 0xFFFD or _is_control(char):
        return DROP
    if _is_whitespace(char) or char.isspace():  # str.split() also splits at U+2028/U+2029
        return SPACE
    return CJK if _is_chinese_char(cp) else KEEP


def _sigma_class(char):
    """Python's Final_Sigma rule looks past case-ignorable characters to a cased one; the
    classes are read off str.lower itself (unicodedata does not expose them)."""
    after_cased = ("A" + char + "\u03a3").lower()[-1] == "\u03c2"  # cased or ignorable
    if not after_cased:
        return NOT_CASED
    return CASED if (char + "\u03a3").lower()[-1] == "\u03c2" else CASE_IGNORABLE


@functools.lru_cache(maxsize=2)
def character_tables(do_lower_case):
    """NumPy tables for every code point: the cleaning/CJK class (with the sigma class when
    uncased), punctuation, and the uncased mapping (code point -> its lower-cased,
    accent-stripped characters, for those it changes)."""
    classes = np.zeros(len(_ALL_CODE_POINTS), np.int32)
    punct = np.zeros(len(_ALL_CODE_POINTS), np.int32)
    keys, lengths, values = [], [], []
    strip = BasicTokenizer._strip_accents
    for cp in _ALL_CODE_POINTS:
        char = chr(cp)
        cls = _clean_class(cp)  # unassigned code points too: Google's CJK ranges hold some
        if unicodedata.category(char) in ("Cn", "Cs"):  # otherwise unchanged, not cased
            classes[cp] = cls
            continue
        if do_lower_case:
            cls += 4 * _sigma_class(char)
            mapped = strip(char.lower())
            if mapped != char:
                keys.append(cp)
                lengths.append(len(mapped))
                values.extend(map(ord, mapped))
        classes[cp] = cls
        punct[cp] = _is_punctuation(char)
    tables = {"class": _runs(classes), "punct": _runs(punct)}
    if do_lower_case:
        tables["map"] = (np.array(keys, np.int32), np.array(lengths, np.int32),
                         np.array(values or [0], np.int32))
    return tables


def _shift(x, first):
    """x moved one place right, `first` in front: each element's predecessor."""
    return tf.concat([tf.constant([first], x.dtype), x[:-1]], axis=0)


def _lookup_runs(starts, values, cps):
    return tf.gather(values, tf.searchsorted(starts, cps, side="right") - 1)


class GraphTokenizer(tf.Module):
    """`tokenize(texts)`: string [batch] -> int32 ragged [batch, wordpieces], Google's ids."""

    def __init__(self, vocab_tokens, do_lower_case=True, unk_token="[UNK]",
                 max_chars_per_word=MAX_WORD_CHARS, name="graph_tokenizer"):
        super().__init__(name=name)
        self.do_lower_case = do_lower_case
        self.unk_id = vocab_tokens.index(unk_token)
        if len(vocab_tokens) >= 1 << 20:  # _longest_matches packs an id under its length
            raise ValueError(f"a vocab of {len(vocab_tokens)} tokens; at most {(1 << 20) - 1}")
        self.max_chars_per_word = max_chars_per_word
        # the longest piece, in characters: no longer candidate can match
        self.max_piece_chars = min(max_chars_per_word, max(
            len(t[2:] if t.startswith("##") else t) for t in vocab_tokens))
        tables = character_tables(bool(do_lower_case))
        self._class_starts, self._class_values = map(tf.constant, tables["class"])
        self._punct_starts, self._punct_values = map(tf.constant, tables["punct"])
        if do_lower_case:
            keys, lengths, values = tables["map"]
            self._map_keys, self._map_lengths = tf.constant(keys), tf.constant(lengths)
            self._map_offsets = tf.constant(np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int32))
            self._map_values = tf.constant(values)
        self.vocab = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(vocab_tokens),
                                                tf.range(len(vocab_tokens), dtype=tf.int64)),
            default_value=-1)

    def tokenize(self, texts):
        texts = tf.convert_to_tensor(texts, tf.string)
        decoded = tf.strings.unicode_decode(texts, "UTF-8", errors="ignore")
        cps, rows = decoded.flat_values, tf.cast(decoded.value_rowids(), tf.int32)
        cls = _lookup_runs(self._class_starts, self._class_values, cps)
        kept = cls % 4 != DROP
        cps, rows, cls = (tf.boolean_mask(x, kept) for x in (cps, rows, cls))
        cps, rows, cls, words = self._words(cps, rows, cls)
        if self.do_lower_case:
            cps, rows, words = self._lower_and_strip(cps, rows, cls, words)
        tokens, token_rows, token_starts = self._split_punctuation(cps, rows, words)
        ids, piece_tokens = self._wordpieces(cps, tokens, token_starts)
        return tf.RaggedTensor.from_value_rowids(  # int64 row splits, as tf.ragged's default
            ids, tf.cast(tf.gather(token_rows, piece_tokens), tf.int64),
            nrows=tf.size(texts, out_type=tf.int64))

    # ------------------------------------------------------------------ basic tokenization
    def _words(self, cps, rows, cls):
        """Whitespace-separated words, each CJK character one: (chars..., word index)."""
        base = cls % 4
        word_char = base != SPACE
        starts = word_char & ((rows != _shift(rows, -1)) | (_shift(base, SPACE) == SPACE)
                              | (_shift(base, SPACE) == CJK) | (base == CJK))
        words = tf.cumsum(tf.cast(starts, tf.int32)) - 1
        return tuple(tf.boolean_mask(x, word_char) for x in (cps, rows, cls, words))

    def _lower_and_strip(self, cps, rows, cls, words):
        """Each character replaced by its lower-cased, accent-stripped characters (none for a
        combining mark); a capital sigma at a word's end becomes the final sigma."""
        n = tf.size(cps)
        final = self._final_sigma(cps, cls // 4, words)
        at = tf.minimum(tf.searchsorted(self._map_keys, cps), tf.size(self._map_keys) - 1)
        mapped = tf.equal(tf.gather(self._map_keys, at), cps) & ~final
        lengths = tf.where(mapped, tf.gather(self._map_lengths, at), 1)
        source = tf.repeat(tf.range(n), lengths)
        first = tf.cumsum(lengths, exclusive=True)
        offset = tf.range(tf.reduce_sum(lengths)) - tf.gather(first, source)
        where_mapped = tf.gather(mapped, source)
        index = tf.where(where_mapped, tf.gather(tf.gather(self._map_offsets, at), source) + offset, 0)
        out = tf.where(where_mapped, tf.gather(self._map_values, index),
                       tf.where(tf.gather(final, source), FINAL_SIGMA, tf.gather(cps, source)))
        return out, tf.gather(rows, source), tf.gather(words, source)

    @staticmethod
    def _final_sigma(cps, sigma_class, words):
        """Python's Final_Sigma, within a word: the nearest non-case-ignorable character
        before is cased, and the nearest one after (if any) is not."""
        positions = tf.range(tf.size(cps))
        anchors = tf.boolean_mask(positions, sigma_class != CASE_IGNORABLE)
        sigmas = tf.boolean_mask(positions, tf.equal(cps, CAPITAL_SIGMA))
        count = tf.size(anchors)

        def cased_neighbour(at):
            valid = (at >= 0) & (at < count)
            where = tf.gather(anchors, tf.clip_by_value(at, 0, tf.maximum(count - 1, 0)))
            same_word = tf.gather(words, where) == tf.gather(words, sigmas)
            return valid & same_word & (tf.gather(sigma_class, where) == CASED)

        before = cased_neighbour(tf.searchsorted(anchors, sigmas, side="left") - 1)
        after = cased_neighbour(tf.searchsorted(anchors, sigmas, side="right"))
        final = before & ~after
        return tf.scatter_nd(tf.expand_dims(sigmas, 1), final, tf.shape(cps))

    def _split_punctuation(self, cps, rows, words):
        """Google's `_run_split_on_punc`: every punctuation character a token of its own."""
        punct = _lookup_runs(self._punct_starts, self._punct_values, cps) > 0
        starts = (words != _shift(words, -1)) | punct | _shift(punct, False)
        tokens = tf.cumsum(tf.cast(starts, tf.int32)) - 1
        return tokens, tf.boolean_mask(rows, starts), tf.boolean_mask(tf.range(tf.size(cps)), starts)

    # ------------------------------------------------------------------ WordPiece
    def _wordpieces(self, cps, tokens, token_starts):
        """Greedy longest-match-first, as Google's WordpieceTokenizer: -> (ids, token of each)."""
        n = tf.size(cps)
        token_ends = tf.concat([token_starts[1:], tf.reshape(n, [1])], axis=0)
        char_ends = tf.gather(token_ends, tokens)
        first = tf.equal(tf.range(n), tf.gather(token_starts, tokens))
        best_len, best_id = self._longest_matches(cps, tokens, token_starts, char_ends, first)
        too_long = token_ends - token_starts > self.max_chars_per_word
        return self._walk(best_len, best_id, tokens, first, char_ends, too_long)

    def _longest_matches(self, cps, tokens, token_starts, char_ends, first):
        """For each character: the length and id of the longest vocab piece starting there
        (with `##` unless it starts its token); 0 when none does. Every candidate (a start,
        up to the longest piece's length, within the token) is looked up at once."""
        n = tf.size(cps)
        words = tf.strings.unicode_encode(tf.RaggedTensor.from_value_rowids(
            cps, tokens, nrows=tf.size(token_starts)), "UTF-8")
        counts = tf.minimum(char_ends - tf.range(n), self.max_piece_chars)
        start = tf.repeat(tf.range(n), counts)  # a candidate per (start, length)
        length = tf.range(tf.size(start)) - tf.gather(tf.cumsum(counts, exclusive=True), start) + 1
        token = tf.gather(tokens, start)
        text = tf.strings.substr(tf.gather(words, token), start - tf.gather(token_starts, token),
                                 length, unit="UTF8_CHAR")
        text = tf.strings.join([tf.where(tf.gather(first, start), "", "##"), text])
        ids = tf.cast(self.vocab.lookup(text), tf.int32)
        # the longest found per start: lengths above the ids (vocab ids < 2**20)
        key = tf.where(ids >= 0, length * (1 << 20) + ids, -1)
        best = tf.math.unsorted_segment_max(key, start, n)
        found = best >= 0
        return tf.where(found, best // (1 << 20), 0), tf.where(found, best % (1 << 20), 0)

    def _walk(self, best_len, best_id, tokens, first, char_ends, too_long):
        """Follow the longest matches from each token's start (pointer doubling: after step
        i every position reached within 2**(i+1) - 1 pieces is marked); a token whose walk
        meets a character with no match, or that is too long, is one [UNK]."""
        n = tf.size(best_len)
        fail, end = n, n + 1  # two absorbing slots after the characters
        step = tf.where(best_len > 0, tf.range(n) + best_len, fail)
        step = tf.where(tf.equal(step, char_ends), end, step)
        jump = tf.concat([step, [fail, end]], 0)
        on_path = tf.concat([first, [False, False]], 0)
        for _ in range(max(1, int(np.ceil(np.log2(self.max_chars_per_word + 1))))):
            reached = tf.boolean_mask(jump, on_path)
            on_path = tf.tensor_scatter_nd_update(on_path, tf.expand_dims(reached, 1),
                                                  tf.ones_like(reached, tf.bool))
            jump = tf.gather(jump, jump)
        # where each token's walk ends (jump now spans more steps than a word has characters)
        starts = tf.boolean_mask(tf.range(n), first)
        failed_token = tf.equal(tf.gather(jump, starts), fail) | too_long
        failed = tf.gather(failed_token, tokens)
        piece = tf.where(failed, first, on_path[:n])
        ids = tf.where(failed, self.unk_id, best_id)
        return tf.boolean_mask(ids, piece), tf.boolean_mask(tokens, piece)
