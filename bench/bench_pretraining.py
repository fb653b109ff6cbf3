"""The runner's training loop: steps/s and sequences/s against iterations_per_loop.

  python bench/bench_pretraining.py [--sizes micro,tiny,minilm_l6,base] [--no_xla] [--peer]

For each size, the pretraining task's compiled loop (forward, backward, clipping, AdamW,
XLA-compiled gradients) runs on an in-memory batch (no file reading) with
iterations_per_loop 1, 10 and 100 (base: 1 and 10), side by side in one process, after a
warm-up call per setting. micro is the size where per-call overhead dominates (1 layer,
hidden 32, vocab 1,000, seq 32, batch 8). With --peer, HuggingFace's PyTorch BertForPreTraining
(bench/hf_torch_bert.py in .venv-bench) trains the same shapes in the same run for the
minilm_l6 and base sizes, and the ratio runner/peer is printed: on this shared machine a
ratio taken in one run is the comparison that holds. Record the output in docs/benchmarks.md.
"""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bert_tf  # noqa: E402,F401
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bench_model import flops_per_sequence, matmul_peak, measure_peer  # noqa: E402
from bert_tf import optimization  # noqa: E402
from bert_tf.config import preset  # noqa: E402
from bert_tf.distribute.strategy import LocalStrategy  # noqa: E402
from bert_tf.estimator import Estimator, RunConfig  # noqa: E402
from bert_tf.estimator.estimator import TrainParams  # noqa: E402
from bert_tf.tasks.pretraining import PretrainingTask  # noqa: E402

SIZES = {  # config, seq, predictions, batch, loop settings, steps per measurement
    "micro": (dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                   vocab_size=1000, max_position_embeddings=32), 32, 5, 8, (1, 10, 100), 300),
    "tiny": (dict(vocab_size=30522), 128, 20, 8, (1, 10, 100), 100),
    "minilm_l6": (dict(vocab_size=30522), 128, 20, 8, (1, 10, 100), 30),
    "base": (dict(vocab_size=30522), 128, 20, 8, (1, 10), 10),
}


def model_config(size):
    """The BertConfig of a size: its preset with SIZES' overrides."""
    return preset(size, **SIZES[size][0])


def batch(config, seq, pred, size):
    rng = np.random.default_rng(0)
    return {
        "input_ids": tf.constant(rng.integers(1, config.vocab_size, [size, seq]), tf.int32),
        "input_mask": tf.ones([size, seq], tf.int32),
        "segment_ids": tf.constant(np.repeat([[0] * (seq // 2) + [1] * (seq - seq // 2)], size, 0), tf.int32),
        "masked_lm_positions": tf.constant(rng.integers(1, seq, [size, pred]), tf.int32),
        "masked_lm_ids": tf.constant(rng.integers(1, config.vocab_size, [size, pred]), tf.int32),
        "masked_lm_weights": tf.ones([size, pred], tf.float32),
        "next_sentence_labels": tf.zeros([size, 1], tf.int32),
    }


def measure(size, loops, use_xla, rounds=3):
    _, seq, pred, batch_size, settings, steps = SIZES[size]
    config = model_config(size)
    features = batch(config, seq, pred, batch_size)
    opt = optimization.OptimizerConfig(learning_rate=1e-4, num_train_steps=10 ** 9, num_warmup_steps=100)
    with tempfile.TemporaryDirectory() as model_dir:
        est = Estimator(PretrainingTask(config), RunConfig(model_dir), {"train": TrainParams(opt)},
                        LocalStrategy("cpu", jit_compile=use_xla))
        est._build_training()
        loop = est._train_loop_fn()
        iterator = iter(tf.data.Dataset.from_tensors(features).repeat())
        settings = [ipl for ipl in settings if ipl in loops]
        for ipl in settings:
            loop(iterator, tf.constant(ipl, tf.int64))["total_loss"].numpy()  # trace, compile
        results = {ipl: 0.0 for ipl in settings}
        for _ in range(rounds):  # settings interleaved, so drift hits them alike
            for ipl in settings:
                calls = max(1, steps // ipl)
                n = tf.constant(ipl, tf.int64)
                start = time.perf_counter()
                for _ in range(calls):
                    logs = loop(iterator, n)
                logs["total_loss"].numpy()
                results[ipl] = max(results[ipl], calls * ipl / (time.perf_counter() - start))
    return config, seq, pred, batch_size, results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="micro,tiny,minilm_l6,base")
    parser.add_argument("--loops", default="1,10,100")
    parser.add_argument("--no_xla", action="store_true")
    parser.add_argument("--peer", action="store_true", help="also train HF PyTorch BERT (minilm_l6, base)")
    args = parser.parse_args()
    loops = [int(x) for x in args.loops.split(",")]
    peak = matmul_peak()
    print(f"{os.cpu_count()} cores; TF {tf.__version__}; XLA {'off' if args.no_xla else 'on'}; "
          f"fp32 matmul peak {peak:.0f} GFLOP/s; best of 3 interleaved rounds")
    for size in args.sizes.split(","):
        config, seq, pred, batch_size, results = measure(size, loops, not args.no_xla)
        gflop = 3 * flops_per_sequence(config, seq, pred) / 1e9
        base = results.get(1)
        for ipl, steps_per_sec in results.items():
            seqs = steps_per_sec * batch_size
            print(f"{size:10s} seq {seq:3d} batch {batch_size}  iterations_per_loop {ipl:3d}: "
                  f"{steps_per_sec:8.2f} steps/s {seqs:8.2f} seq/s  x{steps_per_sec / base:.2f} vs 1"
                  f"  {seqs * gflop / peak:6.1%} of peak", flush=True)
        if args.peer and size in ("minilm_l6", "base"):
            peer = measure_peer(size, 3 if size == "base" else 8, batch=batch_size, seq=seq, predictions=pred)
            best = max(results.values()) * batch_size
            print(f"{size:10s} {peer['peer']} train {peer['train']:8.2f} seq/s; "
                  f"runner/peer {best / peer['train']:.2f}x", flush=True)


if __name__ == "__main__":
    main()
