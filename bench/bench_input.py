"""The pretraining input pipeline alone: sequences per second it delivers (read, parse, batch,
prefetch; the training pipeline with its shuffles, as the runner builds it), per core count.

An accelerator must never wait for its input: NVIDIA's BERT-Large phase 1 consumes 3,799
sequences/s on a whole 8xA100 node, so the target is at least 4,000 sequences/s at seq 128 on
this 2-core machine. Records are made from real text (Gutenberg) by our own data job; each
setting runs in a subprocess pinned to N cores (`os.sched_setaffinity`), so the figures are
per core count.

  .venv/bin/python bench/bench_input.py [--batches 400] [--batch 256] [--cores 1,2]
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"
SETTINGS = ((128, 20), (512, 80))


def make_records(folder, seq, pred):
    from bert_tf.data import pretraining_job
    books = sorted((DATA / "pretrain_text" / "gutenberg_nltk").glob("*.txt"))[:6]
    outputs = [str(folder / f"seq{seq}-{i}.tfrecord") for i in range(4)]
    pretraining_job.run(pretraining_job.JobOptions(
        input_files=[str(b) for b in books], vocab_file=str(DATA / "bert_google/uncased_L-12_H-768_A-12/vocab.txt"),
        output_files=outputs, max_seq_length=seq, max_predictions_per_seq=pred, dupe_factor=1,
        mode="parallel", num_workers=2))
    return outputs


def measure(files, seq, pred, batch, batches):
    """In this process: sequences/s of `batches` training batches after a warm-up."""
    import bert_tf  # noqa: F401
    from bert_tf import input_pipeline
    from bert_tf.distribute.strategy import InputContext
    dataset = input_pipeline.pretraining_input_fn(files, seq, pred, batch, is_training=True)({}, InputContext())
    iterator = iter(dataset)
    for _ in range(20):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch / (time.perf_counter() - start)


def child(args):
    os.sched_setaffinity(0, set(range(args.child_cores)))
    rate = measure(args.files.split(","), args.seq, args.pred, args.batch, args.batches)
    print(json.dumps({"sequences_per_sec": rate}))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=400)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--cores", default="1,2")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child_cores", type=int)
    parser.add_argument("--files")
    parser.add_argument("--seq", type=int)
    parser.add_argument("--pred", type=int)
    args = parser.parse_args()
    if args.child_cores:
        return child(args)
    cores = [int(c) for c in args.cores.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        files = {s: make_records(pathlib.Path(tmp), *s) for s in SETTINGS}
        print(f"| seq / predictions | cores | sequences/s (median of {args.rounds}) | all rounds |")
        print("| --- | --- | --- | --- |")
        for seq, pred in SETTINGS:
            for n in cores:
                rates = []
                for _ in range(args.rounds):
                    out = subprocess.run(
                        [sys.executable, __file__, f"--child_cores={n}", f"--files={','.join(files[(seq, pred)])}",
                         f"--seq={seq}", f"--pred={pred}", f"--batch={args.batch}", f"--batches={args.batches}"],
                        capture_output=True, text=True, check=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
                    rates.append(json.loads(out.stdout.strip().splitlines()[-1])["sequences_per_sec"])
                rates.sort()
                print(f"| {seq} / {pred} | {n} | {rates[len(rates) // 2]:,.0f} | "
                      f"{', '.join(f'{r:,.0f}' for r in rates)} |", flush=True)


if __name__ == "__main__":
    main()
