"""Model throughput on this machine: forward and training-step sequences/s, FLOPs, % of peak.

  python bench/bench_model.py [--sizes base,minilm_l6] [--peer | --peer=model_garden [--rounds 3]]

For each size at batch 8, seq 128, 20 masked positions: our pretraining model's forward pass
and the runner's training step (`Estimator`'s compiled step: forward, backward, clipping,
our AdamW), XLA-compiled; the FLOPs per sequence of that step counted from the shapes; and
the fraction of this CPU's fp32 matmul peak (the faster of a 2048^3 matmul through XLA and
through TensorFlow's own kernel (oneDNN), measured in the same run; both are printed, and the
first line names the CPU, since the two differ on AVX-512 machines). With --peer,
HuggingFace's PyTorch BERT (bench/setup_bench_env.sh makes its environment) runs the same
shapes in the same run, and the ratio ours/peer is printed. With --peer=model_garden, TF
Model Garden's step (bench/model_garden_bert.py in the environment of
bench/setup_model_garden_env.sh) and ours alternate for --rounds rounds in one run, each
round with its own matmul peak; the peer stays up between rounds. The last line also sets our
best step against the highest peak read in the run: on a shared machine a round's peak can
read low (on a KVM Xeon it read 219 and 305 GFLOP/s in two rounds of one process), and then
that round's "% of peak" reads high. Without a peer, or with the PyTorch peer, the peak is
read before the sizes and again after them, and the last line sets each size's step against
the higher reading. Record the output in docs/benchmarks.md.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import bert_tf  # noqa: E402,F401  (turns on oneDNN before TensorFlow loads)
import machine  # noqa: E402  (bench/machine.py)
import numpy as np  # noqa: E402
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from bert_tf import optimization  # noqa: E402
from bert_tf.config import PRESETS, preset  # noqa: E402
from bert_tf.distribute.local import LocalStrategy  # noqa: E402
from bert_tf.heads import BertPretrainingModel, classification_loss, masked_lm_loss  # noqa: E402
from bert_tf.estimator import Estimator, RunConfig  # noqa: E402
from bert_tf.estimator.estimator import TrainParams  # noqa: E402
from bert_tf.tasks.pretraining import PretrainingTask  # noqa: E402

BATCH, SEQ, PREDICTIONS = 8, 128, 20
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def flops_per_sequence(config, seq=SEQ, predictions=PREDICTIONS):
    """Matmul FLOPs of one forward pass (x3 for a training step: forward + 2x backward)."""
    h, i, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    dense = 2 * seq * (4 * h * h + 2 * h * i)
    attention = 2 * 2 * seq * seq * h
    heads = 2 * predictions * (h * h + h * config.vocab_size) + 2 * h * h
    return layers * (dense + attention) + heads


def best_ms_per_call(parts, rounds, calls):
    """{name: best ms per call of parts[name]()}, after one call each to trace and compile;
    the parts interleaved round by round so the machine's drift hits them alike."""
    for run in parts.values():
        run()
    best = {name: float("inf") for name in parts}
    for _ in range(rounds):
        for name, run in parts.items():
            start = time.perf_counter()
            for _ in range(calls):
                tf.nest.map_structure(lambda t: t.numpy(), run())
            best[name] = min(best[name], (time.perf_counter() - start) / calls * 1e3)
    return best


def matmul_peaks(n=2048, steps=10):
    """{"XLA": GFLOP/s, "oneDNN": GFLOP/s} of an fp32 n^3 matmul through XLA and through
    TensorFlow's own kernel (oneDNN), best of 3 each. They differ where oneDNN uses a wider
    vector unit than XLA's dot (AVX-512 on Intel Xeons; alike on AVX2 machines)."""
    a, b = tf.random.normal([n, n]), tf.random.normal([n, n])
    peaks = {}
    for engine, f in (("XLA", tf.function(tf.matmul, jit_compile=True)), ("oneDNN", tf.function(tf.matmul))):
        peaks[engine] = 0.0
        for _ in range(3):
            f(a, b).numpy()
            start = time.perf_counter()
            for _ in range(steps):
                r = f(a, b)
            r.numpy()
            peaks[engine] = max(peaks[engine], 2 * n ** 3 * steps / (time.perf_counter() - start) / 1e9)
    return peaks


def matmul_peak(n=2048, steps=10):
    """GFLOP/s of the faster of XLA's and oneDNN's fp32 n^3 matmul (the "% of peak" base)."""
    return max(matmul_peaks(n, steps).values())


def peaks_text(peaks):
    """'XLA 219, oneDNN 285' (GFLOP/s)."""
    return ", ".join(f"{engine} {gflops:.0f}" for engine, gflops in peaks.items())


