"""run_squad.py as a user runs it: the real MiniLM-L6 learns SQuAD, the v2.0 files and null
threshold, --eval_script, --use_tfrecord feature reuse, and bad input."""

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, need

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
V2_KEYS = {"exact", "f1", "total", "HasAns_exact", "HasAns_f1", "HasAns_total", "NoAns_exact",
           "NoAns_f1", "NoAns_total", "best_exact", "best_exact_thresh", "best_f1", "best_f1_thresh"}


def run_squad(*args, timeout=600):
    return subprocess.run([sys.executable, str(ROOT / "run_squad.py"), *map(str, args)],
                          capture_output=True, text=True, env=ENV, timeout=timeout)


def ok(result):
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def model_args(bert_dir, output_dir, *extra):
    return [f"--vocab_file={bert_dir}/vocab.txt", f"--bert_config_file={bert_dir}/bert_config.json",
            f"--init_checkpoint={bert_dir}/bert_model.ckpt", f"--output_dir={output_dir}", *extra]


# Small windows for the micro model: fast runs.
TINY = ["--max_seq_length=128", "--doc_stride=48", "--max_query_length=32", "--train_batch_size=8",
        "--predict_batch_size=32", "--iterations_per_loop=2", "--save_checkpoints_steps=100"]


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# ---------------------------------------------------------------- the real MiniLM-L6 learns

def _slice(dataset, questions, max_context_chars):
    """About `questions` questions from paragraphs of at most max_context_chars characters,
    one paragraph of each article in turn (so every article contributes)."""
    articles = [dict(a, paragraphs=[p for p in a["paragraphs"] if len(p["context"]) <= max_context_chars])
                for a in dataset["data"]]
    picked, count, depth = [dict(a, paragraphs=[]) for a in articles], 0, 0
    while count < questions and any(depth < len(a["paragraphs"]) for a in articles):
        for article, out in zip(articles, picked):
            if depth < len(article["paragraphs"]) and count < questions:
                out["paragraphs"].append(article["paragraphs"][depth])
                count += len(article["paragraphs"][depth]["qas"])
        depth += 1
    return {"version": "1.1", "data": [a for a in picked if a["paragraphs"]]}, count


