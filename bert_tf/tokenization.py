"""Google's BERT tokenization, exactly, with a tensorflow-text fast path where it agrees.

`FullTokenizer` reproduces Google's `tokenization.py` token for token: text cleaning,
CJK characters as single tokens, lower-casing and accent stripping when uncased, punctuation
splitting, then greedy longest-match-first WordPiece with `[UNK]` and a 200-character word
limit.

`tokenize_lines()` tokenizes many lines at once through `tensorflow_text.FastBertTokenizer`
(about 40x faster) for every line on which that tokenizer is known to agree with Google's,
and through `FullTokenizer` for the rest. tensorflow-text differs on text that NFKC / case
folding changes (`Straße`, ligatures, full-width letters, `…`), on control characters, on
words over 100 bytes and on some code points its whitespace/punctuation classes treat
otherwise; `_needs_reference_path()` sends those lines to the exact path, so the result
is never silently different.
"""

import collections
import re
import unicodedata

from bert_tf.errors import UserError

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
REQUIRED_TOKENS = ("[UNK]", "[CLS]", "[SEP]", "[MASK]")
MAX_WORD_CHARS = 200  # Google's WordPiece limit (characters)
FAST_MAX_WORD_BYTES = 100  # tensorflow-text's default limit (bytes)


class VocabError(UserError):
    """A vocab file that cannot be used; the message names the file."""


def convert_to_unicode(text):
    """bytes -> str as Google does (UTF-8, undecodable bytes dropped); str passes through."""
    if isinstance(text, bytes):
        return text.decode("utf-8", "ignore")
    if isinstance(text, str):
        return text
    raise ValueError(f"Unsupported string type: {type(text)}")


def printable_text(text):
    """Google's `printable_text`: text for print or logging (a str in Python 3)."""
    return convert_to_unicode(text)


def load_vocab(vocab_file):
    """Google's vocab loading: one token per line, stripped, id = line number.

    A token listed twice is refused: Google's loader keeps its last id, so the first line's
    id is never produced, and a config sized by the distinct tokens is then smaller than
    the ids in the data (an out-of-range embedding lookup). Google's released vocabs list
    each token once.
    """
    vocab = collections.OrderedDict()
    try:
        with open(vocab_file, "rb") as f:
            for index, raw in enumerate(f):
                token = convert_to_unicode(raw).strip()
                if token in vocab:
                    shown = repr(token) if token else "'' (a blank line)"
                    raise VocabError(
                        f"{vocab_file}: the token {shown} is listed twice, on lines "
                        f"{vocab[token] + 1} and {index + 1}; a vocab lists each token once "
                        "(its id is its line number): replace the second one with a token "
                        "not in the file, such as [unused0], so every other token keeps its id")
                vocab[token] = index
    except OSError as e:
        raise VocabError(f"{vocab_file}: cannot read the vocab file ({e.strerror})") from e
    if not vocab:
        raise VocabError(f"{vocab_file}: the vocab file is empty")
    return vocab


# ---------------------------------------------------------------------- Google's module-level API
def convert_by_vocab(vocab, items):
    """Google's `convert_by_vocab`: each item looked up in `vocab` (a KeyError if absent)."""
    return [vocab[item] for item in items]


def convert_tokens_to_ids(vocab, tokens):
    return convert_by_vocab(vocab, tokens)


def convert_ids_to_tokens(inv_vocab, ids):
    return convert_by_vocab(inv_vocab, ids)


def preserve_token(token, vocab):
    """Google's `preserve_token`: True for a `[unusedN]` token of the vocab when the absl flag
    `--preserve_unused_tokens` is defined and true (create_pretraining_data.py defines it);
    FullTokenizer's `preserve_unused_tokens` argument does the same without a flag."""
    return _preserve_flag() and is_preserved(token, vocab)


def _preserve_flag():
    from absl import flags
    try:
        return bool(flags.FLAGS["preserve_unused_tokens"].value)
    except KeyError:  # the flag is not defined in this program
        return False


class CaseMismatchError(UserError):
    """`--do_lower_case` contradicts the casing of a Google checkpoint named in the path."""


# Google's released checkpoints by casing, as validate_case_matches_checkpoint knows them.
_LOWER_CASED_MODELS = ("uncased_L-24_H-1024_A-16", "uncased_L-12_H-768_A-12",
                       "multilingual_L-12_H-768_A-12", "chinese_L-12_H-768_A-12")
_CASED_MODELS = ("cased_L-12_H-768_A-12", "cased_L-24_H-1024_A-16", "multi_cased_L-12_H-768_A-12")


