"""The optimizer step's cost against how many variables share one packed buffer.

  python bench/bench_optimizer.py [--sizes micro,base] [--gating]

For each model size, the pretraining model's variables get an XLA-compiled update (pack the
gradients, non-finite check, clipping to norm 1.0, AdamW) with three packing limits, side by
side in one process, interleaved over 4 rounds, best kept: 0 (every variable its own slots
and kernels, as before packing), the default PACK_LIMIT, and everything in one buffer. It
shows why the default packs only small variables: packing saves kernel launches where
variables are small and costs copies where they are large. With --gating, the default
packing twice instead: the update skipped on non-finite gradients by a `tf.cond` around it
(the runner's form before issue 21) against gated inside (`apply(..., finite)`, the
runner's form now: XLA no longer copies every Adam slot each step). Record the output in
docs/benchmarks.md.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bert_tf  # noqa: E402,F401
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bench_model import best_ms_per_call  # noqa: E402
from bench_pretraining import model_config  # noqa: E402
from bert_tf import optimization  # noqa: E402
from bert_tf.tasks.pretraining import PretrainingTask  # noqa: E402

CALLS = {"micro": 200, "tiny": 50, "minilm_l6": 10, "base": 5}


def model_shapes(size):
    model = PretrainingTask(model_config(size)).create_model({})
    return {name: v.shape for name, v in model.tf1_weights().items()}


def update_fn(shapes, pack_limit, grads, gated=None):
    """The compiled update; `gated` True/False: skipped on non-finite gradients inside the
    optimizer / by a tf.cond around it (None: not skipped)."""
    rng = np.random.default_rng(0)
    variables = {n: tf.Variable(rng.normal(size=s).astype(np.float32)) for n, s in shapes.items()}
    opt = optimization.create_optimizer(variables, optimization.OptimizerConfig(), pack_limit)

    @tf.function(jit_compile=True)
    def update(step):
        packed = opt.pack(grads)
        finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in packed])
        packed, _ = optimization.clip_by_global_norm(packed, 1.0, compiled=True)  # as the runner
        if gated:
            opt.apply(packed, 1e-4, step, finite)
        elif gated is None:
            opt.apply(packed, 1e-4, step)
        else:
            def apply():
                opt.apply(packed, 1e-4, step)
                return tf.constant(True)
            tf.cond(finite, apply, lambda: tf.constant(False))
        return finite
    return update


def measure(size, rounds=4):
    shapes = model_shapes(size)
    rng = np.random.default_rng(1)
    grads = [tf.constant(rng.normal(size=s).astype(np.float32) * 1e-3) for s in shapes.values()]
    limits = {"per variable (0)": 0, f"default ({optimization.PACK_LIMIT})": optimization.PACK_LIMIT,
              "all in one buffer": 2 ** 62}
    step = tf.constant(1, tf.int64)
    updates = {label: update_fn(shapes, limit, grads) for label, limit in limits.items()}
    best = best_ms_per_call({label: lambda fn=fn: fn(step) for label, fn in updates.items()},
                            rounds, CALLS[size])
    count = sum(s.num_elements() for s in shapes.values())
    print(f"{size}: {len(shapes)} variables, {count:,} weights")
    first = best["per variable (0)"]
    for label, ms in best.items():
        print(f"  pack limit {label:26s} {ms:9.3f} ms per update  x{first / ms:.2f} vs per variable", flush=True)


def measure_gating(size, rounds=4):
    shapes = model_shapes(size)
    rng = np.random.default_rng(1)
    grads = [tf.constant(rng.normal(size=s).astype(np.float32) * 1e-3) for s in shapes.values()]
    step = tf.constant(1, tf.int64)
    updates = {"tf.cond around the update": update_fn(shapes, optimization.PACK_LIMIT, grads, False),
               "gated inside (apply(..., finite))": update_fn(shapes, optimization.PACK_LIMIT, grads, True)}
    best = best_ms_per_call({label: lambda fn=fn: fn(step) for label, fn in updates.items()},
                            rounds, CALLS[size])
    first = next(iter(best.values()))
    print(f"{size}: {sum(s.num_elements() for s in shapes.values()):,} weights")
    for label, ms in best.items():
        print(f"  {label:36s} {ms:9.3f} ms per update  x{first / ms:.2f}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="micro,base")
    parser.add_argument("--gating", action="store_true")
    args = parser.parse_args()
    for size in args.sizes.split(","):
        (measure_gating if args.gating else measure)(size)


if __name__ == "__main__":
    main()
