"""scripts/run_downstream_reading.sh: CMRC 2018 (Chinese, SQuAD format) through run_squad.py
with the Chinese vocab, as a user runs it (a random micro model, a slice of the real data)."""

import json
import os
import subprocess
import sys

from conftest import ROOT, need

CHINESE = "bert_google/chinese_L-12_H-768_A-12"


def test_cmrc2018_trains_predicts_and_scores(tmp_path):
    from bert_tf.checkpoints import save_tf1
    from bert_tf.config import preset
    from bert_tf.heads import BertModel
    bert_dir = tmp_path / "bert"
    bert_dir.mkdir()
    config = preset("micro", vocab_size=21128, max_position_embeddings=128)
    save_tf1(BertModel(config).build_for(), str(bert_dir / "bert_model.ckpt"), config,
             str(need(f"{CHINESE}/vocab.txt")))
    data = tmp_path / "data"
    data.mkdir()
    for name, source, articles in [("cmrc2018_train.json", "cmrc2018_trial.json", 3),
                                   ("cmrc2018_dev.json", "cmrc2018_dev.json", 2)]:
        full = json.loads(need(f"cmrc2018/{source}").read_text("utf-8"))
        (data / name).write_text(json.dumps(dict(full, data=full["data"][:articles]), ensure_ascii=False), "utf-8")
    env = dict(os.environ, BERT_DIR=str(bert_dir), DATA_DIR=str(data), OUTPUT_DIR=str(tmp_path / "out"),
               SEQ="128", STRIDE="48", EPOCHS="1", BATCH="8", ITERATIONS="5", PY=sys.executable,
               TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(["bash", str(ROOT / "scripts" / "run_downstream_reading.sh"),
                             "--max_query_length=32"], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    predictions = json.loads((tmp_path / "out" / "predictions.json").read_text("utf-8"))
    dev = json.loads((data / "cmrc2018_dev.json").read_text("utf-8"))
    assert set(predictions) == {qa["id"] for a in dev["data"] for p in a["paragraphs"] for qa in p["qas"]}
    contexts = [p["context"] for a in dev["data"] for p in a["paragraphs"]]
    assert all(any(text in c for c in contexts) for text in predictions.values())  # spans of the text
    assert set(json.loads((tmp_path / "out" / "eval_results.json").read_text())) == {"exact_match", "f1"}


def test_unknown_reading_task_is_refused(tmp_path):
    env = dict(os.environ, BERT_DIR=str(tmp_path), DATA_DIR=str(tmp_path), TASK="race")
    result = subprocess.run(["bash", str(ROOT / "scripts" / "run_downstream_reading.sh")],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2 and "TASK=race: known tasks are cmrc2018 and drcd" in result.stderr
