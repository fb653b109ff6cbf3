"""Where a looped training step's time goes, on the micro model (bench_pretraining.py's).

  python bench/bench_loop_parts.py

Times, per step, inside one `tf.while_loop` of 100 iterations: the runner's whole loop
(iterator + compiled step), the compiled step alone on a constant batch, and the iterator
alone. If the compiled step is nearly all of the loop, more iterations per loop cannot help
further: the step's own kernels are the cost. Record the output in docs/benchmarks.md.
"""

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
from bert_tf.distribute.strategy import LocalStrategy  # noqa: E402
from bert_tf.estimator import Estimator, RunConfig  # noqa: E402
from bert_tf.estimator.estimator import TrainParams  # noqa: E402
from bert_tf.tasks.pretraining import PretrainingTask  # noqa: E402

STEPS = 100


def repeat(fn, first):
    """A tf.function running `fn(previous)` STEPS times in a while loop, starting from first()."""
    @tf.function
    def run():
        def body(i, value):
            return i + 1, fn(value)
        return tf.while_loop(lambda i, _: i < STEPS, body, (tf.constant(1), first()))[1]
    return run


def per_step_ms(parts, rounds=5, calls=3):
    """{name: best ms per step}, the parts interleaved round by round so drift hits them alike."""
    return {name: ms / STEPS for name, ms in best_ms_per_call(parts, rounds, calls).items()}


def main():
    _, seq, pred, batch_size, _, _ = SIZES["micro"]
    config = model_config("micro")
    features = batch(config, seq, pred, batch_size)
    opt = optimization.OptimizerConfig(learning_rate=1e-4, num_train_steps=10 ** 9, num_warmup_steps=100)
    with tempfile.TemporaryDirectory() as model_dir:
        est = Estimator(PretrainingTask(config), RunConfig(model_dir), {"train": TrainParams(opt)},
                        LocalStrategy("cpu", jit_compile=True))
        est._build_training()
        iterator = iter(tf.data.Dataset.from_tensors(features).repeat())
        loop = est._train_loop_fn()
        step = lambda _=None: est._fused_step(features, est.loss_scale)["total_loss"]  # noqa: E731
        parts = {
            "runner loop (iterator + compiled step)": lambda: loop(iterator, tf.constant(STEPS, tf.int64)),
            "compiled step alone (constant batch)": repeat(step, step),
            "iterator alone": repeat(lambda _: next(iterator)["input_ids"], lambda: next(iterator)["input_ids"]),
        }
        print(f"micro model, batch {batch_size}, seq {seq}; {STEPS} steps per call, best of 5 "
              "interleaved rounds")
        for name, ms in per_step_ms(parts).items():
            print(f"  {name:40s} {ms:7.3f} ms/step")


if __name__ == "__main__":
    main()
