"""THOR against AdamW and LAMB: steps and time to a masked-LM accuracy, THOR's cost per step,
and what the capture switch costs AdamW/LAMB (nothing, if their graph is unchanged).

  python bench/bench_thor.py prepare                       # records, once (~2 min)
  python bench/bench_thor.py train [--budget_minutes 18]   # resumable: rerun until "all done"
  python bench/bench_thor.py cost [--rounds 3]             # THOR's step cost vs AdamW/LAMB
  python bench/bench_thor.py capture --baseline_tree DIR   # AdamW/LAMB: graph and time vs DIR
  python bench/bench_thor.py report                        # the tables for docs/benchmarks.md
  python bench/bench_thor.py factors [--run thor_lr0.02]   # the last factors' spectra vs damping

The model: BERT "tiny" (2 layers, hidden 128, 2 heads, intermediate 512, uncased vocab 30,522),
from scratch, seq 128, 20 predictions, batch 16, XLA, one replica. Data: create_pretraining_data
on 12 of the 13 Gutenberg books in ../shared/data (dupe factor 3); evaluation on the 13th
(chesterton-thursday), held out: the first EVAL_BATCHES x 32 of its sequences.

`train` runs every (optimizer, learning rate) of RUNS for STEPS steps, evaluating every
EVAL_EVERY steps (a checkpoint each time, so a run stopped by the budget resumes exactly).
Schedules: AdamW and LAMB as Google's (10% warmup, linear decay to 0 over the run, weight decay
0.01); THOR as the BERT-THOR recipe (no warmup, lr power 2 and damping power 4 over ten times
the run, stopped at the run's end as the recipe stops at 3,000 of 30,000 steps; damping 0.007035
-> 1e-6, momentum 0.9, frequency 100, split_dim 128, weight decay 0). Step times are the
runner's own (`global_step/sec` of log.jsonl), from the loops after the first of each process
(which includes tracing and compiling).

The machine is shared: run each command under the heavy-job lock, `train` in chunks of at most
~20 minutes (`--budget_minutes`).
"""

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import machine  # bench/machine.py, beside this script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")
BOOKS = os.path.join(DATA, "pretrain_text", "gutenberg_nltk")
HELD_OUT = "chesterton-thursday.txt"
VOCAB = os.path.join(DATA, "bert_google", "uncased_L-12_H-768_A-12", "vocab.txt")
SEQ, PRED, BATCH, STEPS, EVAL_EVERY, EVAL_BATCHES = 128, 20, 16, 2000, 100, 16
THOR_SCHEDULE_SPAN = 10  # THOR's schedules span 10x the run (the recipe: 30,000 vs 3,000 steps)
# interleaved, so that a budget that stops the sweep early leaves every optimizer measured
RUNS = [("thor", 0.1), ("adamw", 1e-3), ("lamb", 5e-3),
        ("thor", 0.02), ("adamw", 5e-4), ("lamb", 1e-2),
        ("thor", 0.005), ("thor-d1e-07", 0.02), ("adamw", 2e-3), ("lamb", 2e-3), ("thor", 0.05)]
# "thor-dX": THOR with damping X instead of the recipe's (its end value scaled alike)


def run_name(kind, lr):
    return f"{kind}_lr{lr:g}"


# ---------------------------------------------------------------------- data
def prepare(work):
    from bert_tf.data import pretraining_job
    os.makedirs(work, exist_ok=True)
    books = sorted(glob.glob(os.path.join(BOOKS, "*.txt")))
    train = [b for b in books if not b.endswith(HELD_OUT)]
    for name, inputs, shards, dupe in (("train", train, 4, 3), ("eval", [os.path.join(BOOKS, HELD_OUT)], 1, 1)):
        outputs = [os.path.join(work, f"{name}-{i}.tfrecord") for i in range(shards)]
        if all(os.path.exists(o) for o in outputs):
            continue
        summary = pretraining_job.run(pretraining_job.JobOptions(
            input_files=inputs, vocab_file=VOCAB, output_files=outputs, max_seq_length=SEQ,
            max_predictions_per_seq=PRED, dupe_factor=dupe, mode="parallel", num_workers=2))
        print(name, summary, flush=True)


