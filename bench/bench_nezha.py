"""The cost of NEZHA's relative positions: NEZHA vs BERT of one size, side by side in one run.

  python bench/bench_nezha.py [--size base] [--rounds 3]    # time
  python bench/bench_nezha.py [--size base] --memory        # memory

For batch 8 x seq 128 and batch 2 x seq 512 (the same 1,024 tokens): the pretraining model's
forward pass and one training step (forward, backward, AdamW), XLA-compiled, for BERT,
NEZHA as shipped (the [seq, seq, head] table R computed once per forward pass and handed
to every layer) and NEZHA with R computed again inside every layer; best ms per call over
interleaved rounds, and the ratios to BERT. With --memory, each variant's training step at
seq 512 runs alone in a fresh process instead: with XLA, the bytes XLA's buffer assignment
plans for it (from an `--xla_dump_to` dump); without XLA (the scripts' default), the
process's peak resident memory. Record the output in docs/benchmarks.md.
"""

import argparse
import contextlib
import glob
import json
import os
import re
import resource
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bert_tf  # noqa: E402,F401  (turns on oneDNN before TensorFlow loads)
import machine  # noqa: E402  (bench/machine.py)
import tensorflow as tf  # noqa: E402

from bench_model import best_ms_per_call, pretraining_step_fns, synthetic_batch  # noqa: E402
from bert_tf import modeling  # noqa: E402
from bert_tf.config import preset  # noqa: E402

SHAPES = ((8, 128), (2, 512))  # (batch, seq): 1,024 tokens each
VARIANTS = ("bert", "nezha", "nezha_per_layer")


@contextlib.contextmanager
def table_per_layer():
    """While tracing: every SelfAttention builds R itself instead of using the encoder's."""
    original = modeling.SelfAttention.call

    def call(self, x, mask_adder, batch, seq, training=False, relative=None):
        if relative is not None:
            c = self.config
            relative = modeling.relative_position_encoding(seq, c.max_relative_position, c.head_size,
                                                           self.compute_dtype)
        return original(self, x, mask_adder, batch, seq, training=training, relative=relative)

    modeling.SelfAttention.call = call
    try:
        yield
    finally:
        modeling.SelfAttention.call = original


def config_for(size, variant):
    """The preset size (Chinese vocab); NEZHA differs only by its relative positions."""
    return preset(size, vocab_size=21128, use_relative_position=variant.startswith("nezha"))


def parts_for(size, variant, batch, seq, xla=True):
    """{"forward": fn, "train": fn}, each traced and compiled once (under the variant)."""
    config = config_for(size, variant)
    forward, train = pretraining_step_fns(config, *synthetic_batch(config, batch, seq), xla)
    with table_per_layer() if variant == "nezha_per_layer" else contextlib.nullcontext():
        forward().numpy()
        train().numpy()
    return {"forward": forward, "train": train}


def table_mib(size, seq, bytes_per_value=4):
    config = config_for(size, "nezha")
    return seq * seq * config.head_size * bytes_per_value / 2 ** 20


def train_step_memory_mib(size, variant, batch, seq, xla):
    """One variant's training step alone in a fresh process: XLA's planned bytes for the step
    (buffer assignment: arguments, outputs and temporaries) or, without XLA, peak RSS."""
    with tempfile.TemporaryDirectory() as dump:
        env = dict(os.environ, XLA_FLAGS=f"--xla_dump_to={dump}") if xla else os.environ
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--size", size, "--one",
                              f"{variant},{batch},{seq},{int(xla)}"], check=True, capture_output=True,
                             text=True, env=env)
        if not xla:
            return json.loads(out.stdout.strip().splitlines()[-1])["peak_rss_mib"]
        [report] = glob.glob(os.path.join(dump, "*inference_train_*buffer-assignment.txt"))
        with open(report) as f:
            return int(re.search(r"Total bytes used: (\d+)", f.read()).group(1)) / 2 ** 20


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="base")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # variant,batch,seq,xla: for --memory
    args = parser.parse_args()
    if args.one:
        variant, batch, seq, xla = args.one.split(",")
        parts_for(args.size, variant, int(batch), int(seq), bool(int(xla)))["train"]().numpy()
        print(json.dumps({"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
        return
    if args.memory:
        batch, seq = SHAPES[-1]
        print(f"size {args.size}, batch {batch}, seq {seq}: R is {table_mib(args.size, seq):.0f} MiB (fp32)")
        for xla, what in ((True, "XLA-planned bytes of the training step"),
                          (False, "peak RSS of the training step without XLA")):
            mib = {v: train_step_memory_mib(args.size, v, batch, seq, xla) for v in VARIANTS}
            print(f"  {what}: " + ", ".join(f"{v} {m:.0f} MiB ({m - mib['bert']:+.0f})"
                                            for v, m in mib.items()), flush=True)
        return
    print(f"machine: {machine.describe()}; "
          f"TF {tf.__version__}; size {args.size}, XLA, best of {args.rounds} interleaved rounds")
    for batch, seq in SHAPES:
        parts = {}
        for variant in VARIANTS:
            for name, fn in parts_for(args.size, variant, batch, seq).items():
                parts[f"{variant}/{name}"] = fn
        calls = 1 if seq > 128 else 2
        best = best_ms_per_call(parts, args.rounds, calls)
        print(f"batch {batch}, seq {seq}: R = [{seq}, {seq}, {config_for(args.size, 'nezha').head_size}] "
              f"is {table_mib(args.size, seq):.0f} MiB in fp32 ({table_mib(args.size, seq, 2):.0f} MiB "
              "in fp16/bf16)")
        for name in ("forward", "train"):
            base = best[f"bert/{name}"]
            line = "   ".join(f"{v} {best[f'{v}/{name}']:8.1f} ms ({best[f'{v}/{name}'] / base:.2f}x)"
                               for v in VARIANTS)
            print(f"  {name:8s} {line}", flush=True)


if __name__ == "__main__":
    main()
