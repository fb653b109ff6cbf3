"""Where a looped training step's time goes (bench_pretraining.py's sizes; micro by default).

  python bench/bench_loop_parts.py [--size micro] [--steps 100] [--rounds 5]

Times, per step, over --steps steps in one call: the runner's whole loop (iterator + compiled
steps, STEPS_PER_LAUNCH per launch), the compiled step launched once per step from a
`tf.while_loop` (the runner's earlier design), the same steps STEPS_PER_LAUNCH per launch,
both on a constant batch, and the iterator alone. The difference between the two launch
settings is the cost of a launch; what remains is the step's own kernels, which no loop
around them can remove. Record the output in docs/benchmarks.md.
"""

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bert_tf  # noqa: E402,F401
import tensorflow as tf  # noqa: E402

from bench_model import best_ms_per_call  # noqa: E402
from bench_pretraining import SIZES, batch, model_config  # noqa: E402
from bert_tf import optimization  # noqa: E402
from bert_tf.distribute.local import LocalStrategy  # noqa: E402
from bert_tf.estimator import Estimator, RunConfig  # noqa: E402
from bert_tf.estimator.estimator import STEPS_PER_LAUNCH, TrainParams  # noqa: E402
from bert_tf.tasks.pretraining import PretrainingTask  # noqa: E402

def repeat(fn, first, times):
    """A tf.function running `fn(previous)` `times` times in a while loop, from first()."""
    @tf.function
    def run():
        def body(i, value):
            return i + 1, fn(value)
        return tf.while_loop(lambda i, _: i < times, body, (tf.constant(1), first()))[1]
    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="micro", choices=sorted(SIZES))
    parser.add_argument("--steps", type=int, default=100, help=f"per call; a multiple of {STEPS_PER_LAUNCH}")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    steps = args.steps
    if steps < STEPS_PER_LAUNCH or steps % STEPS_PER_LAUNCH:
        parser.error(f"--steps={steps}: use a multiple of {STEPS_PER_LAUNCH}")
    _, seq, pred, batch_size, _, _ = SIZES[args.size]
    config = model_config(args.size)
    features = batch(config, seq, pred, batch_size)
    opt = optimization.OptimizerConfig(learning_rate=1e-4, num_train_steps=10 ** 9, num_warmup_steps=100)
    with tempfile.TemporaryDirectory() as model_dir:
        est = Estimator(PretrainingTask(config), RunConfig(model_dir), {"train": TrainParams(opt)},
                        LocalStrategy("cpu", jit_compile=True))
        est._build_training()
        iterator = iter(tf.data.Dataset.from_tensors(features).repeat())
        step = lambda _=None: est._fused_step(features, est.loss_scale)  # noqa: E731
        stacked = {k: tf.stack([v] * STEPS_PER_LAUNCH) for k, v in features.items()}
        ten = tf.constant(STEPS_PER_LAUNCH, tf.int64)
        launch = lambda logs: est._launch(stacked, ten, logs)  # noqa: E731
        no_logs = est._zero_logs(tf.nest.map_structure(tf.TensorSpec.from_tensor, features))
        take = lambda _=None: next(iterator)["input_ids"]  # noqa: E731
        per_call = tf.constant(steps, tf.int64)
        parts = {
            "runner loop (iterator + compiled steps)": lambda: est._loop(iterator, per_call),
            "one launch per step (constant batch)": repeat(step, step, steps),
            f"{STEPS_PER_LAUNCH} steps per launch (constant batch)": repeat(
                launch, lambda: launch(no_logs), steps // STEPS_PER_LAUNCH),
            "iterator alone": repeat(take, take, steps),
        }
        print(f"{args.size} model, batch {batch_size}, seq {seq}; {steps} steps per call, best of "
              f"{args.rounds} interleaved rounds")
        calls = 1 if args.size in ("minilm_l6", "base") else 3  # a call of these takes 10 s or more
        for name, ms in best_ms_per_call(parts, args.rounds, calls).items():
            print(f"  {name:40s} {ms / steps:9.3f} ms/step", flush=True)


if __name__ == "__main__":
    main()
