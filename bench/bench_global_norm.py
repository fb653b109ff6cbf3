"""The global norm of a BERT-base-shaped set of gradients (110 M float32 values), the forms
the runner could compute it in, timed under XLA and without: why `optimization.global_norm`
sums each large tensor's squares across 8 contiguous blocks first when it is compiled, and
keeps TensorFlow's kernel when it is not. Each form: best of 5 calls, --rounds rounds
alternating; the relative error against a float64 norm of the same values.

  python bench/bench_global_norm.py [--rounds 3]
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import bert_tf  # noqa: E402,F401  (oneDNN on, as the runner)
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bert_tf import optimization  # noqa: E402


def bert_base_shapes():
    shapes = [(30522, 768), (512, 768), (2, 768), (768,), (768,)]
    layer = [(768, 768), (768,)] * 4 + [(768,), (768,), (768, 3072), (3072,), (3072, 768), (768,), (768,),
                                        (768,)]
    shapes += layer * 12
    return shapes + [(768, 768), (768,), (768,), (768,), (30522,), (768, 768), (768,), (768, 2), (2,)]


def columns(width):
    """Each tensor as [-1, width], its squares summed down the columns first."""
    def norm(tensors):
        parts = []
        for t in tensors:
            n = t.shape.num_elements()
            rows = tf.reshape(t, [-1, width]) if n % width == 0 and n > width else tf.reshape(t, [1, -1])
            parts.append(tf.reduce_sum(tf.reduce_sum(tf.square(rows), axis=0)))
        return tf.sqrt(tf.add_n(parts))
    return norm


def blocks(count):
    """optimization.blocked_sum_of_squares with `count` blocks (the runner's: NORM_BLOCKS)."""
    return lambda tensors: tf.sqrt(tf.add_n([optimization.blocked_sum_of_squares(t, count) for t in tensors]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    grads = [tf.constant(rng.normal(0, 1e-3, s).astype(np.float32)) for s in bert_base_shapes()]
    exact = np.sqrt(sum(np.sum(np.square(g.numpy().astype(np.float64))) for g in grads))
    forms = {"tf.linalg.global_norm": tf.linalg.global_norm, "columns of 64": columns(64),
             "columns of 768": columns(768), "blocks of 4": blocks(4),
             "blocks of 8 (the runner's)": lambda tensors: optimization.global_norm(tensors, compiled=True),
             "blocks of 16": blocks(16), "blocks of 32": blocks(32)}
    fns = {f"{name}, XLA": tf.function(fn, jit_compile=True) for name, fn in forms.items()}
    fns.update({f"{name}, no XLA": tf.function(forms[name]) for name in ("tf.linalg.global_norm",
                                                                          "blocks of 8 (the runner's)")})
    errors = {name: abs(float(fn(grads)) - exact) / exact for name, fn in fns.items()}  # also compiles
    times = {name: [] for name in fns}
    for _ in range(args.rounds):
        for name, fn in fns.items():
            best = float("inf")
            for _ in range(5):
                start = time.perf_counter()
                fn(grads).numpy()
                best = min(best, time.perf_counter() - start)
            times[name].append(best * 1e3)
    print(f"{sum(int(np.prod(s)) for s in bert_base_shapes()):,} gradient values; best of 5 per round, "
          f"{args.rounds} rounds")
    print("| form | ms per round | relative error |")
    print("| --- | --- | --- |")
    for name in fns:
        print(f"| {name} | {', '.join(f'{t:.1f}' for t in times[name])} | {errors[name]:.1e} |")


if __name__ == "__main__":
    main()