@pytest.fixture(scope="module")
def minilm_google(minilm_dir, tmp_path_factory):
    """The pretrained MiniLM-L6 converted to Google's TF1 layout by convert_checkpoint.py."""
    folder = tmp_path_factory.mktemp("minilm_google")
    result = subprocess.run([sys.executable, str(ROOT / "convert_checkpoint.py"), f"--hf_model_dir={minilm_dir}",
                             f"--tf1_checkpoint={folder}/bert_model.ckpt"],
                            capture_output=True, text=True, env=ENV, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return folder


def test_minilm_fine_tuned_on_squad_answers_unseen_articles(minilm_google, tmp_path):
    from bert_tf.data.squad_derive import split_articles
    dev = load(need("squad_v1.1/dev-v1.1.json"))
    first, last = split_articles(dev, 38)  # train on the first 38 articles, predict the last 10
    train, n_train = _slice(first, 400, 500)
    predict, n_predict = _slice(last, 200, 700)
    assert n_train >= 400 and n_predict >= 200
    for name, data in (("train.json", train), ("dev.json", predict)):
        (tmp_path / name).write_text(json.dumps(data), "utf-8")
    result = ok(run_squad(*model_args(
        minilm_google, tmp_path / "out", "--do_train", f"--train_file={tmp_path}/train.json",
        "--do_predict", f"--predict_file={tmp_path}/dev.json", "--max_seq_length=128",
        "--doc_stride=64", "--max_query_length=32", "--train_batch_size=8", "--learning_rate=1e-4",
        "--num_train_epochs=3", "--use_xla", "--iterations_per_loop=25", "--save_checkpoints_steps=1000")))
    scores = load(tmp_path / "out" / "eval_results.json")
    assert json.loads(result.stdout.strip().splitlines()[-1]) == scores
    predictions = load(tmp_path / "out" / "predictions.json")
    assert len(predictions) == n_predict
    # Measured: EM 5.5, F1 14.2 (docs/benchmarks.md, deterministic between runs); without
    # fine-tuning (random span head) EM 0.0, F1 9.0 on these questions: its long random spans
    # overlap the answers. 150 steps on 402 questions only start the learning.
    assert scores["f1"] > 12 and scores["exact_match"] > 2.5, scores


# ---------------------------------------------------------------- v2.0 with the micro model

@pytest.fixture(scope="module")
def v2_run(tiny_bert_dir, small_squad, tmp_path_factory):
    out = tmp_path_factory.mktemp("squad_v2")
    ok(run_squad(*model_args(tiny_bert_dir, out, "--do_train", f"--train_file={small_squad}/train-v2.0.json",
                             "--do_predict", f"--predict_file={small_squad}/dev-v2.0.json",
                             "--version_2_with_negative", "--num_train_steps=4", *TINY)))
    return out


def test_v2_writes_predictions_nbest_null_odds_and_v2_scores(v2_run, small_squad):
    questions = {qa["id"]: qa for a in load(small_squad / "dev-v2.0.json")["data"]
                 for p in a["paragraphs"] for qa in p["qas"]}
    predictions = load(v2_run / "predictions.json")
    nbest = load(v2_run / "nbest_predictions.json")
    null_odds = load(v2_run / "null_odds.json")
    assert set(predictions) == set(nbest) == set(null_odds) == set(questions)
    assert all(isinstance(v, float) for v in null_odds.values())
    assert all(entries and {"text", "probability", "start_logit", "end_logit"} <= set(entries[0])
               for entries in nbest.values())
    scores = load(v2_run / "eval_results.json")
    assert V2_KEYS <= set(scores), scores
    assert scores["HasAns_total"] + scores["NoAns_total"] == scores["total"] == len(questions)
    assert scores["NoAns_total"] == sum(qa["is_impossible"] for qa in questions.values()) > 0
    # The threshold 0.0 rule: empty exactly where the null score beats the best span.
    assert all((predictions[q] == "") == (null_odds[q] > 0.0) for q in questions)


def test_null_score_diff_threshold_moves_the_empty_answers(tiny_bert_dir, small_squad, tmp_path):
    counts = {}
    for threshold in ("1e9", "-1e9"):
        out = tmp_path / threshold
        ok(run_squad(*model_args(tiny_bert_dir, out, "--do_predict", f"--predict_file={small_squad}/dev-v2.0.json",
                                 "--version_2_with_negative", f"--null_score_diff_threshold={threshold}", *TINY)))
        predictions = load(out / "predictions.json")
        counts[threshold] = sum(text == "" for text in predictions.values()), len(predictions)
        assert V2_KEYS <= set(load(out / "eval_results.json"))
    assert counts["1e9"][0] == 0  # a huge threshold: always the best span
    assert counts["-1e9"][0] == counts["-1e9"][1]  # a very negative one: always no answer


# ---------------------------------------------------------------- --eval_script

def test_eval_script_output_becomes_eval_results(tiny_bert_dir, small_squad, tmp_path):
    script = tmp_path / "my_eval.py"
    script.write_text("import json, sys\n"
                      "data, predictions = sys.argv[1], json.load(open(sys.argv[2]))\n"
                      "print(json.dumps({'from_script': True, 'n': len(predictions), 'args': sys.argv[1:]}))\n")
    out = tmp_path / "out"
    predict = [f"--predict_file={small_squad}/dev-v1.1.json", f"--eval_script={script}"]
    result = ok(run_squad(*model_args(tiny_bert_dir, out, "--do_predict", *predict, *TINY)))
    scores = load(out / "eval_results.json")
    assert scores["from_script"] is True and scores["n"] == len(load(out / "predictions.json")) > 0
    assert scores["args"] == [f"{small_squad}/dev-v1.1.json", f"{out}/predictions.json"]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == scores

    script.write_text("print('no json here')\n")
    result = run_squad(*model_args(tiny_bert_dir, tmp_path / "out2", "--do_predict", *predict, *TINY))
    assert result.returncode == 2 and "did not print a JSON object" in result.stderr
    assert "Traceback" not in result.stderr

    script.write_text("#!/bin/sh\necho '{}'\n")  # a shell script, not Python
    result = run_squad(*model_args(tiny_bert_dir, tmp_path / "out3", "--do_predict", *predict, *TINY))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"--eval_script={script} is not a Python evaluation script (line 2: invalid syntax)" \
        in result.stderr


# ---------------------------------------------------------------- --use_tfrecord

def test_use_tfrecord_reuses_features_and_reconverts_when_settings_change(tiny_bert_dir, small_squad, tmp_path):
    records = tmp_path / "records"
    common = ["--do_train", "--use_tfrecord", f"--input_files_dir={records}", "--num_train_steps=2", *TINY]
    train_file = f"--train_file={small_squad}/train-v1.1.json"
    first = ok(run_squad(*model_args(tiny_bert_dir, tmp_path / "a", train_file, *common)))
    assert "reusing" not in first.stderr
    made = sorted(os.listdir(records))
    assert made, "no feature records written to --input_files_dir"

    again = ok(run_squad(*model_args(tiny_bert_dir, tmp_path / "b", *common)))  # no --train_file
    assert "reusing" in again.stderr
    assert sorted(os.listdir(records)) == made

    stride = ok(run_squad(*model_args(tiny_bert_dir, tmp_path / "c", train_file, *common, "--doc_stride=40")))
    assert "reusing" not in stride.stderr
    assert len(os.listdir(records)) > len(made)


# ---------------------------------------------------------------- bad input

def test_bad_input_exits_2_with_a_clear_message(tiny_bert_dir, small_squad, tmp_path):
    args = lambda *extra: model_args(tiny_bert_dir, tmp_path / "out", *TINY, *extra)  # noqa: E731
    not_json = tmp_path / "dev.json"
    not_json.write_text("{not json", "utf-8")
    cases = [
        (args("--do_predict"), "--do_predict needs --predict_file"),
        (args("--do_predict", f"--predict_file={not_json}"), str(not_json)),
        (args("--do_train", f"--train_file={small_squad}/train-v1.1.json", "--do_predict",
              f"--predict_file={not_json}"), "not JSON"),
        (args("--do_predict", f"--predict_file={small_squad}/dev-v1.1.json", "--doc_stride=200"), "--doc_stride"),
        (args(), "nothing to do"),
        (args("--do_train"), "--do_train needs --train_file"),
        (args("--do_predict", f"--predict_file={small_squad}/dev-v1.1.json", f"--vocab_file={tmp_path}/none.txt"),
         "none.txt"),
    ]
    for cmd, message in cases:
        result = run_squad(*cmd, timeout=120)
        assert result.returncode == 2, (cmd, result.stderr[-2000:])
        assert message in result.stderr and "Traceback" not in result.stderr, (cmd, result.stderr[-2000:])
