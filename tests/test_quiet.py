"""TensorFlow's C++ start-up noise is hidden unless the user sets TF_CPP_MIN_LOG_LEVEL."""

import os
import subprocess
import sys

from bert_tf import quiet
from conftest import ROOT

NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    "I0000 00:00:1795953778.617895    8447 port.cc:153] oneDNN custom operations are on.\n",
    "I0000 00:00:1795953778.618148    8447 cudart_stub.cc:31] Could not find cuda drivers on your machine\n",
    "E0000 00:00:1795953730.860870    8277 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error\n",
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow "
    "with the appropriate compiler flags.\n",
]
KEPT = ["W0000 00:00:1795953730.860870    8277 gpu_device.cc:2342] Cannot dlopen some GPU libraries.\n",
        "E0000 00:00:1795953730.860870    8277 some_op.cc:12] something real\n",
        "Traceback (most recent call last):\n"]


def test_noise_is_told_from_what_matters():
    assert all(quiet.is_noise(line) for line in NOISE)
    assert not any(quiet.is_noise(line) for line in KEPT)


def _start(env):
    code = ("import bert_tf, sys, tensorflow as tf; print(tf.constant(2).numpy()); "
            "print('ours', file=sys.stderr)")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=120)


def test_a_script_starts_quietly_unless_the_user_asks_for_the_log():
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "BERT_TF_QUIET_STARTUP")}
    quietly = _start(env)
    assert quietly.stdout == "2\n" and quietly.stderr == "ours\n"
    loud = _start(dict(env, TF_CPP_MIN_LOG_LEVEL="0"))
    assert "absl::InitializeLog" in loud.stderr and "ours" in loud.stderr


def test_the_scripts_horovod_launcher_starts_quietly():
    """scripts/ start Horovod through bert_tf.distribute.horovodrun: horovodrun's own import of
    TensorFlow prints nothing either, and the worker runs."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "BERT_TF_QUIET_STARTUP")}
    worker = "import bert_tf, tensorflow as tf; print(tf.constant(3).numpy())"
    result = subprocess.run([sys.executable, "-m", "bert_tf.distribute.horovodrun", "-np", "1", "-H", "localhost:1",
                             "--gloo", sys.executable, "-c", worker], capture_output=True, text=True, env=env,
                            cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "[0]<stdout>:3" in result.stdout
    assert not [line for line in result.stderr.splitlines() if quiet.is_noise(line)], result.stderr[-2000:]
