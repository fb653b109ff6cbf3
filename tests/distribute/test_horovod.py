"""Horovod through real processes (`horovodrun -np 2` on localhost, Gloo and MPI): averaging is
real, pretraining runs distributed with only rank 0 writing, a killed worker stops the others
and the rerun resumes; plus the clear messages of the strategy's set-up."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from bert_tf.config import preset
from bert_tf.data import pretraining_job
from bert_tf.distribute import create_strategy
from bert_tf.distribute.strategy import InputContext
from bert_tf.errors import UserError
from conftest import ROOT, UNCASED_VOCAB, need, python_pid

HERE = pathlib.Path(__file__).resolve().parent
HOROVODRUN = str(pathlib.Path(sys.executable).parent / "horovodrun")
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
SEQ, PRED = 64, 10


def horovodrun(controller, *command, **kwargs):
    return [HOROVODRUN, "-np", "2", "-H", "localhost:2", f"--{controller}", sys.executable, *command]


def run(cmd, timeout=600):
    result = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=timeout)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return result


def test_two_workers_average_like_one_worker_with_twice_the_batch(tmp_path):
    need("pretrain_text/sample_text.txt")
    worker = str(HERE / "averaging_worker.py")
    run([sys.executable, worker, str(tmp_path), "--device=cpu", "--global_batch=8"])
    run(horovodrun("gloo", worker, str(tmp_path), "--device=horovod", "--global_batch=8"))
    one = np.load(tmp_path / "weights_pair_cpu_rank0.npz")
    rank0 = np.load(tmp_path / "weights_pair_horovod_rank0.npz")
    rank1 = np.load(tmp_path / "weights_pair_horovod_rank1.npz")
    assert len(one.files) > 10
    # the word embeddings' gradient travels as rows (tf.IndexedSlices, all-gathered)
    assert [(tmp_path / f"slices_pair_horovod_rank{r}.txt").read_text() for r in (0, 1)] == ["1", "1"]
    for name in one.files:
        np.testing.assert_array_equal(rank0[name], rank1[name], err_msg=name)
        np.testing.assert_allclose(rank0[name], one[name], atol=1e-5, err_msg=name)


def test_two_thor_workers_agree_and_with_averaged_factors_equal_one_with_twice_the_batch(tmp_path):
    """THOR: workers average their inverses (MindSpore's default) or their factors; either way
    they end with identical weights, and averaged factors are the whole batch's factors."""
    need("pretrain_text/sample_text.txt")
    worker = str(HERE / "averaging_worker.py")
    run([sys.executable, worker, str(tmp_path), "--device=cpu", "--global_batch=8", "--thor_average=factors"])
    run(horovodrun("gloo", worker, str(tmp_path), "--device=horovod", "--global_batch=8",
                   "--thor_average=inverses,factors"))
    one = np.load(tmp_path / "weights_pair_cpu_thor_factors_rank0.npz")
    for average in ("inverses", "factors"):
        # THOR's factor steps (a cond of two gradient functions) send the rows as well
        assert (tmp_path / f"slices_pair_horovod_thor_{average}_rank0.txt").read_text() == "1"
        rank0 = np.load(tmp_path / f"weights_pair_horovod_thor_{average}_rank0.npz")
        rank1 = np.load(tmp_path / f"weights_pair_horovod_thor_{average}_rank1.npz")
        for name in one.files:
            np.testing.assert_array_equal(rank0[name], rank1[name], err_msg=name)
    rank0 = np.load(tmp_path / "weights_pair_horovod_thor_factors_rank0.npz")
    inverses = np.load(tmp_path / "weights_pair_horovod_thor_inverses_rank0.npz")
    for name in one.files:
        np.testing.assert_allclose(rank0[name], one[name], rtol=1e-4, atol=1e-5, err_msg=name)
    # averaging inverses is not the same thing: the test above would notice a mix-up
    assert max(np.abs(inverses[n] - one[n]).max() for n in one.files) > 1e-4


@pytest.fixture(scope="module")
def pretraining_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("hvd_pretrain")
    pretraining_job.run(pretraining_job.JobOptions(
        input_files=[str(need("pretrain_text/gutenberg_nltk/chesterton-brown.txt"))],
        vocab_file=str(need(UNCASED_VOCAB)),
        output_files=[str(root / "a.tfrecord"), str(root / "b.tfrecord")],
        max_seq_length=SEQ, max_predictions_per_seq=PRED, dupe_factor=1))
    preset("tiny", vocab_size=30522, max_position_embeddings=SEQ).to_json_file(root / "bert_config.json")
    return root


def pretraining(root, model_dir, *extra):
    return [str(ROOT / "run_pretraining.py"), f"--bert_config_file={root}/bert_config.json",
            f"--input_file={root}/*.tfrecord", f"--output_dir={model_dir}", "--do_train",
            f"--max_seq_length={SEQ}", f"--max_predictions_per_seq={PRED}", "--train_batch_size=8",
            "--num_warmup_steps=2", "--learning_rate=1e-3", "--iterations_per_loop=5",
            "--save_checkpoints_steps=10", "--display_loss_steps=5", "--horovod", *extra]


def test_multi_worker_launcher_with_mpi_only_rank0_writes(pretraining_data, tmp_path):
    model_dir = tmp_path / "model"
    env = dict(ENV, DATA_DIR=str(pretraining_data), BERT_CONFIG=str(pretraining_data / "bert_config.json"),
               OUTPUT_DIR=str(model_dir), CONTROLLER="mpi", BATCH="8", SEQ=str(SEQ), PRED=str(PRED),
               STEPS="20", WARMUP="2", ITERATIONS="5", SAVE="10", PY=sys.executable)
    result = subprocess.run(["bash", str(ROOT / "scripts" / "run_pretraining_multi.sh"), "2",
                             "--display_loss_steps=5", "--max_eval_steps=4"],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert "[1,1]<stderr>:" in result.stdout + result.stderr  # two ranks ran, under MPI
    names = sorted(os.listdir(model_dir))
    assert len([n for n in names if n.startswith("events.out.tfevents")]) == 1
    assert "model.ckpt-20.index" in names and "eval_results.txt" in names
    log = [json.loads(line) for line in (model_dir / "log.jsonl").read_text().splitlines() if line]
    assert [record["global_step"] for record in log] == [5, 10, 15, 20]
    # Besides the chief's files, each worker keeps only its own input position.
    assert sorted(os.listdir(model_dir / "input_state")) == ["rank_0", "rank_1"]
    logged = [line for line in (result.stdout + result.stderr).splitlines() if "global_step = 20," in line]
    assert len(logged) == 1 and logged[0].startswith("[1,0]")


def test_killed_worker_stops_the_others_and_rerun_resumes(pretraining_data, tmp_path):
    model_dir = tmp_path / "model"
    cmd = horovodrun("gloo", *pretraining(pretraining_data, model_dir, "--num_train_steps=400",
                                          "--stop_at_step=400"))
    with open(tmp_path / "log.txt", "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=ENV)
        deadline = time.time() + 300
        while not (model_dir / "model.ckpt-10.index").exists() and time.time() < deadline:
            assert proc.poll() is None, (tmp_path / "log.txt").read_text()[-3000:]
            time.sleep(0.1)
        pid = python_pid("run_pretraining.py", b"HOROVOD_RANK=1\0", tmp_path)
        assert pid, "rank 1 not found"
        os.kill(pid, signal.SIGKILL)
        killed_at = time.time()
        try:
            returncode = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()  # Horovod's middleman then ends the surviving rank (it is in its own session)
            pytest.fail("the surviving worker hung for 60 s after its peer was killed")
    assert returncode != 0 and time.time() - killed_at < 60
    last = tf.train.latest_checkpoint(str(model_dir))
    reader = tf.train.load_checkpoint(last)  # intact: every tensor reads
    for name in reader.get_variable_to_shape_map():
        reader.get_tensor(name)
    step = int(last.rsplit("-", 1)[1])
    result = run(horovodrun("gloo", *pretraining(pretraining_data, model_dir, "--num_train_steps=400",
                                                 f"--stop_at_step={step + 10}")))
    assert f"resumed from {last}" in result.stdout + result.stderr
    assert tf.train.latest_checkpoint(str(model_dir)).endswith(f"model.ckpt-{step + 10}")


def test_fewer_files_than_workers_is_a_clear_error():
    with pytest.raises(UserError, match="1 input file.* for 2 workers.*--shard_by_record"):
        InputContext(0, 2).shard_files(["only.tfrecord"])
    assert InputContext(1, 2).shard_files(["a", "b", "c"]) == ["b"]


def test_missing_horovod_points_at_the_setup(monkeypatch):
    monkeypatch.setitem(sys.modules, "horovod.tensorflow", None)
    with pytest.raises(UserError, match="scripts/setup.sh"):
        create_strategy("horovod")


def test_squad_fine_tuning_runs_distributed(tiny_bert_dir, small_squad, tmp_path):
    env = dict(ENV, BERT_DIR=str(tiny_bert_dir), SQUAD_DIR=str(small_squad), OUTPUT_DIR=str(tmp_path / "out"),
               SEQ="128", STRIDE="64", BATCH="8", EPOCHS="1", ITERATIONS="4", PY=sys.executable)
    result = subprocess.run(["bash", str(ROOT / "scripts" / "run_squad_multi.sh"), "2", "--max_query_length=32"],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    out = tmp_path / "out"
    predictions = json.loads((out / "predictions.json").read_text())
    dev = json.loads((small_squad / "dev-v1.1.json").read_text())
    assert set(predictions) == {qa["id"] for a in dev["data"] for p in a["paragraphs"] for qa in p["qas"]}
    results = json.loads((out / "eval_results.json").read_text())
    assert set(results) == {"exact_match", "f1"}
    assert len([n for n in os.listdir(out) if n.startswith("events.out.tfevents")]) == 1
    assert result.stdout.count('"exact_match"') == 1  # only rank 0 scored and printed
