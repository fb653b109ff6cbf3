"""Vocab learning: special tokens first, unique pieces, and a vocab our tokenizer can use."""

import pydoc_data.topics

from bert_tf.data import vocab
from bert_tf.tokenization import FullTokenizer, SPECIAL_TOKENS
from conftest import need


def test_learned_vocab_tokenizes_its_corpus_with_few_unknowns(tmp_path):
    lines = need("pretrain_text/gutenberg_nltk/austen-persuasion.txt").read_text("utf-8").splitlines()
    counts = vocab.count_words(lines)
    tokens = vocab.learn_vocab(counts, 3000, num_unused=3)
    assert tokens[:8] == list(SPECIAL_TOKENS) + ["[unused0]", "[unused1]", "[unused2]"]
    assert len(tokens) == len(set(tokens)) and 1000 < len(tokens) <= 3000
    assert any(t.startswith("##") for t in tokens)
    path = tmp_path / "vocab.txt"
    vocab.write_vocab(tokens, path)
    tokenizer = FullTokenizer(path)
    pieces = [p for line in lines[:2000] for p in tokenizer.tokenize(line)]
    assert pieces.count("[UNK]") / len(pieces) < 0.005
    assert tokenizer.tokenize_lines(lines[:500]) == [tokenizer.tokenize(l) for l in lines[:500]]


def test_words_are_split_as_the_tokenizer_splits_them():
    counts = vocab.count_words(["Hello, world! HELLO", "héllo"])
    assert counts == {"hello": 3, ",": 1, "world": 1, "!": 1}


def test_pydoc_topics_is_enough_for_a_small_vocab():
    text = "\n".join(pydoc_data.topics.topics.values())
    tokens = vocab.learn_vocab(vocab.count_words(text.splitlines()), 2000)
    assert len(tokens) > 1500
