"""Horovod scaling on this machine: sequences/s with 1 and 2 workers for a MiniLM-L6-sized
model through the runner, and the time one gradient allreduce takes per step.

Each worker trains a classifier (MiniLM-L6 size: 6 layers, hidden 384, vocab 30,522) on
random ids through the Estimator with --horovod semantics (grouped allreduce outside the
XLA-compiled gradients), then times the allreduce of a gradient-shaped set of tensors on
its own (all workers in step). The communication overhead is that time as a fraction of the
2-worker step time. Two workers on two cores cannot speed up compute: the figure that
matters here is the overhead.

  python bench/bench_scaling.py [--steps 30] [--batch 8] [--seq 128]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def worker(args):
    import bert_tf  # noqa: F401
    import numpy as np
    import tensorflow as tf

    from bert_tf.config import preset
    from bert_tf.distribute import create_strategy
    from bert_tf.estimator import TRAIN, Estimator, EstimatorSpec, RunConfig
    from bert_tf.estimator.estimator import TrainParams
    from bert_tf.heads import BertClassifierModel, classification_loss
    from bert_tf.optimization import OptimizerConfig

    config = preset("minilm_l6", vocab_size=30522)
    strategy = create_strategy("horovod", jit_compile=True)

    class Task:
        def create_model(self, params):
            return BertClassifierModel(config, 2).build_for(args.seq)

        def model_fn(self, model, features, mode, params):
            logits = model(features, training=mode == TRAIN)["logits"]
            return EstimatorSpec(loss=classification_loss(logits, features["label_ids"]))

    def input_fn(params, ctx):
        rng = np.random.default_rng(ctx.input_pipeline_id)
        n = args.batch * 4
        data = {"input_ids": rng.integers(1000, 30000, [n, args.seq], dtype=np.int32),
                "input_mask": np.ones([n, args.seq], np.int32),
                "segment_ids": np.zeros([n, args.seq], np.int32),
                "label_ids": rng.integers(0, 2, [n], dtype=np.int32)}
        return tf.data.Dataset.from_tensor_slices(data).batch(args.batch, drop_remainder=True).repeat()

    optimizer = OptimizerConfig(learning_rate=1e-5, num_train_steps=10 ** 6, num_warmup_steps=10).validate()
    params = {"global_batch_size": args.batch * strategy.num_replicas, "train": TrainParams(optimizer=optimizer)}
    model_dir = tempfile.mkdtemp(prefix=f"scaling{strategy.num_replicas}_")
    estimator = Estimator(Task(), RunConfig(model_dir, iterations_per_loop=args.steps,
                                            save_checkpoints_steps=10 ** 6, log_every_n_steps=10 ** 6),
                          params, strategy)
    estimator.train(input_fn, 3)  # compile and warm up
    strategy.barrier()
    start = time.perf_counter()
    estimator.train(input_fn, 3 + args.steps)
    step_seconds = (time.perf_counter() - start) / args.steps
    grads = [tf.random.normal(v.shape) for v in estimator.named_variables.values()]
    reduce = tf.function(strategy.reduce_gradients)
    reduce(grads)
    strategy.barrier()
    start = time.perf_counter()
    for _ in range(args.steps):
        out = reduce(grads)
    _ = [t.numpy() for t in out]  # wait for the last one
    allreduce_seconds = (time.perf_counter() - start) / args.steps
    if strategy.is_chief:
        print("RESULT " + json.dumps({
            "workers": strategy.num_replicas, "step_seconds": step_seconds,
            "sequences_per_second": args.batch * strategy.num_replicas / step_seconds,
            "allreduce_seconds": allreduce_seconds,
            "parameters": int(sum(np.prod(v.shape) for v in estimator.named_variables.values()))}))


def launch(workers, args):
    horovodrun = os.path.join(os.path.dirname(sys.executable), "horovodrun")
    cmd = [horovodrun, "-np", str(workers), "-H", f"localhost:{workers}", "--gloo", sys.executable,
           os.path.abspath(__file__), "--worker", f"--steps={args.steps}", f"--batch={args.batch}",
           f"--seq={args.seq}"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    lines = [line.split("RESULT ", 1)[1] for line in (out.stdout + out.stderr).splitlines() if "RESULT " in line]
    if out.returncode or not lines:
        raise SystemExit(f"{workers} worker(s) failed:\n{(out.stdout + out.stderr)[-3000:]}")
    return json.loads(lines[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=8, help="per-worker batch")
    parser.add_argument("--seq", type=int, default=128)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    one, two = launch(1, args), launch(2, args)
    print(f"MiniLM-L6-sized classifier, {one['parameters']:,} parameters, seq {args.seq}, "
          f"per-worker batch {args.batch}, {args.steps} timed steps")
    print("| workers | step (s) | sequences/s (global) | allreduce per step (s) | allreduce / step |")
    print("| --- | --- | --- | --- | --- |")
    for r in (one, two):
        print(f"| {r['workers']} | {r['step_seconds']:.3f} | {r['sequences_per_second']:.2f} | "
              f"{r['allreduce_seconds']:.4f} | {r['allreduce_seconds'] / r['step_seconds']:.1%} |")


if __name__ == "__main__":
    main()
