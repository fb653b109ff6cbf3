"""The SavedModel's in-graph tokenizer against tensorflow-text's FastBertTokenizer.

  python bench/bench_graph_tokenizer.py [--lines=4000] [--batch=32] [--rounds=5]

Both tokenizers run as tf.functions over the same real text (enwiki lines from
../shared/data, uncased vocab) in batches of --batch strings, as a serving signature would
get them; tracing excluded, medians of --rounds interleaved rounds, in lines/s. The graph
tokenizer (bert_tf.graph_tokenizer, core ops only) is what exports use since it runs in
saved_model_cli and TF Serving; FastBertTokenizer is the op-library alternative it replaced.
"""

import argparse
import bz2
import itertools
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import bert_tf  # noqa: E402,F401
import tensorflow as tf  # noqa: E402
import tensorflow_text as tft  # noqa: E402

from bert_tf.graph_tokenizer import GraphTokenizer  # noqa: E402
from bert_tf.tokenization import load_vocab  # noqa: E402

SHARED = os.environ.get("BERT_TF_SHARED_DATA", os.path.join(os.path.dirname(ROOT), "shared", "data"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    path = os.path.join(SHARED, "wikipedia", "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2")
    with bz2.open(path, "rb") as f:
        lines = [l.decode("utf-8", "ignore").strip() for l in itertools.islice(f, args.lines)]
    batches = [tf.constant(lines[i:i + args.batch]) for i in range(0, len(lines), args.batch)]
    tokens = list(load_vocab(os.path.join(SHARED, "bert_google", "uncased_L-12_H-768_A-12", "vocab.txt")))
    spec = [tf.TensorSpec([None], tf.string)]
    graph = GraphTokenizer(tokens, do_lower_case=True)
    fast = tft.FastBertTokenizer(vocab=tokens, suffix_indicator="##", max_bytes_per_word=200,
                                 unknown_token="[UNK]", token_out_type=tf.int64,
                                 lower_case_nfd_strip_accents=True)
    runners = {"graph (core ops)": tf.function(graph.tokenize, input_signature=spec),
               "FastBertTokenizer": tf.function(fast.tokenize, input_signature=spec)}
    for run in runners.values():
        run(batches[0])  # trace
    rates = {name: [] for name in runners}
    for _ in range(args.rounds):
        for name, run in runners.items():
            start = time.perf_counter()
            for batch in batches:
                run(batch)
            rates[name].append(len(lines) / (time.perf_counter() - start))
    medians = {name: statistics.median(r) for name, r in rates.items()}
    for name, rate in medians.items():
        print(f"{name:>20}: {rate:9.0f} lines/s (batch {args.batch}, {len(lines)} enwiki lines)")
    print(f"graph / FastBertTokenizer: {medians['graph (core ops)'] / medians['FastBertTokenizer']:.2f}x")


if __name__ == "__main__":
    main()
