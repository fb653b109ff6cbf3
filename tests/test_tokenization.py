"""Tokenization: Google's documented behaviour, and equality with Google's own tokenizer
(subprocess oracle) on real corpora and on the inputs where tensorflow-text differs."""

import json

import pytest

from bert_tf import tokenization
from bert_tf.tokenization import BasicTokenizer, FullTokenizer, WordpieceTokenizer
from conftest import need, run_oracle

UNCASED = "bert_google/uncased_L-12_H-768_A-12/vocab.txt"
CASED = "bert_google/cased_L-12_H-768_A-12/vocab.txt"
MULTI = "bert_google/multi_cased_L-12_H-768_A-12/vocab.txt"
CHINESE = "bert_google/chinese_L-12_H-768_A-12/vocab.txt"

# Inputs on which tensorflow-text's normalization or limits differ from Google's.
TRICKY = [
    "Straße", "ﬁne ﬂower", "Ｆｕｌｌ ｗｉｄｔｈ １２３", "wait… what", "con\x01trol in\x7fword",
    "x" * 250, "y" * 150, "é" * 60, "non\u00a0breaking", "e\u0301te", "İstanbul", "ǅemal",
    "Ⅻ ① ™ ℌ", "zero\u200bwidth", "emoji 😀 here", "مرحبا بالعالم", "नमस्ते दुनिया",
    "$100 ^_^ `code` ~tilde", "über Ångström Ça", "ΣΊΣΥΦΟΣ", "\ufeffbom", "tab\tand\rcr",
    "中文，标点。", "日本語のテキスト", "한국어 텍스트", "\ufffdreplacement", "soft\u00adhyphen",
    "don't stop-believing (1999) [x] {y}", "A.B.C. e.g. i.e.", "", "   ", "\u3000ideographic space",
]


def google_tokens(vocab, lower, lines, tmp_path):
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"vocab_file": str(vocab), "do_lower_case": lower, "lines": lines}))
    run_oracle("google_tokenize.py", request, tmp_path / "result.json")
    return json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))


def first_lines(path, n):
    lines = []
    for file in sorted(need(path).glob("*.txt")) if need(path).is_dir() else [need(path)]:
        with open(file, "rb") as f:
            for raw in f:
                lines.append(raw.decode("utf-8", "ignore").strip())
                if len(lines) == n:
                    return lines
    return lines


# ---------------------------------------------------------------------- Google's own examples
def test_basic_tokenizer_lower_and_accents():
    assert BasicTokenizer(True).tokenize(" \tHeLLo!how  \n Are yoU?  ") == ["hello", "!", "how", "are", "you", "?"]
    assert BasicTokenizer(True).tokenize("H\u00E9llo") == ["hello"]
    assert BasicTokenizer(False).tokenize(" \tHeLLo!how  \n Are yoU?  ") == ["HeLLo", "!", "how", "Are", "yoU", "?"]


def test_chinese_characters_become_single_tokens():
    assert BasicTokenizer().tokenize("ah\u535A\u63A8zz") == ["ah", "\u535A", "\u63A8", "zz"]


def test_wordpiece_greedy_longest_match_and_unk():
    vocab = {t: i for i, t in enumerate(["[UNK]", "[CLS]", "[SEP]", "want", "##want", "##ed",
                                         "wa", "un", "runn", "##ing"])}
    wp = WordpieceTokenizer(vocab)
    assert wp.tokenize("") == []
    assert wp.tokenize("unwanted running") == ["un", "##want", "##ed", "runn", "##ing"]
    assert wp.tokenize("unwantedX running") == ["[UNK]", "runn", "##ing"]
    assert WordpieceTokenizer(vocab, max_input_chars_per_word=5).tokenize("running") == ["[UNK]"]


def test_full_tokenizer_and_ids(tmp_path):
    vocab = ["[UNK]", "[CLS]", "[SEP]", "want", "##want", "##ed", "wa", "un", "runn", "##ing", ","]
    path = tmp_path / "vocab.txt"
    path.write_text("".join(t + "\n" for t in vocab))
    tok = FullTokenizer(path, do_lower_case=True)
    tokens = tok.tokenize("UNwant\u00E9d,running")
    assert tokens == ["un", "##want", "##ed", ",", "runn", "##ing"]
    assert tok.convert_tokens_to_ids(tokens) == [7, 4, 5, 10, 8, 9]
    assert tok.convert_ids_to_tokens([7, 4]) == ["un", "##want"]


