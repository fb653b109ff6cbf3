"""tf.distribute's multiworker gradient all-reduce alone, under the transport's settings: how
far gRPC on loopback can be pushed (docs/benchmarks.md, "Multi-worker scaling").

Two local workers (MultiWorkerMirroredStrategy, ring collectives over gRPC) reduce a
MiniLM-L6-shaped set of gradients (90 MB: the word embedding, 6 layers, biases) as
`reduce_gradients` does, repeatedly, for each setting in turn:

- `pack`: CommunicationOptions(bytes_per_pack) in MiB (0: every tensor its own collective);
- `chunk`: the gRPC server's ConfigProto.experimental.recv_buf_max_chunk (0: TensorFlow's
  default of 4 KiB pieces; -1: one piece);
- `channels`: ConfigProto.rpc_options.num_channels_per_target (0: TensorFlow's default).
- `op`: MEAN (the default here) or SUM (what the runner asks for: its gradients come divided by the replica count, `gradient_divisor`).

The last two are not reachable through a public TensorFlow API (they are set on the eager
context's ConfigProto before the strategy starts its server), which is why the runner does
not use them: this script shows whether they would be worth it.

  python bench/bench_allreduce.py [--reps 30] [--settings pack=8 pack=8,chunk=-1 ...]
"""

import argparse
import json
import os
import sys
import time

SETTINGS = ["pack=8", "pack=0", "pack=2", "pack=32", "pack=8,chunk=-1", "pack=8,chunk=65536",
            "pack=8,channels=4", "pack=8,op=SUM", "pack=8"]


def parse(setting):
    out = {"pack": 8, "chunk": 0, "channels": 0, "op": "MEAN"}
    for item in setting.split(","):
        key, value = item.split("=")
        out[key] = value if key == "op" else int(value)
    return out


def worker(setting, reps):
    import tensorflow as tf
    from tensorflow.core.protobuf import config_pb2
    from tensorflow.python.eager import context

    if setting["chunk"] or setting["channels"]:
        config = config_pb2.ConfigProto()
        config.experimental.recv_buf_max_chunk = setting["chunk"]
        config.rpc_options.num_channels_per_target = setting["channels"]
        context.context()._config = config  # read when the strategy starts its gRPC server
    ring = tf.distribute.experimental.CommunicationImplementation.RING
    strategy = tf.distribute.MultiWorkerMirroredStrategy(
        communication_options=tf.distribute.experimental.CommunicationOptions(implementation=ring))
    shapes = ([[30522, 384], [512, 384], [2, 384]] + [[384, 384]] * 24 + [[384, 1536], [1536, 384]] * 6
              + [[384]] * 60 + [[1536]] * 6)
    grads = [tf.random.normal(shape) for shape in shapes]
    options = tf.distribute.experimental.CommunicationOptions(bytes_per_pack=setting["pack"] << 20)
    op = getattr(tf.distribute.ReduceOp, setting["op"])

    @tf.function
    def reduce():
        return strategy.run(lambda: tf.distribute.get_replica_context().all_reduce(
            op, [tf.identity(g) for g in grads], options=options))

    for _ in range(2):
        out = reduce()
    _ = [t.numpy() for t in tf.nest.flatten(out)]
    start = time.perf_counter()
    for _ in range(reps):
        out = reduce()
    _ = [t.numpy() for t in tf.nest.flatten(out)]
    seconds = (time.perf_counter() - start) / reps
    if strategy.cluster_resolver.task_id == 0:
        megabytes = sum(int(g.shape.num_elements()) for g in grads) * 4 / 1e6
        print("RESULT " + json.dumps({"seconds": seconds, "megabytes": megabytes}), flush=True)


def launch(setting, reps, port):
    from bench_scaling import result_of, start_local_workers
    command = [sys.executable, os.path.abspath(__file__), "--worker", setting, f"--reps={reps}"]
    return result_of(start_local_workers(command, 2, port), setting)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--settings", nargs="*", default=SETTINGS)
    parser.add_argument("--port", type=int, default=24600)
    args = parser.parse_args()
    if args.worker:
        return worker(parse(args.worker), args.reps)
    print("| setting | all-reduce (s) | MB/s of gradients |")
    print("| --- | --- | --- |")
    for i, setting in enumerate(args.settings):
        parse(setting)
        r = launch(setting, args.reps, args.port + 2 * i)
        print(f"| {setting} | {r['seconds']:.4f} | {r['megabytes'] / r['seconds']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