def model_config():
    from bert_tf.config import preset
    return preset("tiny", vocab_size=30522, max_position_embeddings=SEQ)


def train_params(kind, lr, steps=STEPS):
    from bert_tf import optimization
    from bert_tf.estimator.estimator import TrainParams
    if kind.startswith("thor"):
        from bert_tf.thor import ThorConfig
        thor = ThorConfig(global_batch_size=BATCH)
        if "-d" in kind:  # another damping, the schedule's end value in the recipe's proportion
            damping = float(kind.split("-d", 1)[1])
            thor = ThorConfig(global_batch_size=BATCH, damping=damping,
                              damping_end=damping * thor.damping_end / thor.damping)
        opt = optimization.OptimizerConfig(
            optimizer_type="thor", learning_rate=lr, end_learning_rate=1e-6, decay_power=2.0,
            num_train_steps=THOR_SCHEDULE_SPAN * steps, num_warmup_steps=0, weight_decay_rate=0.0,
            clip_norm=0.0, thor=thor)
    else:
        opt = optimization.OptimizerConfig(optimizer_type=kind, learning_rate=lr, num_train_steps=steps,
                                           num_warmup_steps=steps // 10)
    return {"global_batch_size": BATCH, "train": TrainParams(opt.validate())}


def estimator(model_dir, kind, lr, ipl=EVAL_EVERY):
    from bert_tf.distribute.local import LocalStrategy
    from bert_tf.estimator import Estimator, RunConfig
    from bert_tf.tasks.pretraining import PretrainingTask
    never = 10 ** 9
    config = RunConfig(model_dir, iterations_per_loop=ipl, save_checkpoints_steps=EVAL_EVERY,
                       keep_checkpoint_max=1, log_every_n_steps=1, save_summary_steps=never)
    return Estimator(PretrainingTask(model_config(), SEQ, PRED), config, train_params(kind, lr),
                     LocalStrategy("cpu", jit_compile=True))


# ---------------------------------------------------------------------- convergence
def train_runs(work, budget_minutes):
    from bert_tf import input_pipeline
    from bert_tf.distribute.strategy import InputContext
    deadline = time.time() + budget_minutes * 60
    train_files = sorted(glob.glob(os.path.join(work, "train-*.tfrecord")))
    eval_files = sorted(glob.glob(os.path.join(work, "eval-*.tfrecord")))
    train_fn = input_pipeline.pretraining_input_fn(train_files, SEQ, PRED, BATCH, is_training=True)
    eval_batches = list(input_pipeline.pretraining_input_fn(eval_files, SEQ, PRED, 32, is_training=False)(
        None, InputContext(0, 1)).take(EVAL_BATCHES))
    for kind, lr in RUNS:
        model_dir = os.path.join(work, "runs", run_name(kind, lr))
        evals = os.path.join(model_dir, "evals.jsonl")
        done = _read_jsonl(evals)
        if done and done[-1]["step"] >= STEPS:
            continue
        if time.time() > deadline:
            print("budget spent; rerun to go on", flush=True)
            return
        est = estimator(model_dir, kind, lr)
        evaluate = evaluator(est, eval_batches)
        first_loop = True
        while True:
            step = int(est.global_step) if est._optimizer else _latest_step(model_dir)
            if step >= STEPS or time.time() > deadline:
                break
            if step == 0 and not done:
                _append(evals, dict(step=0, **evaluate(), steps_per_sec=None, compiled=False))
            est.train(train_fn, step + EVAL_EVERY)
            rate = _read_jsonl(os.path.join(model_dir, "log.jsonl"))[-1]["global_step/sec"]
            record = dict(step=int(est.global_step), **evaluate(), steps_per_sec=rate,
                          compiled=first_loop)
            _append(evals, record)
            print(run_name(kind, lr), json.dumps(record), flush=True)
            first_loop = False
        if time.time() > deadline:
            print("budget spent; rerun to go on", flush=True)
            return
    print("all done", flush=True)


def evaluator(est, batches):
    """() -> held-out masked-LM accuracy and loss of the model's current weights: one compiled
    function for every evaluation (Estimator.evaluate would compile one per call), the same
    metrics as run_pretraining.py's evaluation."""
    import tensorflow as tf

    from bert_tf.estimator import EVAL

    @tf.function(jit_compile=True)
    def metrics(features):
        return est.task.model_fn(est.model, features, EVAL, est.params).metrics

    def evaluate():
        sums = {}
        for features in batches:
            for key, (total, count) in metrics(features).items():
                t, c = sums.get(key, (0.0, 0.0))
                sums[key] = (t + float(total), c + float(count))
        return {"accuracy": sums["masked_lm_accuracy"][0] / sums["masked_lm_accuracy"][1],
                "mlm_loss": sums["masked_lm_loss"][0] / sums["masked_lm_loss"][1]}
    return evaluate


def _latest_step(model_dir):
    import tensorflow as tf
    path = tf.train.latest_checkpoint(model_dir)
    return int(path.rsplit("-", 1)[1]) if path else 0


def _read_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _append(path, record):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


# ---------------------------------------------------------------------- THOR's cost per step
def features():
    """One synthetic pretraining batch of the benchmark's shape (bench_pretraining's)."""
    from bench_pretraining import batch  # after main() has put --tree's bert_tf first
    return batch(model_config(), SEQ, PRED, BATCH)


def step_seconds(est, batch, first_step, calls):
    """Seconds per call of the compiled one-replica step, the global step set to `first_step`
    before the calls (THOR: a multiple of the frequency makes the first call a factor step)."""
    est.global_step.assign(first_step)
    start = time.perf_counter()
    for _ in range(calls):
        logs = est._fused_step(batch, est.loss_scale)
    logs["total_loss"].numpy()
    return (time.perf_counter() - start) / calls


def cost(rounds, calls):
    """Per-step seconds, medians of interleaved rounds: AdamW, LAMB, THOR's ordinary step, THOR's
    factor step; THOR at frequency 100 = (99 ordinary + 1 factor) / 100."""
    import tensorflow as tf
    batch = features()
    with tempfile.TemporaryDirectory() as tmp:
        models = {kind: estimator(os.path.join(tmp, kind), kind, 1e-4) for kind in ("adamw", "lamb", "thor")}
        for est in models.values():
            est._build_training()
            step_seconds(est, batch, 0, 2)  # trace and compile (THOR: both branches)
        times = {"adamw": [], "lamb": [], "thor_ordinary": [], "thor_factor": []}
        for _ in range(rounds):
            times["adamw"].append(step_seconds(models["adamw"], batch, 1, calls))
            times["thor_ordinary"].append(step_seconds(models["thor"], batch, 1, calls))
            times["thor_factor"].append(statistics.median(
                step_seconds(models["thor"], batch, 100, 1) for _ in range(5)))
            times["lamb"].append(step_seconds(models["lamb"], batch, 1, calls))
        del tf
    med = {k: statistics.median(v) for k, v in times.items()}
    amortized = (99 * med["thor_ordinary"] + med["thor_factor"]) / 100
    print(f"tiny, seq {SEQ}, batch {BATCH}, XLA, {machine.describe()}; ms per step, median of "
          f"{rounds} interleaved rounds of {calls} steps (factor step: median of 5 per round)")
    for k, v in med.items():
        print(f"  {k:14s} {1000 * v:8.1f} ms   x{v / med['adamw']:.3f} vs AdamW")
    print(f"  THOR, frequency 100: {1000 * amortized:8.1f} ms per step, "
          f"{amortized / med['adamw'] - 1:+.1%} vs AdamW, {amortized / med['lamb'] - 1:+.1%} vs LAMB")
    print("  per round:", json.dumps({k: [round(1000 * x, 1) for x in v] for k, v in times.items()}))


# ---------------------------------------------------------------------- the capture's cost
def graph_fingerprint():
    """{optimizer: hash of the traced one-replica step's graph} for AdamW and LAMB, names with
    numeric suffixes normalized, nodes sorted: equal hashes = the same graph."""
    import hashlib
    import re

    import tensorflow as tf
    batch = features()
    spec = {k: tf.TensorSpec(v.shape, v.dtype) for k, v in batch.items()}
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("adamw", "lamb"):
            est = estimator(os.path.join(tmp, kind), kind, 1e-4)
            est._build_training()
            graph = est._fused_step.get_concrete_function(spec, est.loss_scale).graph.as_graph_def()
            text = [str(n) for n in graph.node] + [str(f) for f in graph.library.function]
            lines = sorted(re.sub(r"_\d{2,}", "_N", "\n".join(text)).split("\n"))
            out[kind] = hashlib.sha1("\n".join(lines).encode()).hexdigest()[:16]
            out[kind + "_nodes"] = len(graph.node) + sum(len(f.node_def) for f in graph.library.function)
    return out


def capture_child(calls):
    """In a child process of either tree: the fingerprint and AdamW/LAMB step times."""
    batch = features()
    out = graph_fingerprint()
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("adamw", "lamb"):
            est = estimator(os.path.join(tmp, kind), kind, 1e-4)
            est._build_training()
            step_seconds(est, batch, 0, 2)
            out[kind + "_ms"] = 1000 * step_seconds(est, batch, 1, calls)
    print("RESULT " + json.dumps(out), flush=True)


def capture(baseline_tree, rounds, calls):
    """This tree against `baseline_tree` (main before THOR), alternating processes."""
    results = {"this": [], "baseline": []}
    for _ in range(rounds):
        for name, tree in (("baseline", baseline_tree), ("this", ROOT)):
            env = dict(os.environ, PYTHONPATH=tree, TF_CPP_MIN_LOG_LEVEL="2")
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "capture_child", "--calls",
                                  str(calls), "--tree", tree], capture_output=True, text=True, env=env)
            line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
            if not line:
                raise SystemExit(out.stderr[-3000:])
            results[name].append(json.loads(line[0][7:]))
    for name, rows in results.items():
        print(name, json.dumps(rows[0] | {"adamw_ms": [round(r["adamw_ms"], 1) for r in rows],
                                          "lamb_ms": [round(r["lamb_ms"], 1) for r in rows]}))
    for kind in ("adamw", "lamb"):
        same = results["this"][0][kind] == results["baseline"][0][kind]
        ratios = [t[kind + "_ms"] / b[kind + "_ms"] for t, b in zip(results["this"], results["baseline"])]
        print(f"{kind}: graph {'identical' if same else 'DIFFERENT'}; step time this/baseline per round "
              f"{', '.join(f'{r:.3f}' for r in ratios)} (median {statistics.median(ratios):.3f})")


