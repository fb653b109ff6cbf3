"""Multi-worker scaling on this machine, Horovod and tf.distribute's multiworker side by side:
sequences/s with 1 and 2 workers for a MiniLM-L6-sized model through the runner, and the time
one gradient allreduce takes per step.

Each worker trains a classifier (MiniLM-L6 size: 6 layers, hidden 384, vocab 30,522) on
random ids through the Estimator (gradients XLA-compiled, reduced outside: Horovod's grouped
allreduce, or tf.distribute's all_reduce in replica context), then times the reduction of one
batch's gradients, as the step sends them, on its own (all workers in step; the word
embeddings' gradient travels as rows, bert_tf/distribute/gradients.py). The communication overhead
is that time as a fraction of the 2-worker step time. Two workers on two cores cannot speed
up compute: the figure that matters here is the overhead.

  python bench/bench_scaling.py [--steps 30] [--batch 8[,16,...]] [--workers 1,2] [--seq 128]
                                [--engines horovod,multiworker] [--fp16_compression]
                                [--gradients rows,dense]

--batch is the per-worker batch; a list measures the share at each (the allreduce costs the
same at any batch, the step grows with it). --fp16_compression sends the gradients as float16
on both engines (`--hvd_fp16_compression`). --gradients: `rows` is the runner's way (the word
embeddings' gradient sent as tf.IndexedSlices), `dense` sends the whole table (as pretraining
does, and as the runner did before); a list measures each, side by side.
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
    args.batch = int(args.batch)
    import bert_tf  # noqa: F401
    import numpy as np
    import tensorflow as tf

    from bert_tf.config import preset
    from bert_tf.distribute import create_strategy
    from bert_tf.distribute.gradients import is_sparse
    from bert_tf.estimator import TRAIN, Estimator, EstimatorSpec, RunConfig
    from bert_tf.estimator.estimator import TrainParams
    from bert_tf.heads import BertClassifierModel, classification_loss
    from bert_tf.optimization import OptimizerConfig

    config = preset("minilm_l6", vocab_size=30522)
    strategy = create_strategy(args.engine, jit_compile=True,
                               options={"fp16_compression": True} if args.fp16_compression else None)
    if args.gradients == "dense":
        strategy.reduces_sparse_gradients = False

    class Task:
        def create_model(self, params):
            return BertClassifierModel(config, 2).build_for(args.seq)

        def model_fn(self, model, features, mode, params):
            logits = model(features, training=mode == TRAIN)["logits"]
            return EstimatorSpec(loss=classification_loss(logits, features["label_ids"]))

    def examples(n, seed):
        rng = np.random.default_rng(seed)
        return {"input_ids": rng.integers(1000, 30000, [n, args.seq], dtype=np.int32),
                "input_mask": np.ones([n, args.seq], np.int32),
                "segment_ids": np.zeros([n, args.seq], np.int32),
                "label_ids": rng.integers(0, 2, [n], dtype=np.int32)}

    def input_fn(params, ctx):
        data = examples(args.batch * 4, ctx.input_pipeline_id)
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
    # The reduction the step runs, alone: this worker's gradients of one batch as the
    # compiled gradient function gives them (packed; the word embeddings' as rows), reduced
    # in replica context (for Horovod a plain call) and made dense.
    batch = strategy.distribute_batch(tf.nest.map_structure(tf.constant, examples(args.batch, strategy.rank)))
    grads = strategy.run(lambda b: estimator._grads(b, estimator.loss_scale)[2], (batch,))
    sent = [list(g.values.shape) for g in grads if is_sparse(g)]
    sent = f"{len(grads)} tensors, rows of {sent}" if sent else f"{len(grads)} dense tensors"

    def on_replica(g):  # a replica's own copy (a function argument has no device to reduce from)
        return [tf.IndexedSlices(tf.identity(x.values), tf.identity(x.indices), x.dense_shape)
                if is_sparse(x) else tf.identity(x) for x in g]
    reduce = tf.function(lambda g: strategy.run(lambda g: estimator._reduce_gradients(on_replica(g)), (g,)))
    out = reduce(grads)
    strategy.barrier()
    start = time.perf_counter()
    for _ in range(args.steps):
        out = reduce(grads)
    _ = [t.numpy() for t in tf.nest.flatten(out)]  # wait for the last one
    allreduce_seconds = (time.perf_counter() - start) / args.steps
    if strategy.is_chief:
        print("RESULT " + json.dumps({
            "engine": args.engine, "workers": strategy.num_replicas, "step_seconds": step_seconds,
            "sequences_per_second": args.batch * strategy.num_replicas / step_seconds,
            "allreduce_seconds": allreduce_seconds, "sent": sent,
            "parameters": int(sum(np.prod(v.shape) for v in estimator.named_variables.values()))}))


WORKER_ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")


def start_local_workers(command, workers, first_port):
    """`command` once per local multiworker worker, each with its TF_CONFIG (loopback ports
    from first_port); output piped."""
    hosts = [f"localhost:{first_port + i}" for i in range(workers)]
    return [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(
        WORKER_ENV, TF_CONFIG=json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": i}})))
        for i in range(workers)]


def result_of(procs, label):
    """The JSON of the chief's `RESULT ` line once every process has ended; exits with their
    output when one failed."""
    text = "".join(proc.communicate()[0] for proc in procs)
    lines = [line.split("RESULT ", 1)[1] for line in text.splitlines() if "RESULT " in line]
    if any(proc.returncode for proc in procs) or not lines:
        raise SystemExit(f"{label} failed:\n{text[-3000:]}")
    return json.loads(lines[0])


def launch(engine, workers, args):
    script = [sys.executable, os.path.abspath(__file__), "--worker", f"--engine={engine}",
              f"--steps={args.steps}", f"--batch={args.batch}", f"--seq={args.seq}",
              f"--gradients={args.gradients}"]
    script += ["--fp16_compression"] if args.fp16_compression else []
    if engine == "horovod":
        horovodrun = os.path.join(os.path.dirname(sys.executable), "horovodrun")
        procs = [subprocess.Popen([horovodrun, "-np", str(workers), "-H", f"localhost:{workers}", "--gloo",
                                   *script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  env=WORKER_ENV)]
    else:
        procs = start_local_workers(script, workers, args.port)
    return result_of(procs, f"{engine}, {workers} worker(s)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", default="8", help="per-worker batch, or a comma-separated list")
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--engines", default="horovod,multiworker")
    parser.add_argument("--engine", default="horovod", help=argparse.SUPPRESS)
    parser.add_argument("--fp16_compression", action="store_true", help="gradients sent as float16")
    parser.add_argument("--port", type=int, default=24456, help="multiworker: first local port")
    parser.add_argument("--gradients", default="rows", help="rows, dense, or both: rows,dense")
    args = parser.parse_args()
    for flag, accepted in (("gradients", ("rows", "dense")), ("engines", ("horovod", "multiworker"))):
        wrong = sorted(set(getattr(args, flag).split(",")) - set(accepted))
        if wrong:
            parser.error(f"--{flag}: {', '.join(wrong)} is not one of {', '.join(accepted)}")
    if args.worker:
        return worker(args)
    results = []
    for batch in [int(b) for b in args.batch.split(",")]:
        for engine in args.engines.split(","):
            for gradients in args.gradients.split(","):
                for workers in [int(w) for w in args.workers.split(",")]:
                    run = argparse.Namespace(**dict(vars(args), batch=batch, gradients=gradients))
                    result = launch(engine, workers, run)
                    results.append(dict(result, batch=batch, gradients=gradients))
                    print(f"{engine}, {workers} worker(s), batch {batch}, {gradients}: {json.dumps(result)}",
                          flush=True)
    print(f"MiniLM-L6-sized classifier, {results[0]['parameters']:,} parameters, seq {args.seq}, "
          f"{args.steps} timed steps")
    print("| engine | word embeddings' gradient | workers | per-worker batch | step (s) | sequences/s (global) "
          "| allreduce per step (s) | allreduce / step |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(f"| {r['engine']} | {r['gradients']} | {r['workers']} | {r['batch']} | {r['step_seconds']:.3f} | "
              f"{r['sequences_per_second']:.2f} | {r['allreduce_seconds']:.4f} | "
              f"{r['allreduce_seconds'] / r['step_seconds']:.1%} |")


if __name__ == "__main__":
    main()
