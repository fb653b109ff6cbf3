"""convert_checkpoint.py as a user runs it: HF -> Google TF1 -> HF, and its error messages."""

import json
import os
import subprocess
import sys

import numpy as np

from conftest import ROOT


def run(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, str(ROOT / "convert_checkpoint.py"), *args],
                          capture_output=True, text=True, env=env, timeout=300)


def test_hf_to_tf1_writes_googles_layout_and_back(minilm_dir, tmp_path):
    prefix = tmp_path / "google" / "bert_model.ckpt"
    result = run(f"--hf_model_dir={minilm_dir}", f"--tf1_checkpoint={prefix}")
    assert result.returncode == 0, result.stderr
    names = sorted(os.listdir(prefix.parent))
    assert names == ["bert_config.json", "bert_model.ckpt.data-00000-of-00001",
                     "bert_model.ckpt.index", "checkpoint", "vocab.txt"]
    config = json.loads((prefix.parent / "bert_config.json").read_text())
    assert config["hidden_act"] == "gelu_exact" and config["hidden_size"] == 384
    import tensorflow as tf
    variables = dict(tf.train.list_variables(str(prefix)))
    assert variables["bert/encoder/layer_5/intermediate/dense/kernel"] == [384, 1536]
    assert len(variables) == 103

    back = tmp_path / "hf"
    result = run(f"--tf1_checkpoint={prefix}", f"--hf_output_dir={back}")
    assert result.returncode == 0, result.stderr
    from safetensors.numpy import load_file
    original, again = load_file(str(minilm_dir / "model.safetensors")), load_file(str(back / "model.safetensors"))
    for name, value in again.items():
        np.testing.assert_array_equal(value, original[name])


def test_bad_invocations_exit_nonzero_with_a_clear_message(tmp_path):
    result = run(f"--tf1_checkpoint={tmp_path}/x.ckpt")
    assert result.returncode == 2 and "exactly one of --hf_model_dir" in result.stderr
    result = run(f"--hf_model_dir={tmp_path}", f"--tf1_checkpoint={tmp_path}/x.ckpt")
    assert result.returncode == 2 and "config.json is missing" in result.stderr
    result = run(f"--tf1_checkpoint={tmp_path}/none.ckpt", f"--hf_output_dir={tmp_path}/out")
    assert result.returncode == 2 and "none.ckpt: no checkpoint there" in result.stderr
    assert "bert_config.json" not in result.stderr  # the checkpoint is what is missing
    assert not (tmp_path / "out").exists()
