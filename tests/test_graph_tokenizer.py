"""The in-graph tokenizer of SavedModels is Google's FullTokenizer, token for token: on real
text in several scripts, on the inputs where tensorflow-text differs, on random code points
and on undecodable bytes, for uncased, cased, multilingual and Chinese vocabs."""

import bz2
import itertools
import random

import pytest
import tensorflow as tf

from bert_tf.graph_tokenizer import GraphTokenizer
from bert_tf.tokenization import FullTokenizer, load_vocab
from conftest import need
from test_tokenization import TRICKY

VOCABS = {"uncased": ("bert_google/uncased_L-12_H-768_A-12/vocab.txt", True),
          "cased": ("bert_google/cased_L-12_H-768_A-12/vocab.txt", False),
          "multi_cased": ("bert_google/multi_cased_L-12_H-768_A-12/vocab.txt", False),
          "multi_lowered": ("bert_google/multi_cased_L-12_H-768_A-12/vocab.txt", True),
          "chinese": ("bert_google/chinese_L-12_H-768_A-12/vocab.txt", True)}

MORE_TRICKY = ["ΟΔΟΣ. ΟΔΟΣ.Α Σ ΑΣ' ΑΣ'Β ΣΑ", "para\u2029graph line\u2028sep", "\ufaff\ufa6e compat",
               "\u1fef` grave", "z" * 200 + " " + "z" * 201, "unwanted,running"]
BAD_BYTES = [b"ab\xffcd", b"\xc3(", b"\xed\xa0\x80x", b"\xf0\x28\x8c\xbc", b"ok\xe2\x82", b"\xc0\xaf",
             b"\xf4\x90\x80\x80z", b"a\xe2\x82\xacb\x80c"]


def corpus_lines():
    lines = []
    for path, n in (("wikipedia/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2", 600),
                    ("wikipedia/bgwiki-latest-pages-articles-shortened.xml.bz2", 400),
                    ("pretrain_text_zh/news_zh_1.txt", 100), ("xnli_zh/dev.tsv", 100)):
        full = need(path)
        with (bz2.open if full.suffix == ".bz2" else open)(full, "rb") as f:
            lines += [raw.decode("utf-8", "ignore").strip() for raw in itertools.islice(f, n)]
    return lines


def random_texts(count, seed=0):
    """Strings of code points from where the rules bite: controls, Latin, Greek (sigma),
    combining marks, spaces, CJK (and its unassigned compatibility slots), Hebrew/Arabic,
    full-width forms, musical symbols (marks with combining classes), anywhere at all."""
    rng = random.Random(seed)
    pools = [range(32, 127), range(0, 32), range(0xA0, 0x250), range(0x370, 0x400),
             range(0x300, 0x370), range(0x2000, 0x2070), range(0x4E00, 0x4E40), range(0xFA60, 0xFB00),
             range(0x1F00, 0x2000), range(0x0590, 0x0700), range(0xFF00, 0xFFF0), range(0x1D160, 0x1D170)]
    texts = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(1, 30)):
            r = rng.random()
            if r < 0.6:
                parts.append(chr(rng.choice(rng.choice(pools))))
            elif r < 0.7:
                parts.append(" ")
            elif r < 0.75:
                parts.append("\u03a3")
            elif r < 0.85:
                cp = rng.randint(0, 0x2FFFF)
                parts.append("A" if 0xD800 <= cp < 0xE000 else chr(cp))  # no lone surrogates
            else:
                parts.append(rng.choice(["the", "ing", "##", "un", "want", "ed", "'", "."]))
        texts.append("".join(parts))
    return texts


@pytest.mark.parametrize("name", sorted(VOCABS))
def test_graph_tokenizer_is_googles_full_tokenizer(name):
    path, lower = VOCABS[name]
    vocab = need(path)
    google = FullTokenizer(str(vocab), do_lower_case=lower)
    graph = GraphTokenizer(list(load_vocab(vocab)), do_lower_case=lower)
    tokenize = tf.function(graph.tokenize, input_signature=[tf.TensorSpec([None], tf.string)])
    texts = [t.encode("utf-8") for t in corpus_lines() + TRICKY + MORE_TRICKY + random_texts(1500)]
    texts += BAD_BYTES
    got = tokenize(tf.constant(texts)).to_list()
    differ = [(t, google.convert_ids_to_tokens(ids), google.tokenize(t))
              for t, ids in zip(texts, got) if ids != google.convert_tokens_to_ids(google.tokenize(t))]
    assert differ == [], differ[:3]
    assert tokenize(tf.constant([], tf.string)).to_list() == []
    assert tokenize(tf.constant(["", " \t "])).to_list() == [[], []]