def synthetic_batch(config, batch=BATCH, seq=SEQ, predictions=PREDICTIONS):
    """Random pretraining features and labels (seeded), two segments of seq / 2."""
    rng = np.random.default_rng(0)
    features = {
        "input_ids": tf.constant(rng.integers(0, config.vocab_size, [batch, seq]), tf.int32),
        "input_mask": tf.ones([batch, seq], tf.int32),
        "segment_ids": tf.constant(np.repeat([[0] * (seq // 2) + [1] * (seq // 2)], batch, 0), tf.int32),
        "masked_lm_positions": tf.constant(rng.integers(1, seq, [batch, predictions]), tf.int32),
    }
    labels = (tf.constant(rng.integers(0, config.vocab_size, [batch, predictions]), tf.int32),
              tf.ones([batch, predictions]), tf.zeros([batch], tf.int32))
    return features, labels


def pretraining_step_fns(config, features, labels, jit_compile=True):
    """(forward, train): the pretraining model's forward pass and one training step (forward,
    backward, AdamW update) on a fixed batch, as tf.functions (not yet traced)."""
    model = BertPretrainingModel(config).build_for()
    optimizer = keras.optimizers.AdamW(1e-4, weight_decay=0.01, epsilon=1e-6)
    ids, weights, nsp = labels

    @tf.function(jit_compile=jit_compile)
    def forward():
        return model(features, training=False)["masked_lm_logits"]

    @tf.function(jit_compile=jit_compile)
    def train():
        with tf.GradientTape() as tape:
            out = model(features, training=True)
            loss = (masked_lm_loss(out["masked_lm_logits"], ids, weights)
                    + classification_loss(out["next_sentence_logits"], nsp))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return forward, train


def _batch(config):
    """synthetic_batch as the pretraining task's features (its labels among them)."""
    features, (ids, weights, nsp) = synthetic_batch(config)
    return dict(features, masked_lm_ids=ids, masked_lm_weights=weights,
                next_sentence_labels=tf.reshape(nsp, [-1, 1]))


class Ours:
    """Our forward pass and the runner's compiled training step on one in-memory batch."""

    def __init__(self, size, model_dir):
        config = preset(size)
        opt = optimization.OptimizerConfig(learning_rate=1e-4, num_train_steps=10 ** 9, num_warmup_steps=100)
        self.est = Estimator(PretrainingTask(config), RunConfig(model_dir), {"train": TrainParams(opt)},
                             LocalStrategy("cpu", jit_compile=True))
        self.est._build_training()
        self.features = _batch(config)
        model = self.est.model
        forward = tf.function(lambda: model(self.features, training=False)["masked_lm_logits"],
                              jit_compile=True)
        train = lambda: self.est._fused_step(self.features, self.est.loss_scale)["total_loss"]  # noqa: E731
        self.parts = {"forward": forward, "train": train}
        for fn in self.parts.values():
            fn().numpy()
        self.gflop_per_seq_train = 3 * flops_per_sequence(config) / 1e9

    def measure(self, steps, rounds=3):
        result = {}
        for name, fn in self.parts.items():
            best = 0.0
            for _ in range(rounds):
                start = time.perf_counter()
                for _ in range(steps):
                    r = fn()
                r.numpy()
                best = max(best, BATCH * steps / (time.perf_counter() - start))
            result[name] = best
        return result


def measure_ours(size, steps, rounds=3):
    with tempfile.TemporaryDirectory() as model_dir:
        ours = Ours(size, model_dir)
        return dict(ours.measure(steps, rounds), gflop_per_seq_train=ours.gflop_per_seq_train)


def measure_peer(size, steps, batch=BATCH, seq=SEQ, predictions=PREDICTIONS, head="pretraining",
                 train_batch=None):
    """HF PyTorch BERT's forward and training seq/s (bench/hf_torch_bert.py in .venv-bench)."""
    python = subprocess.run([os.path.join(ROOT, "bench", "setup_bench_env.sh")], check=True,
                            capture_output=True, text=True).stdout.strip().splitlines()[-1]
    out = subprocess.run([python, os.path.join(ROOT, "bench", "hf_torch_bert.py"), size,
                          str(batch), str(seq), str(predictions), str(steps), head,
                          str(train_batch or batch)],
                         check=True, capture_output=True, text=True,
                         env=dict(os.environ, OMP_NUM_THREADS=str(os.cpu_count())))
    return json.loads(out.stdout.strip().splitlines()[-1])


class ModelGardenPeer:
    """bench/model_garden_bert.py, kept running in its own environment between rounds."""

    def __init__(self, size, steps):
        python = subprocess.run([os.path.join(ROOT, "bench", "setup_model_garden_env.sh")], check=True,
                                capture_output=True, text=True).stdout.strip().splitlines()[-1]
        self.process = subprocess.Popen(
            [python, os.path.join(ROOT, "bench", "model_garden_bert.py"), size, str(BATCH), str(SEQ),
             str(PREDICTIONS), str(steps)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env=dict(os.environ, TF_ENABLE_ONEDNN_OPTS="1"))
        self.ready = self._answer()

    def _answer(self):
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"model_garden_bert.py ended (exit status {self.process.wait()})")
        return json.loads(line)

    def measure(self):
        self.process.stdin.write("measure\n")
        self.process.stdin.flush()
        return self._answer()

    def close(self):
        self.process.stdin.write("quit\n")
        self.process.stdin.close()
        self.process.wait()


def against_model_garden(size, rounds):
    """Alternating rounds: this round's matmul peak, ours (best of 3), Model Garden (best of 3
    in each of its modes); the ratio ours / Model Garden per round and over the run, and our
    best step against the run's highest peak."""
    steps = 3 if size in ("base", "large") else 8
    peer = ModelGardenPeer(size, steps)
    print(f"{size}: Model Garden on TF {peer.ready['tf']} (oneDNN on); {steps} steps per timing, "
          f"best of 3; {rounds} alternating rounds", flush=True)
    ratios, ours_all, peer_all, peaks_all, shares = [], [], [], [], []
    with tempfile.TemporaryDirectory() as model_dir:
        ours = Ours(size, model_dir)
        gflop = ours.gflop_per_seq_train
        for r in range(rounds):
            peaks = matmul_peaks()
            peak = max(peaks.values())
            mine = ours.measure(steps)["train"]
            theirs = peer.measure()
            ratio = mine / theirs["train"]
            ratios.append(ratio)
            peaks_all.append(peak)
            shares.append(mine * gflop / peak)  # of this round's peak
            ours_all.append(mine)
            peer_all.append(theirs["train"])
            print(f"round {r + 1}: matmul peak {peak:5.0f} GFLOP/s ({peaks_text(peaks)}) | bert_tf train "
                  f"{mine:5.2f} seq/s ({shares[-1]:5.1%} of peak) | Model Garden XLA {theirs['xla']:5.2f}, graph "
                  f"{theirs['graph']:5.2f} seq/s ({theirs['train'] * gflop / peak:5.1%} of peak) | "
                  f"ours/Model Garden {ratio:.3f}x", flush=True)
    peer.close()
    print(f"{size}: ours/Model Garden per round {min(ratios):.3f}-{max(ratios):.3f}x; ours best "
          f"{max(ours_all):.2f} seq/s = {max(ours_all) / statistics.median(peer_all):.2f}x Model Garden's "
          f"median, {max(ours_all) / max(peer_all):.2f}x its best", flush=True)
    print(f"{size}: % of peak per round {min(shares):.1%}-{max(shares):.1%}; ours best against "
          f"the run's highest peak ({max(peaks_all):.0f} GFLOP/s): {max(ours_all) * gflop / max(peaks_all):.1%}",
          flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="minilm_l6,base")
    parser.add_argument("--peer", nargs="?", const="hf_torch", choices=["hf_torch", "model_garden"],
                        help="also run a peer: HF PyTorch BERT (--peer) or TF Model Garden")
    parser.add_argument("--rounds", type=int, default=3, help="with --peer=model_garden")
    args = parser.parse_args()
    unknown = [size for size in args.sizes.split(",") if size not in PRESETS]
    if unknown:
        parser.error(f"--sizes: unknown preset {', '.join(map(repr, unknown))}; known: {', '.join(PRESETS)}")
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, not {args.rounds}")
    print(f"machine: {machine.describe()}; "
          f"TF {tf.__version__}, TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS')}")
    print(f"batch {BATCH}, seq {SEQ}, {PREDICTIONS} masked positions")
    if args.peer == "model_garden":
        for size in args.sizes.split(","):
            against_model_garden(size, args.rounds)
        return
    peaks = matmul_peaks()
    peak = max(peaks.values())
    print(f"fp32 matmul peak (2048^3, the faster of XLA and oneDNN): {peak:.0f} GFLOP/s ({peaks_text(peaks)}); "
          f"best of 3 rounds")
    step_gflops = []  # (size, GFLOP/s of our training step), in the order run
    for size in args.sizes.split(","):
        steps = 3 if size in ("base", "large") else 8
        ours = measure_ours(size, steps)
        gflop = ours["gflop_per_seq_train"]
        step_gflops.append((size, ours["train"] * gflop))
        line = (f"{size:10s} bert_tf   forward {ours['forward']:6.2f} seq/s   train "
                f"{ours['train']:6.2f} seq/s   {gflop:5.1f} GFLOP/seq (train)   "
                f"{ours['train'] * gflop / peak:5.1%} of peak")
        print(line, flush=True)
        if args.peer:
            peer = measure_peer(size, steps)
            print(f"{size:10s} {peer['peer']:9s} forward {peer['forward']:6.2f} seq/s   train "
                  f"{peer['train']:6.2f} seq/s   ratio ours/peer: forward "
                  f"{ours['forward'] / peer['forward']:.2f}x, train {ours['train'] / peer['train']:.2f}x",
                  flush=True)
    peaks_after = matmul_peaks()
    highest = max(peak, *peaks_after.values())
    print(f"matmul peak again after the sizes: {max(peaks_after.values()):.0f} GFLOP/s "
          f"({peaks_text(peaks_after)}); train against the run's highest peak ({highest:.0f} GFLOP/s): "
          + ", ".join(f"{size} {gflops / highest:.1%}" for size, gflops in step_gflops), flush=True)


if __name__ == "__main__":
    main()
