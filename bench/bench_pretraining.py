"""The runner's training loop: steps/s and sequences/s against iterations_per_loop.

  python bench/bench_pretraining.py [--sizes micro,tiny,minilm_l6,base] [--rounds 5]
                                    [--no_xla] [--peer]

For each size, the pretraining task trains on an in-memory batch (no file reading) with
iterations_per_loop 1, 10 and 100 (base: 1 and 10), side by side in one process, after a
warm-up per setting, the settings interleaved round by round. Two figures per setting:
- runner: `Estimator.train` as run_pretraining.py runs it, read from the global_step/sec
  its log.jsonl reports (every loop plus the host's work between loops);
- loop alone: the runner's compiled loop function called back to back, without that work.
Each is the median over the rounds; "x" is the median of the per-round ratios to the first
setting. micro is the size where per-call overhead dominates (1 layer, hidden 32, vocab
1,000, seq 32, batch 8). With --peer, HuggingFace's PyTorch BertForPreTraining
(bench/hf_torch_bert.py in .venv-bench) trains the same shapes in the same run for the
minilm_l6 and base sizes, and the ratio runner/peer is printed: on this shared machine a
ratio taken in one run is the comparison that holds. Record the output in docs/benchmarks.md.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bert_tf  # noqa: E402,F401
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import machine  # noqa: E402  (bench/machine.py)

from bench_model import flops_per_sequence, matmul_peak, measure_peer  # noqa: E402
from bert_tf import optimization  # noqa: E402
from bert_tf.config import preset  # noqa: E402
from bert_tf.distribute.local import LocalStrategy  # noqa: E402
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


def runner_rate(est, input_fn, ipl, steps):
    """Steps/s of `steps` more steps of `Estimator.train` at `ipl` iterations per loop, as
    its log.jsonl reports them to users: global_step/sec over every loop and the host's
    work between loops (logs, the non-finite guard), not the set-up before the first loop
    or the checkpoint after the last."""
    est.config.iterations_per_loop = ipl
    est.train(input_fn, int(est.global_step) + steps)
    with open(os.path.join(est.config.model_dir, "log.jsonl"), encoding="utf-8") as f:
        return json.loads(f.readlines()[-1])["global_step/sec"]


def loop_rate(loop, iterator, ipl, steps):
    """Steps/s of the runner's compiled loop function called back to back from Python: the
    loop alone, without the host's work between calls."""
    calls, n = max(1, steps // ipl), tf.constant(ipl, tf.int64)
    start = time.perf_counter()
    for _ in range(calls):
        logs = loop(iterator, n)
    logs["total_loss"].numpy()
    return calls * ipl / (time.perf_counter() - start)


def measure(size, loops, use_xla, rounds):
    """{(kind, ipl): [steps/s per round]} for kind "runner" and "loop", the settings
    interleaved round by round so the machine's drift hits them alike."""
    _, seq, pred, batch_size, settings, steps = SIZES[size]
    config = model_config(size)
    features = batch(config, seq, pred, batch_size)
    opt = optimization.OptimizerConfig(learning_rate=1e-4, num_train_steps=10 ** 9, num_warmup_steps=100)
    never = 10 ** 9  # one log line per train() call, no checkpoint inside the measurement
    with tempfile.TemporaryDirectory() as model_dir:
        run_config = RunConfig(model_dir, save_checkpoints_steps=never, keep_checkpoint_max=1,
                               log_every_n_steps=never, save_summary_steps=never)
        est = Estimator(PretrainingTask(config), run_config,
                        {"train": TrainParams(opt), "global_batch_size": batch_size},
                        LocalStrategy("cpu", jit_compile=use_xla))
        input_fn = lambda params, context: tf.data.Dataset.from_tensors(features).repeat()  # noqa: E731
        settings = [ipl for ipl in settings if ipl in loops]
        for ipl in settings:  # trace and compile
            runner_rate(est, input_fn, ipl, ipl)
        loop = est._loop
        iterator = iter(input_fn(None, None))
        for ipl in settings:
            loop_rate(loop, iterator, ipl, ipl)
        results = {(kind, ipl): [] for kind in ("runner", "loop") for ipl in settings}
        for _ in range(rounds):
            for ipl in settings:
                results["runner", ipl].append(runner_rate(est, input_fn, ipl, steps))
                results["loop", ipl].append(loop_rate(loop, iterator, ipl, steps))
    return config, seq, pred, batch_size, settings, results


def summary(rates, base_rates):
    """(median steps/s, median of the per-round ratios to base_rates): rounds are paired,
    taken minutes apart at most, so their ratios carry less of the machine's drift."""
    ratios = [r / b for r, b in zip(rates, base_rates)]
    return statistics.median(rates), statistics.median(ratios)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="micro,tiny,minilm_l6,base")
    parser.add_argument("--loops", default="1,10,100")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no_xla", action="store_true")
    parser.add_argument("--peer", action="store_true", help="also train HF PyTorch BERT (minilm_l6, base)")
    args = parser.parse_args()
    loops = [int(x) for x in args.loops.split(",")]
    peak = matmul_peak()
    print(f"machine: {machine.describe()}; TF {tf.__version__}; XLA {'off' if args.no_xla else 'on'}; "
          f"fp32 matmul peak {peak:.0f} GFLOP/s; medians of {args.rounds} interleaved rounds")
    for size in args.sizes.split(","):
        config, seq, pred, batch_size, settings, results = measure(size, loops, not args.no_xla, args.rounds)
        gflop = 3 * flops_per_sequence(config, seq, pred) / 1e9
        for ipl in settings:
            rate, ratio = summary(results["runner", ipl], results["runner", settings[0]])
            loop, loop_ratio = summary(results["loop", ipl], results["loop", settings[0]])
            print(f"{size:10s} seq {seq:3d} batch {batch_size}  iterations_per_loop {ipl:3d}: runner "
                  f"{rate:8.2f} steps/s {rate * batch_size:8.2f} seq/s  x{ratio:.2f} vs {settings[0]}"
                  f"  {rate * batch_size * gflop / peak:6.1%} of peak   (loop alone {loop:8.2f} steps/s"
                  f"  x{loop_ratio:.2f})", flush=True)
        if args.peer and size in ("minilm_l6", "base"):
            peer = measure_peer(size, 3 if size == "base" else 8, batch=batch_size, seq=seq, predictions=pred)
            best = max(statistics.median(results["runner", ipl]) for ipl in settings) * batch_size
            print(f"{size:10s} {peer['peer']} train {peer['train']:8.2f} seq/s; "
                  f"runner/peer {best / peer['train']:.2f}x", flush=True)


if __name__ == "__main__":
    main()
