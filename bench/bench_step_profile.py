"""Where the BERT-base training step's time goes on this CPU: the runner's compiled step
(bench_model.py's `Ours`: forward, backward, clipping, AdamW; batch 8, seq 128, XLA) traced by
TensorFlow's profiler with XLA's per-thunk trace events, each thunk's time put in one class
by the TensorFlow op it was compiled from (read from XLA's optimized HLO, dumped alongside):

- matmul: XLA dot thunks (the FLOPs bench_model.py counts);
- optimizer update: AdamW's element-wise update of the weights and both moments (the
  runner's `optimizer_update` name scope; the clipping's scaling is fused into it);
- gradient norm: squares and reductions of `clip_by_global_norm`'s global norm;
- everything else (layer norms, softmax, GELU, dropout, residual adds, transposes, ...).

It answers what the ceiling on "% of the matmul peak" is: the step's FLOPs over (matmul time
+ the time of what a step cannot drop), against the peak of bench_model.py's matmul_peak.

  python bench/bench_step_profile.py [--size base] [--steps 2] [--top N]

--top N also lists the N costliest thunks outside the matmuls, each with the TensorFlow op it
came from (where to look next).
"""

import argparse
import collections
import glob
import os
import re
import sys
import tempfile

WORK = tempfile.mkdtemp(prefix="step_profile_")
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + f" --xla_cpu_enable_xprof_traceme=true "
                           f"--xla_dump_to={WORK}/hlo --xla_dump_hlo_as_text --xla_dump_hlo_pass_re=NONE")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_model  # noqa: E402  (imports TensorFlow with the flags above)
import machine  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.tsl.profiler.protobuf import xplane_pb2  # noqa: E402


def classify(name, op_name):
    if name.startswith("MatMul"):  # XLA names a dot thunk after its TF op
        return "matmul"
    if "global_norm" in op_name.split("/"):
        return "gradient norm"
    if "optimizer_update" in op_name.split("/"):
        return "optimizer update"
    return "everything else"


def thunk_ms(logdir, steps):
    """{thunk name: ms per step} from the profiler's XPlane (both worker threads summed)."""
    path = sorted(glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True), key=os.path.getmtime)[-1]
    space = xplane_pb2.XSpace()
    with open(path, "rb") as f:
        space.ParseFromString(f.read())
    out = collections.Counter()
    for plane in space.planes:
        names = {k: v.name for k, v in plane.event_metadata.items()}
        for line in plane.lines:
            if "Eigen" not in line.name:
                continue
            for event in line.events:
                name = names.get(event.metadata_id, "")
                if not name.startswith(("ThunkExecutor", "end:")):
                    out[name] += event.duration_ps / 1e9 / steps
    return out


def op_names(hlo_text):
    """{instruction name: the TF op_name it came from}. XLA's tree reductions (reduce-window)
    carry no op_name: they take the op_name of the operand they reduce."""
    entry = hlo_text[hlo_text.index("\nENTRY"):]
    own, first_operand = {}, {}
    for m in re.finditer(r"\n\s*(?:ROOT )?%([\w.-]+) = [^\n]*", entry):
        line = m.group(0)
        operand = re.search(r"\(%([\w.-]+)", line)
        first_operand[m.group(1)] = operand.group(1) if operand else None
        called = re.search(r"calls=%([\w.-]+)", line)
        names = re.findall(r'op_name="([^"]+)"', line)
        if called and not names:
            body = re.search(r"\n%" + re.escape(called.group(1)) + r" .*?\n}", hlo_text, re.S)
            names = re.findall(r'op_name="([^"]+)"', body.group(0)) if body else []
        if names:
            own[m.group(1)] = names[-1]

    def resolve(name, depth=0):
        if name in own or depth > 4 or first_operand.get(name) is None:
            return own.get(name, "")
        return resolve(first_operand[name], depth + 1)
    return {name: resolve(name) for name in first_operand}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="base")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--top", type=int, default=0, help="list the N costliest non-matmul thunks")
    args = parser.parse_args()
    ours = bench_model.Ours(args.size, os.path.join(WORK, "model"))
    ours.measure(2, 1)
    train = ours.parts["train"]
    tf.profiler.experimental.start(f"{WORK}/trace")
    for _ in range(args.steps):
        train().numpy()
    tf.profiler.experimental.stop()
    peaks = bench_model.matmul_peaks()
    peak = max(peaks.values())
    step_gflop = ours.gflop_per_seq_train * bench_model.BATCH
    hlo = max(glob.glob(f"{WORK}/hlo/*fused*cpu_after_optimizations.txt"), key=os.path.getsize)
    names = op_names(open(hlo).read())
    classes, others = collections.Counter(), collections.Counter()
    for thunk, ms in thunk_ms(f"{WORK}/trace", args.steps).items():
        kind = classify(thunk, names.get(thunk, ""))
        classes[kind] += ms
        if kind != "matmul":
            others[f"{thunk} ({kind}: {names.get(thunk, '?')})"] += ms
    total = sum(classes.values())
    print(f"machine: {machine.describe()}")
    print(f"{args.size}, batch {bench_model.BATCH}, seq {bench_model.SEQ}: {step_gflop:.0f} GFLOP per step; "
          f"matmul peak {peak:.0f} GFLOP/s ({bench_model.peaks_text(peaks)}); thunk time {total:.0f} ms per step")
    print("| class | ms per step | share |")
    print("| --- | --- | --- |")
    for name, ms in classes.most_common():
        print(f"| {name} | {ms:.0f} | {ms / total:.1%} |")
    matmul = classes["matmul"]
    floor = matmul + classes["optimizer update"] + classes["gradient norm"]
    print(f"matmuls alone: {step_gflop / matmul * 1e3:.0f} GFLOP/s = {step_gflop / matmul * 1e3 / peak:.1%} of peak; "
          f"whole step: {step_gflop / total * 1e3 / peak:.1%}; with every other op free: "
          f"{step_gflop / floor * 1e3 / peak:.1%}")
    for name, ms in others.most_common(args.top):
        print(f"{ms:7.1f} ms  {name}")


if __name__ == "__main__":
    main()
