"""--export_dir on a fine-tuning script: the trained model comes out as a SavedModel whose
serving signature gives the script's own predictions."""

import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

from conftest import ROOT, UNCASED_VOCAB, need


def test_run_classifier_exports_the_trained_model(tiny_bert_dir, tmp_path):
    mrpc = need("glue/MRPC")
    data = tmp_path / "MRPC"
    data.mkdir()
    for name in ("train.tsv", "dev.tsv"):
        lines = (mrpc / name).read_text("utf-8").splitlines(keepends=True)
        (data / name).write_text("".join(lines[:41]), "utf-8")
    export = tmp_path / "export"
    result = subprocess.run(
        [sys.executable, str(ROOT / "run_classifier.py"), "--task_name=MRPC", f"--data_dir={data}",
         f"--vocab_file={need(UNCASED_VOCAB)}", f"--bert_config_file={tiny_bert_dir}/bert_config.json",
         f"--init_checkpoint={tiny_bert_dir}/bert_model.ckpt", f"--output_dir={tmp_path}/out",
         "--do_train", "--do_eval", "--num_train_steps=4", "--train_batch_size=8", "--max_seq_length=32",
         "--iterations_per_loop=2", f"--export_dir={export}"],
        capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    serving = tf.saved_model.load(str(export)).signatures["serving_text"]
    out = serving(text_a=tf.constant(["He said the foodservice pie business doesn't fit."]),
                  text_b=tf.constant(["The foodservice pie business does not fit."]))
    probabilities = out["probabilities"].numpy()
    assert probabilities.shape == (1, 2)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-5)