# ---------------------------------------------------------------------- report
def report(work):
    runs = {}
    for kind, lr in RUNS:
        evals = _read_jsonl(os.path.join(work, "runs", run_name(kind, lr), "evals.jsonl"))
        if evals:
            runs[kind, lr] = evals
    print("final masked-LM accuracy (held-out) by learning rate, and steady ms/step:")
    best = {}
    for (kind, lr), evals in runs.items():
        rates = [e["steps_per_sec"] for e in evals if e["steps_per_sec"] and not e["compiled"]]
        ms = 1000 / statistics.median(rates) if rates else float("nan")
        print(f"  {run_name(kind, lr):16s} step {evals[-1]['step']:5d}  accuracy {evals[-1]['accuracy']:.4f}"
              f"  best {max(e['accuracy'] for e in evals):.4f}  mlm loss {evals[-1]['mlm_loss']:.3f}  {ms:6.1f} ms/step")
        if evals[-1]["step"] >= STEPS and (kind not in best or evals[-1]["accuracy"] > best[kind][1][-1]["accuracy"]):
            best[kind] = (lr, evals, ms)
    if len(best) < 3:
        return
    first_order = max(best["adamw"][1][-1]["accuracy"], best["lamb"][1][-1]["accuracy"])
    targets = sorted({round(first_order, 3), 0.10, 0.15, round(0.9 * first_order, 3)})
    print("\nbest learning rate of each; steps and training time (steady ms/step x steps) to a "
          "held-out masked-LM accuracy (first evaluation at or above it, every 100 steps):")
    for target in targets:
        cells = []
        for kind, (lr, evals, ms) in best.items():
            hit = next((e["step"] for e in evals if e["accuracy"] >= target), None)
            cells.append(f"{kind} {hit if hit is not None else '-':>5} steps "
                         f"{'%7.1f s' % (hit * ms / 1000) if hit else '      -  '}")
        print(f"  accuracy {target:.3f}: " + " | ".join(cells))
    print("\naccuracy at equal steps:")
    for step in (250, 500, 1000, 1500, 2000):
        cells = [f"{kind} {next((e['accuracy'] for e in evals if e['step'] == step), float('nan')):.4f}"
                 for kind, (lr, evals, ms) in best.items()]
        print(f"  step {step:5d}: " + " | ".join(cells))
    print("\naccuracy at equal training time (the last evaluation within the time):")
    slowest = max(ms for _, _, ms in best.values())
    for seconds in (slowest * s / 1000 for s in (500, 1000, 2000)):
        cells = []
        for kind, (lr, evals, ms) in best.items():
            within = [e for e in evals if e["step"] * ms / 1000 <= seconds]
            cells.append(f"{kind} {within[-1]['accuracy']:.4f} (step {within[-1]['step']})")
        print(f"  {seconds:7.1f} s: " + " | ".join(cells))


