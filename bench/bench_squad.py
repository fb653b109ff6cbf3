"""SQuAD throughput on this machine: feature conversion, and span-model training and inference.

  python bench/bench_squad.py [--sizes minilm_l6,base] [--peer] [--google] [--skip_conversion]

Conversion: our `bert_tf.data.squad.convert_examples_to_features` on the full dev-v1.1.json
at max_seq_length 384, doc_stride 128, max_query_length 64, in prediction mode (Google's
training mode rejects dev questions with several answers), in examples (questions)/s, reading
the JSON included; with --google, Google's run_squad.py functions
(bert-tensorflow, through tests/oracles/tf1_shim.py) on the same input in a subprocess.

Model: our SQuAD span model (BertSpanModel + Google's start/end loss, AdamW), XLA-compiled,
random weights, seq 384: inference at batch 8 and one training step at batch TRAIN_BATCH,
compilation and a warm-up step excluded, best of 3 rounds. With --peer, HuggingFace's PyTorch
BertForQuestionAnswering (bench/hf_torch_bert.py in .venv-bench, via bench_model.measure_peer)
runs the same shapes in the same run and the ratio ours/peer is printed.
Record the output in docs/benchmarks.md.
"""

import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bert_tf  # noqa: E402,F401  (turns on oneDNN before TensorFlow loads)
import machine  # noqa: E402  (bench/machine.py)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("BERT_TF_SHARED_DATA", os.path.join(os.path.dirname(ROOT), "shared", "data"))
DEV = os.path.join(SHARED, "squad_v1.1", "dev-v1.1.json")
VOCAB = os.path.join(SHARED, "bert_google", "uncased_L-12_H-768_A-12", "vocab.txt")
SEQ, STRIDE, QUERY = 384, 128, 64
BATCH, TRAIN_BATCH = 8, 4

GOOGLE = r"""
import os, sys, time
sys.path.insert(0, os.path.join(sys.argv[1], "tests", "oracles"))
import tf1_shim  # noqa
import tensorflow.compat.v1 as tf
tf.get_logger().setLevel("ERROR")
from bert import run_squad as google, tokenization
google.FLAGS([sys.argv[0]])
dev, vocab, seq, stride, query = sys.argv[2], sys.argv[3], *map(int, sys.argv[4:7])
start = time.perf_counter()
examples = google.read_squad_examples(dev, is_training=False)
tokenizer = tokenization.FullTokenizer(vocab, do_lower_case=True)
count = []
google.convert_examples_to_features(examples, tokenizer, seq, stride, query, False, count.append)
print(len(examples), len(count), time.perf_counter() - start)
"""


def conversion_ours():
    from bert_tf.data import squad
    from bert_tf.tokenization import FullTokenizer
    start = time.perf_counter()
    examples = squad.read_squad_examples(DEV, False)
    tokenizer = FullTokenizer(VOCAB, do_lower_case=True)
    features = squad.convert_examples_to_features(examples, tokenizer, SEQ, STRIDE, QUERY, is_training=False)
    return len(examples), len(features), time.perf_counter() - start


def conversion_google():
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    out = subprocess.run([sys.executable, "-c", GOOGLE, ROOT, DEV, VOCAB, str(SEQ), str(STRIDE), str(QUERY)],
                         check=True, capture_output=True, text=True, env=env)
    examples, features, seconds = out.stdout.strip().splitlines()[-1].split()
    return int(examples), int(features), float(seconds)


def measure_ours(size, steps, rounds=3):
    import keras
    import numpy as np
    import tensorflow as tf

    from bert_tf.config import preset
    from bert_tf.heads import BertSpanModel, classification_loss
    config = preset(size)
    model = BertSpanModel(config).build_for()
    optimizer = keras.optimizers.AdamW(1e-4, weight_decay=0.01, epsilon=1e-6)
    rng = np.random.default_rng(0)

    def batch(n):
        return {"input_ids": tf.constant(rng.integers(0, config.vocab_size, [n, SEQ]), tf.int32),
                "input_mask": tf.ones([n, SEQ], tf.int32),
                "segment_ids": tf.constant(np.repeat([[0] * 64 + [1] * (SEQ - 64)], n, 0), tf.int32)}

    infer_batch, train_batch = batch(BATCH), batch(TRAIN_BATCH)
    starts = tf.constant(rng.integers(0, SEQ, [TRAIN_BATCH]), tf.int32)
    ends = tf.constant(rng.integers(0, SEQ, [TRAIN_BATCH]), tf.int32)

    @tf.function(jit_compile=True)
    def forward():
        out = model(infer_batch, training=False)
        return out["start_logits"], out["end_logits"]

    @tf.function(jit_compile=True)
    def train():
        with tf.GradientTape() as tape:
            out = model(train_batch, training=True)
            loss = (classification_loss(out["start_logits"], starts)
                    + classification_loss(out["end_logits"], ends)) / 2.0
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    result = {}
    for name, fn, n in (("forward", forward, BATCH), ("train", train, TRAIN_BATCH)):
        tf.nest.map_structure(lambda t: t.numpy(), fn())  # compile and warm up
        best = 0.0
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(steps):
                r = fn()
            tf.nest.map_structure(lambda t: t.numpy(), r)
            best = max(best, n * steps / (time.perf_counter() - start))
        result[name] = best
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="minilm_l6,base")
    parser.add_argument("--peer", action="store_true", help="also run HF PyTorch BERT")
    parser.add_argument("--google", action="store_true", help="also time Google's conversion")
    parser.add_argument("--skip_conversion", action="store_true")
    args = parser.parse_args()
    import tensorflow as tf
    print(f"machine: {machine.describe()}; "
          f"TF {tf.__version__}, TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS')}")
    if not args.skip_conversion:
        print(f"conversion of dev-v1.1.json (prediction mode) at {SEQ}/{STRIDE}/{QUERY}:")
        runs = [("bert_tf", conversion_ours)] + ([("Google", conversion_google)] if args.google else [])
        rates = {}
        for name, fn in runs:
            examples, features, seconds = fn()
            rates[name] = examples / seconds
            print(f"  {name:8s} {examples} examples, {features} features in {seconds:6.1f} s: "
                  f"{rates[name]:7.1f} examples/s", flush=True)
        if len(rates) == 2:
            print(f"  ratio ours/Google: {rates['bert_tf'] / rates['Google']:.2f}x")
    print(f"span model, seq {SEQ}: inference batch {BATCH}, training batch {TRAIN_BATCH}; best of 3 rounds")
    for size in args.sizes.split(","):
        steps = 2 if size in ("base", "large") else 5
        ours = measure_ours(size, steps)
        print(f"{size:10s} bert_tf   inference {ours['forward']:6.2f} seq/s   train {ours['train']:6.2f} seq/s",
              flush=True)
        if args.peer:
            from bench_model import measure_peer
            peer = measure_peer(size, steps, batch=BATCH, seq=SEQ, head="squad", train_batch=TRAIN_BATCH)
            print(f"{size:10s} {peer['peer']:9s} inference {peer['forward']:6.2f} seq/s   train "
                  f"{peer['train']:6.2f} seq/s   ratio ours/peer: inference "
                  f"{ours['forward'] / peer['forward']:.2f}x, train {ours['train'] / peer['train']:.2f}x",
                  flush=True)


if __name__ == "__main__":
    main()
