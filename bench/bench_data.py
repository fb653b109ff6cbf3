"""create_pretraining_data throughput and peak memory, side by side with Google's script.

  python bench/bench_data.py [--corpus DIR] [--dupe_factor 5]

Runs, one after another on the same corpus (Gutenberg, 5.9 MB, by default), uncased vocab,
max_seq_length 128, max_predictions_per_seq 20: Google's own script (bert-tensorflow 1.0.4,
`python -m bert.create_pretraining_data`), our reference mode, and our parallel mode with 2
workers; then parallel mode on the corpus repeated twice (with twice the shards) to show
that its memory does not grow with the corpus (`--long_line 3`: one 3 MB line instead,
Google's script and our reference mode). Peak memory is the largest sum of resident
memory over the whole process tree, sampled every 50 ms. Record the output in
docs/benchmarks.md.
"""

import argparse
import glob
import os
import subprocess
import sys
import tempfile
import time

import machine  # bench/machine.py, beside this script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")


def tree_rss(pid):
    """Resident bytes of a process and all its descendants (Linux /proc)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            pass
        stack.extend(children.get(p, []))
    return total


def run_measured(cmd, env):
    with tempfile.TemporaryFile("w+") as log:  # a file, not a pipe: a full pipe would block
        start, peak = time.time(), 0
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log, text=True)
        while proc.poll() is None:
            peak = max(peak, tree_rss(proc.pid))
            time.sleep(0.05)
        seconds = time.time() - start
        if proc.returncode != 0:
            log.seek(0)
            raise SystemExit(f"failed: {' '.join(cmd)}\n{log.read()[-3000:]}")
    return seconds, peak


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default=os.path.join(DATA, "pretrain_text", "gutenberg_nltk"))
    parser.add_argument("--vocab", default=os.path.join(DATA, "bert_google", "uncased_L-12_H-768_A-12", "vocab.txt"))
    parser.add_argument("--dupe_factor", type=int, default=5)
    parser.add_argument("--skip_google", action="store_true")
    parser.add_argument("--long_line", type=float, default=0,
                        help="instead: one line of this many MB made from the corpus (a text "
                             "without newlines), Google's script beside our reference mode")
    args = parser.parse_args()
    files = sorted(glob.glob(os.path.join(args.corpus, "*.txt")))
    mb = sum(os.path.getsize(f) for f in files) / 1e6
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_USE_LEGACY_KERAS="1")
    py = sys.executable
    common = [f"--vocab_file={args.vocab}", "--max_seq_length=128", "--max_predictions_per_seq=20",
              f"--dupe_factor={args.dupe_factor}"]
    with tempfile.TemporaryDirectory() as tmp:
        # Google's script reads through tf.io.gfile, which raises on bytes that are not
        # UTF-8 (one Gutenberg book has a few); every run gets the same cleaned copy.
        clean = []
        for f in files:
            clean.append(os.path.join(tmp, os.path.basename(f)))
            with open(f, "rb") as src, open(clean[-1], "w", encoding="utf-8") as dst:
                dst.write(src.read().decode("utf-8", "ignore"))
        files = clean
        if args.long_line:
            files, mb = [os.path.join(tmp, "one_line.txt")], args.long_line
            text = " ".join(open(f, encoding="utf-8").read() for f in clean).split()
            with open(files[0], "w", encoding="utf-8") as out:
                out.write(" ".join(text)[:int(mb * 1e6)] + "\n")
        doubled = os.path.join(tmp, "doubled.txt")
        with open(doubled, "wb") as out:
            for _ in range(2):
                for f in files:
                    with open(f, "rb") as src:
                        out.write(src.read() + b"\n\n")
        runs = []
        if not args.skip_google:
            runs.append(("Google create_pretraining_data.py", mb,
                         [py, "-m", "bert.create_pretraining_data", "--input_file=" + ",".join(files),
                          f"--output_file={tmp}/google.tfrecord", *common]))
        runs += [
            ("bert_tf --mode=reference", mb,
             [py, os.path.join(ROOT, "create_pretraining_data.py"), "--input_file=" + ",".join(files),
              f"--output_file={tmp}/ref.tfrecord", *common]),
            ("bert_tf --mode=parallel --num_workers=2", mb,
             [py, os.path.join(ROOT, "create_pretraining_data.py"), "--input_file=" + ",".join(files),
              f"--output_dir={tmp}/par", "--num_output_shards=8", "--mode=parallel", "--num_workers=2", *common]),
            ("bert_tf parallel, corpus x2, 16 shards", 2 * mb,
             [py, os.path.join(ROOT, "create_pretraining_data.py"), f"--input_file={doubled}",
              f"--output_dir={tmp}/par2", "--num_output_shards=16", "--mode=parallel", "--num_workers=2", *common]),
        ][:1 if args.long_line else None]
        print(f"corpus: {args.corpus} ({len(files)} files, {mb:.1f} MB); dupe_factor {args.dupe_factor}; "
              f"machine: {machine.describe()}")
        base = None
        for name, size, cmd in runs:
            seconds, peak = run_measured(cmd, env)
            base = base or (seconds, peak)
            print(f"{name:42s} {seconds:7.1f} s  {size / seconds:6.3f} MB/s  peak {peak / 2**20:6.0f} MiB"
                  f"   speed x{base[0] / seconds * size / mb:.1f}  memory {peak / base[1]:.2f}x", flush=True)


if __name__ == "__main__":
    main()
