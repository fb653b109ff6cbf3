"""Faults of a training run, through run_pretraining.py and run_squad.py as a user meets them:
a real SIGTERM (preemption) then a resume that ends bit-identical to an uninterrupted run,
a changed command in an existing output_dir, unfinished data files in --input_files_dir, a
record corrupted past the first ones, data made with another vocab, a zero batch, --horovod
without horovodrun, and a SQuAD file with nothing to train on."""

import json
import os
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

SEQ, PRED = 32, 5
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    (root / "records").mkdir()
    pretraining_job.run(pretraining_job.JobOptions(
        input_files=[str(need("pretrain_text/gutenberg_nltk/chesterton-brown.txt"))],
        vocab_file=str(need(UNCASED_VOCAB)),
        output_files=[str(root / "records" / "a.tfrecord"), str(root / "records" / "b.tfrecord")],
        max_seq_length=SEQ, max_predictions_per_seq=PRED, dupe_factor=1))
    preset("micro", vocab_size=30522, max_position_embeddings=SEQ).to_json_file(root / "bert_config.json")
    return root


def command(root, model_dir, *extra):
    return [sys.executable, str(ROOT / "run_pretraining.py"), f"--bert_config_file={root}/bert_config.json",
            f"--input_files_dir={root}/records", f"--output_dir={model_dir}", "--do_train",
            f"--max_seq_length={SEQ}", f"--max_predictions_per_seq={PRED}", "--train_batch_size=8",
            "--num_train_steps=60", "--num_warmup_steps=5", "--learning_rate=1e-3",
            "--iterations_per_loop=5", "--save_checkpoints_steps=20", "--display_loss_steps=5", *extra]


def run(cmd, timeout=600):
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=timeout)


def weights(model_dir):
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(model_dir)))
    return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()
            if n.startswith(("variables/", "optimizer/", "rng/", "global_step"))}


def test_sigterm_saves_and_stops_and_the_rerun_ends_bit_identical(data, tmp_path):
    straight = run(command(data, tmp_path / "straight"))
    assert straight.returncode == 0, straight.stderr[-3000:]
    model_dir = tmp_path / "preempted"
    proc = subprocess.Popen(command(data, model_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=ENV)
    deadline = time.time() + 300
    while not (model_dir / "log.jsonl").exists() and time.time() < deadline:  # training has started
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr[-3000:]
    stopped = [line for line in stderr.splitlines() if line.startswith("stopped by SIGTERM")]
    assert len(stopped) == 1 and "rerun the same command to resume" in stopped[0], stderr[-3000:]
    step = int(stopped[0].split("at global step ")[1].split(":")[0])
    assert 0 < step < 60 and f"model.ckpt-{step} is written" in stopped[0]
    assert "Traceback" not in stderr
    resumed = run(command(data, model_dir))
    assert resumed.returncode == 0 and f"resumed from {model_dir}/model.ckpt-{step}" in resumed.stderr
    a, b = weights(tmp_path / "straight"), weights(model_dir)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_a_changed_command_in_an_existing_output_dir(data, tmp_path):
    model_dir = tmp_path / "model"
    assert run(command(data, model_dir, "--num_train_steps=10")).returncode == 0
    for extra, flag in ((["--train_batch_size=4"], "--train_batch_size"),
                        ([f"--max_seq_length={SEQ * 2}"], None)):  # the data's shape is checked first
        result = run(command(data, model_dir, "--num_train_steps=20", *extra))
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
        if flag:
            assert f"{flag} differs from the run that wrote the checkpoints" in result.stderr
            assert "--init_checkpoint=" in result.stderr and "new --output_dir" in result.stderr
    later = run(command(data, model_dir, "--num_train_steps=20"))  # a later end: taken, and said so
    assert later.returncode == 0, later.stderr[-2000:]
    assert "num_train_steps changed since the checkpoint (10 -> 20)" in later.stderr
    other = tmp_path / "other"
    other.mkdir()
    os.symlink(data / "records" / "a.tfrecord", other / "a.tfrecord")
    moved = run(command(data, model_dir, "--num_train_steps=25", f"--input_files_dir={other}"))
    assert moved.returncode == 0, moved.stderr[-2000:]
    assert "input_files changed since the checkpoint" in moved.stderr
    assert json.loads((model_dir / "run_settings.json").read_text())["input_files"] == [str(other / "a.tfrecord")]


def test_unfinished_files_in_the_input_folder_are_not_taken(data, tmp_path):
    folder = tmp_path / "records"
    folder.mkdir()
    os.symlink(data / "records" / "a.tfrecord", folder / "a.tfrecord")
    (folder / "b.tfrecord.tmp4194302").write_bytes(b"half a record")  # a killed writer's (dead PID)
    os.utime(folder / "b.tfrecord.tmp4194302", (0, 0))
    result = run(command(data, tmp_path / "model", f"--input_files_dir={folder}", "--num_train_steps=5"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"training on 1 file(s): {folder}/a.tfrecord" in result.stderr
    assert not (folder / "b.tfrecord.tmp4194302").exists()  # stale: cleaned


def test_bad_training_input_is_one_line(data, tmp_path):
    late = tmp_path / "late"
    late.mkdir()
    raw = (data / "records" / "a.tfrecord").read_bytes()
    cut = len(raw) * 3 // 4  # past the first records: found while training
    (late / "a.tfrecord").write_bytes(raw[:cut] + b"\xff" * 32 + raw[cut + 32:])
    other_vocab = tmp_path / "small_config.json"
    preset("micro", vocab_size=1000, max_position_embeddings=SEQ).to_json_file(other_vocab)
    cases = [
        ([f"--input_files_dir={late}", "--num_train_steps=400", "--save_checkpoints_steps=1000"],
         f"{late}/a.tfrecord: corrupted input record"),
        ([f"--bert_config_file={other_vocab}"], "the model's vocab_size is 1000"),
        (["--train_batch_size=0"], "--train_batch_size=0 must be at least 1"),
    ]
    for extra, message in cases:
        result = run(command(data, tmp_path / "model", *extra))
        assert result.returncode == 2, (extra, result.stderr[-3000:])
        assert message in result.stderr and "Traceback" not in result.stderr, (message, result.stderr[-3000:])


def test_horovod_without_horovodrun_says_it_trains_as_one_worker(data, tmp_path):
    result = run(command(data, tmp_path / "model", "--horovod", "--num_train_steps=2"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--horovod without horovodrun (or mpirun): training as one worker" in result.stderr


def test_squad_file_with_nothing_to_train_on_stops_and_caches_nothing(tmp_path):
    vocab = need(UNCASED_VOCAB)
    preset("micro", vocab_size=30522, max_position_embeddings=64).to_json_file(tmp_path / "bert_config.json")
    empty = tmp_path / "train.json"
    empty.write_text(json.dumps({"version": "1.1", "data": [{"title": "x", "paragraphs": []}]}))
    out = tmp_path / "out"
    result = run([sys.executable, str(ROOT / "run_squad.py"), f"--vocab_file={vocab}",
                  f"--bert_config_file={tmp_path}/bert_config.json", f"--output_dir={out}", "--do_train",
                  f"--train_file={empty}", "--num_train_steps=5", "--max_seq_length=64", "--doc_stride=32",
                  "--max_query_length=16"], timeout=120)
    assert result.returncode == 2 and "no usable examples" in result.stderr, result.stderr[-2000:]
    assert not [p for p in os.listdir(out) if "tf_record" in p]
