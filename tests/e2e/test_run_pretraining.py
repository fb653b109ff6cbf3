"""run_pretraining.py as a user runs it: kill -9 and resume, logs and eval files, bad input,
and the demo."""

import os
import random
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from bert_tf.config import preset
from bert_tf.data import pretraining_job
from conftest import ROOT, UNCASED_VOCAB, need

SEQ, PRED = 64, 10


@pytest.fixture(scope="module")
def setup_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrain")
    pretraining_job.run(pretraining_job.JobOptions(
        input_files=[str(need("pretrain_text/gutenberg_nltk/chesterton-brown.txt"))],
        vocab_file=str(need(UNCASED_VOCAB)), output_files=[str(root / "a.tfrecord"), str(root / "b.tfrecord")],
        max_seq_length=SEQ, max_predictions_per_seq=PRED, dupe_factor=1))
    preset("tiny", vocab_size=30522, max_position_embeddings=SEQ).to_json_file(root / "bert_config.json")
    return root


def command(root, model_dir, *extra):
    return [sys.executable, str(ROOT / "run_pretraining.py"), f"--bert_config_file={root}/bert_config.json",
            f"--input_file={root}/*.tfrecord", f"--output_dir={model_dir}", "--do_train",
            f"--max_seq_length={SEQ}", f"--max_predictions_per_seq={PRED}", "--train_batch_size=8",
            "--num_train_steps=40", "--num_warmup_steps=5", "--learning_rate=1e-3",
            "--iterations_per_loop=5", "--save_checkpoints_steps=10", "--display_loss_steps=5", *extra]


ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=600)


def final_weights(model_dir):
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(model_dir)))
    return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()
            if n.startswith(("variables/", "optimizer/", "rng/", "global_step"))}


def test_killed_and_resumed_run_ends_with_the_uninterrupted_weights(setup_dir, tmp_path):
    result = run(command(setup_dir, tmp_path / "straight"))
    assert result.returncode == 0, result.stderr[-3000:]
    cmd = command(setup_dir, tmp_path / "killed")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    deadline = time.time() + 300
    while not (tmp_path / "killed" / "model.ckpt-10.index").exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(random.Random().uniform(0.0, 1.0))  # any moment after the first checkpoint
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "killed" / "model.ckpt-40.index").exists()
    result = run(cmd)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resumed from" in result.stderr
    a, b = final_weights(tmp_path / "straight"), final_weights(tmp_path / "killed")
    assert a.keys() == b.keys() and any(k.startswith("optimizer/") for k in a)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    log = (tmp_path / "straight" / "log.jsonl").read_text().splitlines()
    assert '"masked_lm_loss"' in log[-1] and '"sentences/sec"' in log[-1] and '"global_step": 40' in log[-1]
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(tmp_path / "straight"))


def test_eval_writes_results(setup_dir, tmp_path):
    result = run(command(setup_dir, tmp_path / "m", "--num_train_steps=5", "--do_eval", "--max_eval_steps=3"))
    assert result.returncode == 0, result.stderr[-3000:]
    text = (tmp_path / "m" / "eval_results.txt").read_text()
    for key in ("masked_lm_accuracy", "masked_lm_loss", "next_sentence_accuracy", "next_sentence_loss", "global_step = 5"):
        assert key in text
    for line in ("global_step =", "masked_lm_loss =", "next_sentence_loss =", "total_loss =",
                 "loss_scale =", "learning_rate =", "global_step/sec =", "sentences/sec ="):
        assert line in result.stderr


