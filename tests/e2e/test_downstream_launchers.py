"""The shell launchers in scripts/: every one parses (`bash -n`), and
scripts/run_classifier.sh runs end to end on a tiny BERT in Google's release layout with its
paths and settings given by environment, as its header documents."""

import os
import subprocess
import sys

import pytest

from conftest import ROOT, need

SCRIPTS = sorted((ROOT / "scripts").glob("*.sh"))


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_script_parses(script):
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert os.access(script, os.X_OK), f"{script.name} is not executable"


def test_downstream_launchers_exist():
    names = {s.name for s in SCRIPTS}
    assert {"run_classifier.sh", "run_downstream_classifier.sh", "run_downstream_ner.sh"} <= names


def launch(script, env, *args):
    return subprocess.run([str(ROOT / "scripts" / script), *args], capture_output=True, text=True,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PY=sys.executable, **env), timeout=600)


def test_run_classifier_sh_fine_tunes_a_tiny_bert(tiny_bert_dir, tmp_path):
    bert = tiny_bert_dir
    assert {"vocab.txt", "bert_config.json", "bert_model.ckpt.index"} <= set(os.listdir(bert))
    glue = tmp_path / "glue"
    (glue / "MRPC").mkdir(parents=True)
    mrpc = need("glue/MRPC")
    for name, rows in (("train.tsv", 64), ("dev.tsv", 24), ("test.tsv", 10)):
        lines = (mrpc / name).read_text(encoding="utf-8-sig").splitlines(keepends=True)
        (glue / "MRPC" / name).write_text("".join(lines[:rows + 1]), encoding="utf-8")
    out = tmp_path / "out"
    result = launch("run_classifier.sh", dict(BERT_DIR=str(bert), GLUE_DIR=str(glue), OUTPUT_DIR=str(out),
                                              SEQ="32", BATCH="16", EPOCHS="1", LR="1e-4"),
                    "--iterations_per_loop=2")
    assert result.returncode == 0, result.stderr[-4000:]
    assert f"init from {bert}/bert_model.ckpt: 23 variables loaded" in result.stderr  # 1 layer, pooler
    results = dict(line.split(" = ") for line in (out / "eval_results.txt").read_text().splitlines())
    assert int(results["global_step"]) == 64 // 16 and "eval_accuracy" in results
    assert len((out / "test_results.tsv").read_text().splitlines()) == 10


@pytest.mark.parametrize("script, env, message", [
    ("run_classifier.sh", {}, "set BERT_DIR"),
    ("run_classifier.sh", {"BERT_DIR": "b"}, "set GLUE_DIR"),
    ("run_downstream_classifier.sh", {"BERT_DIR": "b"}, "set DATA_DIR"),
    ("run_downstream_classifier.sh", {"BERT_DIR": "b", "DATA_DIR": "d", "TASK": "MRPC"}, "TASK=MRPC: expected XNLI"),
    ("run_downstream_ner.sh", {"BERT_DIR": "b", "DATA_DIR": "d", "TASK": "ontonotes"}, "expected conll2003"),
])
def test_launchers_name_what_is_missing(script, env, message):
    clean = {k: v for k, v in os.environ.items() if k not in ("BERT_DIR", "GLUE_DIR", "DATA_DIR", "TASK")}
    result = subprocess.run([str(ROOT / "scripts" / script)], capture_output=True, text=True,
                            env=dict(clean, **env), timeout=60)
    assert result.returncode != 0 and message in result.stderr, result.stderr
