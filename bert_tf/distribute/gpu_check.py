"""What a user runs first on a GPU machine (`scripts/gpu_check.sh`): one line per check, PASS,
FAIL or SKIP, and exit status 0 only when every check that could run passed.

Checks: TensorFlow sees the GPUs; ops are placed on GPU:0; a float16 training step (loss
scaling) and an XLA training step of a micro BERT run there with finite losses; with two GPUs
or more, a 2-GPU `--device=mirrored` step keeps the replicas equal and Horovod (built with
NCCL: `horovodrun --check-build`) averages a tensor over two workers. On a machine without a
GPU it says so and stops (exit status 1).

  python -m bert_tf.distribute.gpu_check
"""

import os
import signal
import shutil
import subprocess
import sys
import tempfile

RESULTS = []


def report(status, name, detail=""):
    RESULTS.append(status)
    print(f"{status:4} {name}" + (f": {detail}" if detail else ""), flush=True)


def _micro_step(strategy, steps=2):
    """Train a micro BERT for `steps` steps on random ids: (first loss, last loss)."""
    import numpy as np
    import tensorflow as tf

    from bert_tf.config import preset
    from bert_tf.estimator import Estimator, RunConfig
    from bert_tf.estimator.estimator import TrainParams
    from bert_tf.optimization import OptimizerConfig
    from bert_tf.tasks.pretraining import PretrainingTask

    seq, pred, batch = 32, 5, 8 * strategy.num_replicas
    rng = np.random.default_rng(0)
    data = {"input_ids": rng.integers(5, 1000, [batch, seq]), "input_mask": np.ones([batch, seq]),
            "segment_ids": np.zeros([batch, seq]), "masked_lm_positions": rng.integers(1, seq, [batch, pred]),
            "masked_lm_ids": rng.integers(5, 1000, [batch, pred]), "next_sentence_labels": np.zeros([batch, 1])}
    data = {k: tf.constant(v, tf.int32) for k, v in data.items()}
    data["masked_lm_weights"] = tf.ones([batch, pred])
    losses = []
    with tempfile.TemporaryDirectory() as model_dir:
        config = preset("micro", vocab_size=1000)
        params = {"global_batch_size": batch, "train": TrainParams(OptimizerConfig(
            learning_rate=1e-3, num_train_steps=steps, num_warmup_steps=0))}
        estimator = Estimator(PretrainingTask(config, seq, pred), RunConfig(model_dir, iterations_per_loop=1,
                              log_every_n_steps=1), params, strategy)
        for step in range(1, steps + 1):
            estimator.train(lambda p, ctx: tf.data.Dataset.from_tensors(data).repeat(), step)
            record = open(os.path.join(model_dir, "log.jsonl")).read().splitlines()[-1]
            losses.append(float(__import__("json").loads(record)["total_loss"]))
    return losses


def _check_step(name, make_strategy):
    try:
        losses = _micro_step(make_strategy())
    except Exception as e:  # a check reports, it does not stop the others
        return report("FAIL", name, f"{type(e).__name__}: {str(e).splitlines()[0][:200]}")
    import math
    ok = all(math.isfinite(x) for x in losses)
    report("PASS" if ok else "FAIL", name, "losses " + ", ".join(f"{x:.4f}" for x in losses))


def main():
    import bert_tf  # noqa: F401  (first: environment for TensorFlow)
    import tensorflow as tf
    gpus = tf.config.list_physical_devices("GPU")
    smi = shutil.which("nvidia-smi")
    if not gpus:
        listed = subprocess.run([smi, "-L"], capture_output=True, text=True).stdout.strip() if smi else ""
        report("FAIL", "GPU visible to TensorFlow",
               "NO GPU: TensorFlow sees none" + (f" (nvidia-smi lists: {listed})" if listed else
                                                 " and there is no nvidia-smi: this machine has no GPU")
               + "; the GPU checks cannot run here (scripts/setup.sh with BERT_TF_GPU=1 installs "
                 "TensorFlow's CUDA libraries on a GPU machine)")
        return 1
    report("PASS", "GPU visible to TensorFlow", f"{len(gpus)}: {', '.join(g.name for g in gpus)}")
    with tf.device("/GPU:0"):
        product = tf.matmul(tf.ones([64, 64]), tf.ones([64, 64]))
    report("PASS" if "GPU:0" in product.device else "FAIL", "ops placed on GPU:0", product.device)
    from bert_tf.distribute import create_strategy
    _check_step("float16 training step (loss scaling)", lambda: create_strategy("gpu", precision="fp16"))
    _check_step("XLA training step", lambda: create_strategy("gpu", jit_compile=True))
    if len(gpus) < 2:
        report("SKIP", "2-GPU mirrored step", "one GPU")
        report("SKIP", "Horovod allreduce over 2 GPUs", "one GPU")
    else:
        _check_step("2-GPU mirrored step", lambda: create_strategy("mirrored"))
        _check_horovod()
    return 0 if "FAIL" not in RESULTS else 1


def _check_horovod():
    horovodrun = os.path.join(os.path.dirname(sys.executable), "horovodrun")
    name = "Horovod allreduce over 2 GPUs (NCCL)"
    build = _run_group([horovodrun, "--check-build"], timeout=120)
    if isinstance(build, str):
        return report("FAIL", "Horovod built with NCCL", f"horovodrun --check-build: {build}")
    if "[X] NCCL" not in build.stdout:
        return report("FAIL", "Horovod built with NCCL", "horovodrun --check-build does not list NCCL; "
                      "rerun scripts/setup.sh with BERT_TF_GPU=1")
    code = ("import horovod.tensorflow as hvd, tensorflow as tf; hvd.init(); "
            "g = tf.config.list_physical_devices('GPU'); tf.config.set_visible_devices(g[hvd.local_rank()], 'GPU'); "
            "x = hvd.allreduce(tf.constant([float(hvd.rank())]), op=hvd.Average); print('mean', float(x[0]))")
    run = _run_group([horovodrun, "-np", "2", "-H", "localhost:2", sys.executable, "-c", code], timeout=300)
    if isinstance(run, str):
        return report("FAIL", name, run)
    ok = run.returncode == 0 and run.stdout.count("mean 0.5") == 2
    report("PASS" if ok else "FAIL", name, "both workers got the mean 0.5" if ok else (run.stdout + run.stderr)[-300:])


def _run_group(command, timeout):
    """A finished `subprocess.CompletedProcess`, or why there is none (one line): a command
    that cannot start, or one still running after `timeout` s, ended with all it started (a
    hung Horovod worker would otherwise keep holding its GPU)."""
    try:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
    except OSError as e:
        return f"{command[0]} cannot run ({e.strerror}): rerun scripts/setup.sh"
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:  # it ended meanwhile
            pass
        proc.communicate()
        return f"no answer within {timeout} s (stopped): a worker hung; see what else holds the GPUs (nvidia-smi)"
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


if __name__ == "__main__":
    sys.exit(main())
