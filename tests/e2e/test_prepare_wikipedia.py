"""scripts/prepare_wikipedia.sh end to end: a real dump -> text shards -> phase 1 and phase 2
records, and run_pretraining.py trains on the phase 1 records (a tiny model, a few steps)."""

import json
import os
import subprocess
import sys

from bert_tf import records
from bert_tf.config import preset
from conftest import ROOT, UNCASED_VOCAB, need

TABLES = "wikipedia/enwiki-table-markup.xml.bz2"


def test_pipeline_records_train(tmp_path):
    out = tmp_path / "wiki"
    env = dict(os.environ, PY=sys.executable, DUMP=str(need(TABLES)), VOCAB=str(need(UNCASED_VOCAB)),
               OUT=str(out), WORKERS="2", TEXT_SHARDS="2", DUPE_FACTOR="1", TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(["bash", str(ROOT / "scripts" / "prepare_wikipedia.sh")], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    text = json.loads((out / "text" / "prepare_corpus_summary.json").read_text())
    assert text["documents"] == 5 and len(text["output_files"]) == 2
    for phase, seq, pred in ((1, 128, 20), (2, 512, 80)):
        folder = out / f"phase{phase}_seq{seq}"
        summary = json.loads((folder / "pretraining_data_summary.json").read_text())
        assert summary["max_seq_length"] == seq and summary["max_predictions_per_seq"] == pred
        assert summary["documents"] == 5 and summary["instances"] > 20
        example = records.read_examples(str(folder / "part-00000-of-00002.tfrecord"))[0]
        assert len(example["input_ids"]) == seq and len(example["masked_lm_ids"]) == pred

    preset("micro", vocab_size=30522, max_position_embeddings=128).to_json_file(tmp_path / "bert_config.json")
    model = tmp_path / "model"
    result = subprocess.run(
        [sys.executable, str(ROOT / "run_pretraining.py"),
         f"--bert_config_file={tmp_path / 'bert_config.json'}",
         f"--input_files_dir={out / 'phase1_seq128'}", f"--output_dir={model}", "--do_train",
         "--max_seq_length=128", "--max_predictions_per_seq=20", "--train_batch_size=8",
         "--num_train_steps=4", "--num_warmup_steps=1", "--learning_rate=1e-3", "--iterations_per_loop=2",
         "--save_checkpoints_steps=4", "--display_loss_steps=2"],
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    log = [json.loads(line) for line in (model / "log.jsonl").read_text().splitlines()]
    assert log[-1]["global_step"] == 4 and 0 < log[-1]["masked_lm_loss"] < 20
    assert (model / "model.ckpt-4.index").exists()
