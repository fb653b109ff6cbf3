"""tf.distribute behind the device hook, and --device=auto: mirrored over two logical CPUs
and multiworker with two local processes (loopback only) end with the weights of one replica
with the doubled batch, on pretraining and a classifier; a killed multiworker process fails
the job within 60 s and a rerun resumes."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from bert_tf.config import preset
from bert_tf.data import pretraining_job
from bert_tf.distribute import create_strategy, local
from bert_tf.distribute.strategy import yes_no
from bert_tf.errors import UserError
from conftest import ROOT, UNCASED_VOCAB, free_port_range, need, python_pid

HERE = pathlib.Path(__file__).resolve().parent
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
SEQ, PRED = 32, 5


def tf_config(ports, index):
    return json.dumps({"cluster": {"worker": [f"localhost:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


# ---------------------------------------------------------------- --device=auto
def test_auto_picks_the_gpu_when_tensorflow_sees_one(monkeypatch):
    assert local.choose_device([]) == "cpu"
    assert local.choose_device(["PhysicalDevice(name='/physical_device:GPU:0')"]) == "gpu"
    monkeypatch.setattr(local, "visible_gpus", lambda: ["GPU:0"])
    stubbed = local.LocalStrategy("auto")
    assert stubbed.device_type == "gpu" and "a GPU is visible" in stubbed.describe()
    monkeypatch.undo()
    here = create_strategy("auto")  # this machine has no GPU
    assert here.device_type == "cpu" and here.describe() == "cpu (auto: no GPU visible)"


def test_bad_tf_distribute_settings_are_clear(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(UserError, match="--device=multiworker needs TF_CONFIG"):
        create_strategy("multiworker")
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {}}')
    with pytest.raises(UserError, match="TF_CONFIG is not a cluster spec"):
        create_strategy("multiworker")
    for address in ("localhost", "localhost:99999", "localhost:port", ":23456"):
        monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["localhost:23456", address]},
                                                    "task": {"type": "worker", "index": 0}}))
        with pytest.raises(UserError, match=f"worker 1's address '{address}' is not host:port"):
            create_strategy("multiworker")
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"chief": ["localhost"], "worker": ["localhost:2"]},
                                                "task": {"type": "chief", "index": 0}}))
    with pytest.raises(UserError, match="chief 0's address 'localhost' is not host:port"):
        create_strategy("multiworker")
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["localhost:2"]},
                                                "task": {"type": "ps", "index": 0}}))
    with pytest.raises(UserError, match="task.type 'ps' is not worker or chief"):
        create_strategy("multiworker")
    with pytest.raises(UserError, match="logical_devices=0: a positive count"):
        create_strategy("mirrored", options={"logical_devices": "0"})
    with pytest.raises(UserError, match="--device=mirrored does not take nccl"):
        create_strategy("mirrored", options={"nccl": "1"})
    with pytest.raises(UserError, match="fp16_compression=maybe: expected true or false"):
        create_strategy("mirrored", options={"fp16_compression": "maybe"})
    # a string from --device_option: "false" is False (it once counted as set)
    assert [yes_no("x", v) for v in ("false", "no", "0", " False", False, "true", "yes", "1", True)] == \
        [False] * 5 + [True] * 4


# ---------------------------------------------------------------- averaging
@pytest.fixture(scope="module")
def records(tmp_path_factory):
    out = tmp_path_factory.mktemp("records") / "data.tfrecord"
    pretraining_job.run(pretraining_job.JobOptions(
        input_files=[str(need("pretrain_text/gutenberg_nltk/austen-persuasion.txt"))],
        vocab_file=str(need(UNCASED_VOCAB)), output_files=[str(out)], max_seq_length=SEQ,
        max_predictions_per_seq=PRED, dupe_factor=1))
    return out


def worker(out, device, task, records, env=ENV, extra=()):
    cmd = [sys.executable, str(HERE / "averaging_worker.py"), str(out), f"--device={device}",
           "--global_batch=8", f"--task={task}", f"--records={records}", *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def finish(proc, timeout=300):
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-4000:]


@pytest.mark.parametrize("task", ["pair", "pretraining"])
def test_mirrored_and_multiworker_average_like_one_replica_with_twice_the_batch(tmp_path, records, task):
    need("pretrain_text/sample_text.txt")
    finish(worker(tmp_path, "cpu", task, records))
    finish(worker(tmp_path, "mirrored", task, records))
    first = free_port_range(2)
    ports = [first, first + 1]
    procs = [worker(tmp_path, "multiworker", task, records, dict(ENV, TF_CONFIG=tf_config(ports, i)))
             for i in range(2)]
    for proc in procs:
        finish(proc)
    one = np.load(tmp_path / f"weights_{task}_cpu_rank0.npz")
    assert len(one.files) > 10
    # fine-tuning's word embeddings travel as rows (tf.IndexedSlices); pretraining's are also
    # the masked-LM output layer's, so dense
    for name in ("cpu_rank0", "mirrored_rank0", "multiworker_rank0", "multiworker_rank1"):
        slices = int((tmp_path / f"slices_{task}_{name}.txt").read_text())
        assert slices == (task == "pair" and name != "cpu_rank0"), name
    runs = {name: np.load(tmp_path / f"weights_{task}_{name}.npz")
            for name in ("mirrored_rank0", "multiworker_rank0", "multiworker_rank1")}
    for name in one.files:
        np.testing.assert_array_equal(runs["multiworker_rank0"][name], runs["multiworker_rank1"][name],
                                      err_msg=name)
        for run_name, weights in runs.items():
            np.testing.assert_allclose(weights[name], one[name], atol=1e-5, err_msg=f"{run_name} {name}")


def test_mirrored_with_accumulation_averages_over_micro_batches_and_replicas_once(tmp_path):
    """2 replicas x 2 micro-batches of 2: the gradients divided by 4 once (k x replicas)."""
    need("pretrain_text/sample_text.txt")
    finish(worker(tmp_path, "cpu", "pair", ""))
    finish(worker(tmp_path, "mirrored", "pair", "", extra=["--accumulation=2"]))
    one, accumulated = (np.load(tmp_path / f"weights_pair_{tag}_rank0.npz") for tag in ("cpu", "mirrored_acc2"))
    for name in one.files:
        np.testing.assert_allclose(accumulated[name], one[name], atol=1e-6, err_msg=name)


def test_fp16_compression_sends_float16_gradients_and_stays_near_the_mean(tmp_path):
    """--hvd_fp16_compression on tf.distribute, as on Horovod: the gradients are rounded to
    float16 on their way (the weights differ from the exact run's) and stay near the mean."""
    need("pretrain_text/sample_text.txt")
    for device in ("cpu", "mirrored"):
        finish(worker(tmp_path, device, "pair", ""))
    finish(worker(tmp_path, "mirrored", "pair", "", extra=["--fp16_compression"]))
    one, exact, compressed = (np.load(tmp_path / f"weights_pair_{tag}_rank0.npz")
                              for tag in ("cpu", "mirrored", "mirrored_fp16"))
    # measured: float16 moves the weights by up to 1.2e-7 from the exact run's (that run: 4e-9);
    # a mean taken twice or not at all moves them by 5e-5
    assert (tmp_path / "slices_pair_mirrored_fp16_rank0.txt").read_text() == "1"  # rows: not compressed
    differs = 0
    for name in one.files:
        np.testing.assert_allclose(compressed[name], one[name], atol=1e-6, err_msg=name)
        differs += not np.array_equal(compressed[name], exact[name])
    assert differs > len(one.files) // 2


# ---------------------------------------------------------------- faults
def test_killed_multiworker_process_fails_the_job_and_a_rerun_resumes(records, tmp_path):
    preset("tiny", vocab_size=30522, max_position_embeddings=SEQ).to_json_file(tmp_path / "bert_config.json")
    data = tmp_path / "data"
    data.mkdir()
    os.symlink(records, data / "a.tfrecord")
    os.symlink(records, data / "b.tfrecord")
    model_dir = tmp_path / "model"

    def launcher(stop_at):
        env = dict(ENV, DATA_DIR=str(data), BERT_CONFIG=str(tmp_path / "bert_config.json"),
                   OUTPUT_DIR=str(model_dir), BATCH="8", SEQ=str(SEQ), PRED=str(PRED), STEPS="400",
                   WARMUP="2", ITERATIONS="5", SAVE="10", PY=sys.executable, PORT=str(free_port_range(2)))
        return [["bash", str(ROOT / "scripts" / "run_pretraining_multiworker.sh"), "2",
                 f"--stop_at_step={stop_at}", "--max_eval_steps=2"], env]

    cmd, env = launcher(400)
    with open(tmp_path / "log.txt", "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.time() + 300
        while not (model_dir / "model.ckpt-10.index").exists() and time.time() < deadline:
            assert proc.poll() is None, (tmp_path / "log.txt").read_text()[-3000:]
            time.sleep(0.1)
        pid = python_pid("run_pretraining.py", b'"index": 1}', tmp_path)
        assert pid, "worker 1 not found"
        os.kill(pid, signal.SIGKILL)
        killed_at = time.time()
        try:
            returncode = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail("the job hung for 60 s after a worker was killed")
    assert returncode != 0 and time.time() - killed_at < 60, (tmp_path / "log.txt").read_text()[-3000:]
    import tensorflow as tf
    last = tf.train.latest_checkpoint(str(model_dir))
    step = int(last.rsplit("-", 1)[1])
    cmd, env = launcher(step + 10)
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert f"resumed from {last}" in result.stdout + result.stderr
    assert tf.train.latest_checkpoint(str(model_dir)).endswith(f"model.ckpt-{step + 10}")


def test_gpu_check_says_clearly_that_there_is_no_gpu():
    result = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh")], capture_output=True, text=True,
                            env=dict(ENV, PY=sys.executable), timeout=120)
    assert result.returncode == 1
    assert result.stdout.startswith("FAIL GPU visible to TensorFlow: NO GPU: TensorFlow sees none")
    assert "the GPU checks cannot run here" in result.stdout and len(result.stdout.splitlines()) == 1


@pytest.mark.parametrize("kwargs", [{"precision": "fp16"}, {"jit_compile": True}])
def test_gpu_checks_training_step_runs_here_on_the_cpu(kwargs):
    """The check's own code path, on the CPU (what gpu_check.sh runs on GPU:0)."""
    from bert_tf.distribute import gpu_check
    losses = gpu_check._micro_step(create_strategy("cpu", **kwargs))
    assert len(losses) == 2 and all(np.isfinite(losses))


def test_gpu_checks_horovod_step_reports_a_missing_or_hung_horovodrun(tmp_path, monkeypatch, capsys):
    """One FAIL line, not a traceback; a hung run is stopped with everything it started."""
    from bert_tf.distribute import gpu_check
    monkeypatch.setattr(gpu_check, "RESULTS", [])
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))  # no horovodrun beside it
    gpu_check._check_horovod()
    assert capsys.readouterr().out == (f"FAIL Horovod built with NCCL: horovodrun --check-build: {tmp_path}/horovodrun "
                                       "cannot run (No such file or directory): rerun scripts/setup.sh\n")
    hung = gpu_check._run_group(["bash", "-c", f"sleep 300 & echo $! > {tmp_path}/child.pid; wait"], timeout=2)
    assert hung == ("no answer within 2 s (stopped): a worker hung; see what else holds the GPUs (nvidia-smi)")
    child = int((tmp_path / "child.pid").read_text())
    time.sleep(0.2)
    stat = pathlib.Path(f"/proc/{child}/stat")
    assert not stat.exists() or stat.read_text().split()[2] == "Z", "the hung run's child still runs"
    done = gpu_check._run_group(["bash", "-c", "echo '[X] NCCL'; exit 3"], timeout=10)
    assert (done.returncode, done.stdout) == (3, "[X] NCCL\n")