def test_bad_input_is_a_clear_error(setup_dir, tmp_path):
    corrupt = tmp_path / "corrupt.tfrecord"
    data = (setup_dir / "a.tfrecord").read_bytes()
    corrupt.write_bytes(data[:5000] + b"\xff" * 64 + data[5064:])
    empty = tmp_path / "empty.tfrecord"
    empty.write_bytes(b"")
    other_config = tmp_path / "bert_config.json"
    preset("micro", vocab_size=30522, max_position_embeddings=SEQ).to_json_file(other_config)
    prefix = tmp_path / "init" / "bert_model.ckpt"
    from bert_tf import checkpoints
    from bert_tf.heads import BertPretrainingModel
    checkpoints.save_tf1(BertPretrainingModel(preset("micro", vocab_size=30522, max_position_embeddings=SEQ)).build_for(), str(prefix))
    model = tmp_path / "model"
    cases = [
        (["--input_file=/nonexistent/*.tfrecord"], "nothing matches"),
        ([f"--input_file={empty}"], "the file is empty"),
        (["--max_seq_length=32"], "input_ids has length 64 but --max_seq_length=32"),
        (["--use_v2_feature_names"], "lacks input_word_ids"),
        ([f"--input_file={corrupt}", "--num_train_steps=200"], "corrupted input record"),
        (["--iterations_per_loop=0"], "--iterations_per_loop=0 must be at least 1"),
        (["--num_accumulation_steps=3"], "not divisible by --num_accumulation_steps=3"),
        ([f"--init_checkpoint={prefix}"], "shape (30522, 32) in the checkpoint but (30522, 128)"),
    ]
    for extra, message in cases:
        result = run(command(setup_dir, model, *extra))
        assert result.returncode == 2, (extra, result.stderr[-3000:])
        assert message in result.stderr, (message, result.stderr[-3000:])
    result = run(command(setup_dir, model, f"--bert_config_file={other_config}",
                         f"--init_checkpoint={prefix}", "--num_train_steps=2"))
    assert result.returncode == 0, result.stderr[-2000:]


def test_vocab_file_without_export_is_one_clear_line(setup_dir, tmp_path):
    result = run(command(setup_dir, tmp_path / "model", f"--vocab_file={tmp_path}/vocab.txt"))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "error: --vocab_file is copied beside --export_tf1_dir" in result.stderr
    assert not (tmp_path / "model").exists()


def test_demo_runs_end_to_end(tmp_path):
    env = dict(ENV, DEMO_DIR=str(tmp_path), DEMO_STEPS="100", DEMO_ROUNDS="2", PY=sys.executable)
    result = subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh")], capture_output=True, text=True,
                            env=env, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "after 100 steps: masked_lm_accuracy = 0." in result.stdout
    assert "chance:" in result.stdout


def test_thor_trains_and_every_checkpoint_is_evaluated(setup_dir, tmp_path):
    """--optimizer_type=thor through the script, in bf16; --eval_all_checkpoints writes
    MindSpore's pretrain_eval lines, one per kept checkpoint, oldest first."""
    model = tmp_path / "thor"
    result = run(command(setup_dir, model, "--optimizer_type=thor", "--precision=bf16", "--learning_rate=0.05",
                         "--num_warmup_steps=0", "--weight_decay_rate=0", "--num_train_steps=10",
                         "--thor_frequency=4", "--save_checkpoints_steps=5", "--do_eval",
                         "--eval_all_checkpoints", "--max_eval_steps=2"))
    assert result.returncode == 0, result.stderr[-3000:]
    lines = (model / "eval_all_checkpoints.txt").read_text().splitlines()
    assert [line.split()[1] for line in lines] == ["5", "10"], lines
    assert all(re.fullmatch(r"step: \d+ accuracy: [01]\.\d{8}", line) for line in lines), lines
    assert "global_step = 10" in (model / "eval_results.txt").read_text()
    names = [name for name, _ in tf.train.list_variables(tf.train.latest_checkpoint(str(model)))]
    for kind in ("momentum", "a_factors", "g_factors", "a_inverses", "g_inverses"):
        assert any(name.startswith(f"optimizer/{kind}/") for name in names), kind


def test_thor_bad_flags_are_clear_errors(setup_dir, tmp_path):
    cases = [(["--optimizer_type=thor", "--thor_frequency=1"], "--thor_frequency=1 must be at least 2"),
             (["--optimizer_type=thor", "--thor_damping=0"], "--thor_damping=0.0 must be positive"),
             (["--optimizer_type=thor", "--thor_split_dim=0"], "--thor_split_dim=0 must be at least 1"),
             (["--optimizer_type=thor", "--adam_epsilon=1e-4"], "--adam_epsilon applies to adamw and lamb"),
             (["--momentum=0.5"], "--momentum applies to --optimizer_type=thor only")]
    for extra, message in cases:
        result = run(command(setup_dir, tmp_path / "model", *extra))
        assert result.returncode == 2, (extra, result.stderr[-3000:])
        last = result.stderr.strip().splitlines()[-1]
        assert message in last and "Traceback" not in result.stderr, (message, result.stderr[-3000:])
    # the fine-tuning scripts share the flags and their rules
    result = run([sys.executable, str(ROOT / "run_classifier.py"), "--task_name=mrpc", "--thor_frequency=5"])
    assert result.returncode == 2 and "--thor_frequency applies to --optimizer_type=thor only" in result.stderr