def factors(work, run):
    """Why THOR preconditions what it does: each stored factor's eigenvalues (a table's A: its
    diagonal) against sqrt(damping) at the run's last factor step. A factor whose eigenvalues
    are all far below sqrt(damping) inverts to about I / sqrt(damping): a constant, no
    curvature."""
    import numpy as np
    import tensorflow as tf
    path = tf.train.latest_checkpoint(os.path.join(work, "runs", run))
    reader = tf.train.load_checkpoint(path)
    step = int(path.rsplit("-", 1)[1])
    t = __import__("bert_tf.thor", fromlist=["ThorConfig"]).ThorConfig()
    fraction = min(step, THOR_SCHEDULE_SPAN * STEPS) / (THOR_SCHEDULE_SPAN * STEPS)
    shift = np.sqrt((t.damping - t.damping_end) * (1 - fraction) ** t.damping_power + t.damping_end)
    print(f"{path}: sqrt(damping) at step {step} = {shift:.4f}")
    print("| factor | layer | median eigenvalue | largest | share below sqrt(damping) |")
    print("| --- | --- | --- | --- | --- |")
    for name in sorted(n for n in reader.get_variable_to_shape_map() if "_factors/" in n):
        value = reader.get_tensor(name)
        eigs = value if value.ndim == 1 else np.concatenate([np.linalg.eigvalsh(b) for b in value])
        layer = name.split("/")[2].replace(".S", "/").split("/.ATTRIBUTES")[0]
        print(f"| {name.split('/')[1][0].upper()} | {layer} | {np.median(eigs):.3g} | {eigs.max():.3g} | "
              f"{np.mean(eigs < shift):.1%} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("part", choices=["prepare", "train", "cost", "capture", "capture_child", "report",
                                         "factors"])
    parser.add_argument("--run", default="thor_lr0.02", help="factors: the run folder's name")
    parser.add_argument("--work_dir", default=os.path.join(tempfile.gettempdir(), "bench_thor"))
    parser.add_argument("--budget_minutes", type=float, default=18.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--baseline_tree", help="capture: a checkout of the commit before THOR")
    parser.add_argument("--tree", default=ROOT)
    args = parser.parse_args()
    sys.path.insert(0, args.tree)
    import bert_tf  # noqa: F401  (first: environment for TensorFlow)
    if args.part == "prepare":
        prepare(args.work_dir)
    elif args.part == "train":
        train_runs(args.work_dir, args.budget_minutes)
    elif args.part == "cost":
        cost(args.rounds, args.calls)
    elif args.part == "capture":
        capture(args.baseline_tree, args.rounds, args.calls)
    elif args.part == "capture_child":
        capture_child(args.calls)
    elif args.part == "factors":
        factors(args.work_dir, args.run)
    else:
        report(args.work_dir)


if __name__ == "__main__":
    main()