def validate_case_matches_checkpoint(do_lower_case, init_checkpoint):
    """Google's check: a checkpoint path `.../<release name>/bert_model.ckpt` of one of Google's
    uncased (cased) releases with `do_lower_case` False (True) raises CaseMismatchError (a
    ValueError, as Google's); any other path passes. It knows only the release folder names."""
    if not init_checkpoint:
        return
    match = re.match("^.*?([A-Za-z0-9_-]+)/bert_model.ckpt", init_checkpoint)
    if match is None:
        return
    model_name = match.group(1)
    if model_name in _LOWER_CASED_MODELS and not do_lower_case:
        flag, case_name, opposite = "False", "lowercased", "True"
    elif model_name in _CASED_MODELS and do_lower_case:
        flag, case_name, opposite = "True", "cased", "False"
    else:
        return
    raise CaseMismatchError(
        f"You passed in `--do_lower_case={flag}` with `--init_checkpoint={init_checkpoint}`. "
        f"However, `{model_name}` seems to be a {case_name} model, so you should pass in "
        f"`--do_lower_case={opposite}` so that the fine-tuning matches how the model was "
        "pre-training.")


def check_special_tokens(vocab, vocab_file, required=REQUIRED_TOKENS):
    missing = [t for t in required if t not in vocab]
    if missing:
        raise VocabError(f"{vocab_file}: the vocab lacks {', '.join(missing)}; a BERT vocab "
                         f"needs {', '.join(required)} (learn_vocab.py adds them)")


def whitespace_tokenize(text):
    text = text.strip()
    return text.split() if text else []


# ---------------------------------------------------------------------- character classes
def _is_whitespace(char):
    if char in (" ", "\t", "\n", "\r"):
        return True
    return unicodedata.category(char) == "Zs"


def _is_control(char):
    if char in ("\t", "\n", "\r"):
        return False
    return unicodedata.category(char) in ("Cc", "Cf")