def test_character_classes():
    assert tokenization._is_whitespace(" ") and tokenization._is_whitespace("\u00A0")
    assert not tokenization._is_whitespace("A") and not tokenization._is_whitespace("-")
    assert tokenization._is_control("\u0005") and not tokenization._is_control("\t")
    assert not tokenization._is_control("A") and not tokenization._is_control("\r")
    assert tokenization._is_punctuation("-") and tokenization._is_punctuation("$")
    assert tokenization._is_punctuation("`") and tokenization._is_punctuation(".")
    assert not tokenization._is_punctuation("A") and not tokenization._is_punctuation(" ")


def test_long_words_are_unk_at_200_characters():
    tok = FullTokenizer(need(UNCASED))
    assert tok.tokenize("a" * 201) == ["[UNK]"]
    assert tok.tokenize("a" * 200) != ["[UNK]"]


def test_vocab_errors(tmp_path):
    with pytest.raises(tokenization.VocabError, match="cannot read"):
        FullTokenizer(tmp_path / "none.txt")
    path = tmp_path / "v.txt"
    path.write_text("[PAD]\nhello\n")
    with pytest.raises(tokenization.VocabError, match=r"lacks \[UNK\], \[CLS\], \[SEP\], \[MASK\]"):
        tokenization.check_special_tokens(tokenization.load_vocab(path), str(path))


def test_a_token_listed_twice_is_refused_with_both_line_numbers(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("[PAD]\n[UNK]\nhello\n[CLS]\n hello \n")
    with pytest.raises(tokenization.VocabError,
                       match=r"v.txt: the token 'hello' is listed twice, on lines 3 and 5"):
        tokenization.load_vocab(path)
    path.write_text("[PAD]\n\nhello\n\n")
    with pytest.raises(tokenization.VocabError, match=r"\(a blank line\) is listed twice, on lines 2 and 4"):
        FullTokenizer(path)


@pytest.mark.parametrize("vocab", [UNCASED, CASED, MULTI, CHINESE,
                                   "bert_google/uncased_L-24_H-1024_A-16/vocab.txt"])
def test_googles_released_vocabs_list_each_token_once(vocab):
    path = need(vocab)
    with open(path, "rb") as f:
        lines = sum(1 for _ in f)
    assert len(tokenization.load_vocab(path)) == lines


# ---------------------------------------------------------------------- against Google's code
@pytest.mark.parametrize("vocab,lower", [(UNCASED, True), (CASED, False), (MULTI, False), (CHINESE, True)])
def test_tricky_inputs_equal_google_on_both_paths(vocab, lower, tmp_path):
    want = google_tokens(need(vocab), lower, TRICKY, tmp_path)
    tok = FullTokenizer(need(vocab), lower)
    assert [tok.tokenize(line) for line in TRICKY] == want
    assert tok.tokenize_lines(TRICKY) == want


@pytest.mark.parametrize("corpus,vocab,lower", [
    ("pretrain_text/gutenberg_nltk", UNCASED, True),
    ("pretrain_text_zh/news_zh_1.txt", CHINESE, True),
    ("pretrain_text_zh/honglou_meng.txt", CHINESE, True),
])
def test_fast_path_equals_google_on_first_10000_lines(corpus, vocab, lower, tmp_path):
    lines = first_lines(corpus, 10000)
    want = google_tokens(need(vocab), lower, lines, tmp_path)
    assert FullTokenizer(need(vocab), lower).tokenize_lines(lines) == want


def test_fast_path_is_really_used_on_plain_english():
    tok = FullTokenizer(need(UNCASED))
    lines = first_lines("pretrain_text/gutenberg_nltk", 2000)
    assert sum(tok._needs_reference_path(line) for line in lines) == 0
    assert all(tok._needs_reference_path(line) for line in TRICKY[:8])


def test_preserve_unused_tokens_as_google(tmp_path):
    lines = ["keep [unused7] whole", "[UNUSED7] [unused99999] x[unused1]"]
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"vocab_file": str(need(UNCASED)), "do_lower_case": True,
                                   "lines": lines, "preserve": True}))
    run_oracle("google_tokenize.py", request, tmp_path / "result.json")
    want = json.loads((tmp_path / "result.json").read_text())
    tok = FullTokenizer(need(UNCASED), True, preserve_unused_tokens=True)
    assert tok.tokenize_lines(lines) == want
    assert want[0] == ["keep", "[unused7]", "whole"]
    assert FullTokenizer(need(UNCASED)).tokenize("[unused7]") != ["[unused7]"]