def _is_punctuation(char):
    cp = ord(char)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_chinese_char(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


# ---------------------------------------------------------------------- Google's tokenizers
_UNUSED_TOKEN = re.compile(r"^\[unused\d+\]$")


class BasicTokenizer:
    """Cleaning, CJK splitting, lower-casing + accent stripping (uncased), punctuation split.

    With `preserve` (a vocab), words like `[unused12]` that are in it pass through whole, as
    Google's `--preserve_unused_tokens` does.
    """

    def __init__(self, do_lower_case=True, preserve=None, vocab=None):
        self.do_lower_case = do_lower_case
        # Google's `vocab` argument preserves its [unusedN] tokens only under the absl flag
        if preserve is None and vocab is not None and _preserve_flag():
            preserve = vocab
        self.preserve = preserve

    def tokenize(self, text):
        text = self._tokenize_chinese_chars(self._clean_text(convert_to_unicode(text)))
        split_tokens = []
        for token in whitespace_tokenize(text):
            if self.preserve is not None and is_preserved(token, self.preserve):
                split_tokens.append(token)
                continue
            if self.do_lower_case:
                token = self._strip_accents(token.lower())
            split_tokens.extend(self._split_on_punctuation(token))
        return whitespace_tokenize(" ".join(split_tokens))

    @staticmethod
    def _strip_accents(text):
        return "".join(c for c in unicodedata.normalize("NFD", text)
                       if unicodedata.category(c) != "Mn")

    @staticmethod
    def _split_on_punctuation(text):
        pieces, start_new = [], True
        for char in text:
            if _is_punctuation(char):
                pieces.append([char])
                start_new = True
            else:
                if start_new:
                    pieces.append([])
                start_new = False
                pieces[-1].append(char)
        return ["".join(p) for p in pieces]

    @staticmethod
    def _tokenize_chinese_chars(text):
        return "".join(f" {c} " if _is_chinese_char(ord(c)) else c for c in text)

    @staticmethod
    def _clean_text(text):
        out = []
        for char in text:
            cp = ord(char)
            if cp == 0 or cp == 0xFFFD or _is_control(char):
                continue
            out.append(" " if _is_whitespace(char) else char)
        return "".join(out)


def is_preserved(token, vocab):
    return token in vocab and _UNUSED_TOKEN.match(token) is not None


class WordpieceTokenizer:
    """Greedy longest-match-first WordPiece; `[UNK]` for unknown or over-long words."""

    def __init__(self, vocab, unk_token="[UNK]", max_input_chars_per_word=MAX_WORD_CHARS):
        self.vocab = vocab
        self.unk_token = unk_token
        self.max_input_chars_per_word = max_input_chars_per_word

    def tokenize(self, text):
        output = []
        for token in whitespace_tokenize(convert_to_unicode(text)):
            if len(token) > self.max_input_chars_per_word:
                output.append(self.unk_token)
                continue
            pieces, start = [], 0
            while start < len(token):
                end, piece = len(token), None
                while start < end:
                    candidate = token[start:end]
                    if start > 0:
                        candidate = "##" + candidate
                    if candidate in self.vocab:
                        piece = candidate
                        break
                    end -= 1
                if piece is None:
                    pieces = None
                    break
                pieces.append(piece)
                start = end
            output.extend(pieces if pieces is not None else [self.unk_token])
        return output


class FullTokenizer:
    """Google's end-to-end tokenizer, plus a batched fast path (`tokenize_lines`)."""

    def __init__(self, vocab_file, do_lower_case=True, preserve_unused_tokens=False):
        self.vocab_file = str(vocab_file)
        self.vocab = load_vocab(vocab_file)
        self.inv_vocab = {v: k for k, v in self.vocab.items()}
        self.do_lower_case = do_lower_case
        self.preserve_unused_tokens = preserve_unused_tokens
        self.basic_tokenizer = BasicTokenizer(do_lower_case,
                                              self.vocab if preserve_unused_tokens else None)
        self.wordpiece_tokenizer = WordpieceTokenizer(vocab=self.vocab)
        self._word_cache = {}
        self._fast = None

    _CACHE_LIMIT = 1 << 20

    def tokenize(self, text):
        """Google's FullTokenizer.tokenize, exactly; memoized per whitespace-separated word.

        After cleaning and CJK splitting, Google's pipeline treats each whitespace-separated
        word on its own, so the word's final pieces can be cached: real text repeats words,
        and this runs several times faster than recomputing them.
        """
        basic = self.basic_tokenizer
        text = convert_to_unicode(text)
        if text.isascii():
            text = text.translate(_ASCII_CLEAN)
        else:
            text = basic._tokenize_chinese_chars(basic._clean_text(text))
        cache, tokens = self._word_cache, []
        for word in text.split():
            pieces = cache.get(word)
            if pieces is None:
                pieces = self._tokenize_word(word)
                if len(cache) >= self._CACHE_LIMIT:
                    cache.clear()
                cache[word] = pieces
            tokens.extend(pieces)
        return tokens

    def _tokenize_word(self, word):
        """One cleaned, whitespace-free word -> its WordPieces (Google's steps)."""
        out = []
        for token in self.basic_tokenizer.tokenize(word):
            if self.preserve_unused_tokens and is_preserved(token, self.vocab):
                out.append(token)
            else:
                out.extend(self.wordpiece_tokenizer.tokenize(token))
        return out

    def convert_tokens_to_ids(self, tokens):
        return [self.vocab[t] for t in tokens]

    def convert_ids_to_tokens(self, ids):
        return [self.inv_vocab[i] for i in ids]

    # ------------------------------------------------------------------ fast path
    def tokenize_lines(self, lines, use_fast_path=True):
        """[str] -> [[token]]; the same result as `[self.tokenize(l) for l in lines]`."""
        lines = [convert_to_unicode(line) for line in lines]
        if not use_fast_path or not self._fast_path_usable():
            return [self.tokenize(line) for line in lines]
        out = [None] * len(lines)
        fast_rows = []
        for i, line in enumerate(lines):
            if self._needs_reference_path(line):
                out[i] = self.tokenize(line)
            else:
                fast_rows.append(i)
        if fast_rows:
            ragged = self._fast.tokenize([lines[i] for i in fast_rows])
            tokens = self._fast_tokens
            flat = [tokens[t] for t in ragged.flat_values.numpy().tolist()]
            start = 0
            for row, length in zip(fast_rows, ragged.row_lengths().numpy().tolist()):
                out[row] = flat[start:start + length]
                start += length
        return out

    def _fast_path_usable(self):
        """tensorflow-text needs a vocab of unique, non-empty tokens that includes [UNK]."""
        if self._fast is None:
            tokens = [self.inv_vocab.get(i) for i in range(len(self.inv_vocab))]
            usable = (len(self.vocab) == len(self.inv_vocab) and all(tokens)
                      and "[UNK]" in self.vocab and max(self.vocab.values()) == len(tokens) - 1)
            self._fast = False
            if usable:
                import tensorflow_text as tft
                self._fast_tokens = tokens
                self._fast = tft.FastBertTokenizer(
                    vocab=tokens, suffix_indicator="##", max_bytes_per_word=FAST_MAX_WORD_BYTES,
                    unknown_token="[UNK]", token_out_type="int64",
                    lower_case_nfd_strip_accents=self.do_lower_case)
        return self._fast is not False

    def _needs_reference_path(self, line):
        """True where tensorflow-text may differ from Google's tokenizer on this line."""
        if self.preserve_unused_tokens and "[unused" in line:
            return True
        if line.isascii():
            if _ASCII_CONTROL.search(line):
                return True
            return _LONG_ASCII_WORD.search(line) is not None
        normalized = unicodedata.normalize("NFKC", line)
        if (normalized.casefold() != line.lower()) if self.do_lower_case else (normalized != line):
            return True
        for char in line:
            if char > "\x7f":
                category = unicodedata.category(char)
                if category[0] in "CZS" or category == "Mn":
                    return True
        return any(len(word.encode("utf-8")) > FAST_MAX_WORD_BYTES
                   for word in _MAYBE_LONG_WORD.findall(line))


# Google's _clean_text on ASCII: control characters removed, \t \n \r become spaces.
_ASCII_CLEAN = {c: None for c in list(range(0, 9)) + [11, 12] + list(range(14, 32)) + [127]}
_ASCII_CLEAN.update({9: " ", 10: " ", 13: " "})
_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LONG_ASCII_WORD = re.compile(r"\S{%d,}" % (FAST_MAX_WORD_BYTES + 1))
_MAYBE_LONG_WORD = re.compile(r"\S{%d,}" % (FAST_MAX_WORD_BYTES // 4 + 1))
