"""scripts/run_pretraining_multiworker.sh as a job runner, and a multiworker process's start-up.

The launcher's own logic (settings, the ports check, stopping the others when a worker fails,
passing Ctrl-C on) runs against a stand-in for Python (`PY`): a shell script whose worker i
does what the test asks, without TensorFlow. The last two tests start the real
`--device=multiworker` set-up: a port in use, and SIGTERM after the strategy is built.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from bert_tf.config import preset
from conftest import ROOT, free_port_range

LAUNCHER = ROOT / "scripts" / "run_pretraining_multiworker.sh"


def stand_in_python(tmp_path, behaviours):
    """A `PY` for the launcher: the ports check (`-m`) runs in the real Python; worker i (from its
    TF_CONFIG) runs behaviours[i] (shell), where `ready` writes its pid to worker_i.pid (after
    its traps are set, so that a test may signal it then)."""
    script = tmp_path / "python"
    lines = ["#!/usr/bin/env bash", f'[ "$1" = -m ] && exec {sys.executable} "$@"', 'case "$TF_CONFIG" in']
    lines += [f"""  *'"index": {i}}}'*) i={i};;""" for i in range(len(behaviours))]
    lines += ["esac", f"ready() {{ echo $$ > {tmp_path}/worker_$i.pid; }}", "case $i in"]
    lines += [f"  {i}) {body};;" for i, body in enumerate(behaviours)]
    script.write_text("\n".join(lines + ["esac", ""]))
    script.chmod(0o755)
    return script


def stops_on_sigterm(says):
    """A worker that, on SIGTERM, says so and exits 143 (as bert_tf's training loop does)."""
    return (f"sleep 300 >/dev/null 2>&1 & trap 'trap \"\" TERM; kill $! 2>/dev/null; echo {says}; exit 143' TERM; "
            "ready; wait")


def launch(tmp_path, behaviours, workers=None, **settings):
    env = dict(os.environ, DATA_DIR=str(tmp_path), BERT_CONFIG=str(tmp_path / "bert_config.json"),
               PY=str(stand_in_python(tmp_path, behaviours)), PORT=str(free_port_range(len(behaviours))))
    env.update(settings)
    # SIGINT as a terminal gives it: a test runner's worker may ignore it, and a shell cannot
    # trap a signal that was ignored when it started
    return subprocess.Popen(["bash", str(LAUNCHER), str(workers or len(behaviours))], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def finish(proc, timeout=60):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"the launcher still ran after {timeout} s")
    return proc.returncode, out, err


def alive(pid_file):
    try:
        os.kill(int(pid_file.read_text()), 0)
    except ProcessLookupError:
        return False
    return True


def wait_for(paths, seconds=30):
    deadline = time.time() + seconds
    while not all(path.exists() and path.read_text().strip() for path in paths):
        assert time.time() < deadline, f"not written in {seconds} s: {paths}"
        time.sleep(0.05)


def test_all_workers_done_is_a_clean_exit(tmp_path):
    code, out, err = finish(launch(tmp_path, ["echo trained; sleep 1", "echo trained"]))
    assert code == 0, err
    assert sorted(out.splitlines()) == ["[worker 0] trained", "[worker 1] trained"]
    assert err == ""  # once, bash's `wait -n` said "no such job" for each worker already reaped


def test_a_failed_worker_stops_the_others_and_one_that_ignores_sigterm_is_killed(tmp_path):
    # worker 0 ignores SIGTERM, as a TensorFlow worker does while it waits for its peers
    start = time.time()
    code, _, err = finish(launch(tmp_path, ["trap '' TERM; ready; exec sleep 300",
                                            f"while [ ! -s {tmp_path}/worker_0.pid ]; do sleep 0.05; done; exit 3"],
                                 STOP_GRACE="2"))
    assert code == 3, err
    assert time.time() - start < 30
    assert "a worker failed (exit 3): stopping the others (killed if still running in 2 s)" in err
    assert "workers still running 2 s after one failed: killed" in err
    assert not alive(tmp_path / "worker_0.pid")


def test_a_worker_that_stops_on_sigterm_is_not_killed(tmp_path):
    code, out, err = finish(launch(tmp_path, [stops_on_sigterm("stopped"),
                                              f"while [ ! -s {tmp_path}/worker_0.pid ]; do sleep 0.05; done; exit 3"],
                                   STOP_GRACE="20"))
    assert code == 3 and "[worker 0] stopped" in out
    assert "a worker failed (exit 3)" in err and "killed" not in err.replace("killed if", "")


def test_ctrl_c_is_passed_on_as_sigterm(tmp_path):
    stop = stops_on_sigterm("checkpoint written")
    proc = launch(tmp_path, [stop, stop])
    wait_for([tmp_path / "worker_0.pid", tmp_path / "worker_1.pid"])
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: to the whole group
    code, out, err = finish(proc)
    assert code == 130, err  # as Ctrl-C on one process: the workers stopped as asked (143)
    assert out.count("checkpoint written") == 2
    assert "stopping the workers: they finish their loop and write a checkpoint" in err


def test_sigterm_to_the_whole_group_as_a_scheduler_sends_it(tmp_path):
    stop = stops_on_sigterm("checkpoint written")
    proc = launch(tmp_path, [stop, stop])
    wait_for([tmp_path / "worker_0.pid", tmp_path / "worker_1.pid"])
    os.killpg(proc.pid, signal.SIGTERM)
    code, out, err = finish(proc)
    assert code == 143 and out.count("checkpoint written") == 2, (out, err)  # the prefixers lived on


def test_after_ctrl_c_the_chief_may_take_its_time_to_write_the_checkpoint(tmp_path):
    saving = ("sleep 300 >/dev/null 2>&1 & trap 'kill $!; echo saving; sleep 3; echo saved; exit 143' TERM; "
              "ready; wait")
    proc = launch(tmp_path, [saving, stops_on_sigterm("stopped")], STOP_GRACE="1")
    wait_for([tmp_path / "worker_0.pid", tmp_path / "worker_1.pid"])
    proc.send_signal(signal.SIGINT)
    code, out, err = finish(proc, timeout=30)
    assert code == 130 and "[worker 0] saved" in out and "[worker 1] stopped" in out, (out, err)
    assert "killed" not in err


def test_after_ctrl_c_a_failed_worker_still_gets_the_others_killed(tmp_path):
    proc = launch(tmp_path, ["trap '' TERM; ready; exec sleep 300",
                             "sleep 300 >/dev/null 2>&1 & trap 'kill $!; exit 1' TERM; ready; wait"], STOP_GRACE="2")
    wait_for([tmp_path / "worker_0.pid", tmp_path / "worker_1.pid"])
    proc.send_signal(signal.SIGINT)
    code, out, err = finish(proc, timeout=30)
    assert code == 1, err
    assert "workers still running 2 s after one failed: killed" in err
    assert not alive(tmp_path / "worker_0.pid")


def test_workers_get_one_gpu_each_and_no_horovod_settings(tmp_path):
    shows = 'echo "gpus=$CUDA_VISIBLE_DEVICES workers=${WORKERS-unset} hosts=${HOSTS-unset} $*"'
    code, out, err = finish(launch(tmp_path, [shows, shows], CUDA_VISIBLE_DEVICES="4,6", WORKERS="4",
                                   HOSTS="a:2,b:2"))
    assert code == 0, err
    lines = sorted(out.splitlines())
    assert [line.split(" /")[0] for line in lines] == ["[worker 0] gpus=4 workers=unset hosts=unset",
                                                      "[worker 1] gpus=6 workers=unset hosts=unset"]
    assert all("--device=multiworker" in line and "--horovod" not in line for line in lines)
    code, out, err = finish(launch(tmp_path, [shows, shows], CUDA_VISIBLE_DEVICES=""))
    assert code == 0 and out.count("gpus= ") == 2, out  # none: the CPUs
    code, out, err = finish(launch(tmp_path, [shows, shows, shows], CUDA_VISIBLE_DEVICES="4,6"))
    assert (code, out) == (2, "") and err == ("run_pretraining_multiworker.sh: N=3 workers for 2 GPU(s) (4 6): "
                                              "each worker takes one; use N <= 2, or CUDA_VISIBLE_DEVICES= "
                                              "to train on the CPUs\n")


def test_a_second_ctrl_c_kills_the_workers(tmp_path):
    stubborn = "trap 'echo finishing the loop' TERM; ready; while :; do sleep 0.1; done"
    proc = launch(tmp_path, [stubborn, stubborn])
    wait_for([tmp_path / "worker_0.pid", tmp_path / "worker_1.pid"])
    proc.send_signal(signal.SIGINT)
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    code, out, err = finish(proc)
    assert code == 137 and out.count("finishing the loop") == 2, (out, err)
    assert "killing the workers" in err
    assert not alive(tmp_path / "worker_0.pid") and not alive(tmp_path / "worker_1.pid")


def test_bad_settings_and_ports_in_use_are_refused_before_any_worker_starts(tmp_path):
    never = "echo started"
    for settings, workers, message in [
            ({}, "two", "N=two: give a whole number of at least 1"),
            ({}, "0", "N=0: give a whole number of at least 1"),
            ({}, "18446744073709551617", "N=18446744073709551617: give a whole number of at least 1"),
            ({"PORT": "65535"}, "2", "PORT=65535: the ports PORT .. PORT+1 must lie within 1-65535"),
            ({"PORT": "http"}, "2", "PORT=http: give a whole number of at least 1"),
            ({"STOP_GRACE": "soon"}, "2", "STOP_GRACE=soon: give a whole number of at least 0"),
            ({"PY": str(tmp_path / "nothing")}, "2", "could not run: set PY to the Python")]:
        proc = launch(tmp_path, [never, never], workers=workers, **settings)
        code, out, err = finish(proc)
        assert (code, out) == (2, ""), (settings, workers, err)
        assert err.startswith("run_pretraining_multiworker.sh: ") and message in err, err
    first = free_port_range(3)
    with socket.socket() as taken:
        taken.bind(("", first + 1))
        taken.listen()
        code, out, err = finish(launch(tmp_path, [never] * 3, PORT=str(first)))
    assert (code, out) == (2, "")
    assert err == (f"run_pretraining_multiworker.sh: port {first + 1} in use on this host: "
                   "set PORT to the first of 3 free ports\n")
    assert not list(tmp_path.glob("worker_*.pid"))


# ---------------------------------------------------------------- the real worker's start-up
def tf_config(ports, index):
    return json.dumps({"cluster": {"worker": [f"localhost:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


def test_a_worker_whose_port_is_in_use_says_so_in_one_line(tmp_path):
    preset("tiny").to_json_file(tmp_path / "bert_config.json")
    first = free_port_range(2)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", TF_CONFIG=tf_config([first, first + 1], 1))
    with socket.socket() as taken:
        taken.bind(("", first + 1))
        taken.listen()
        result = subprocess.run([sys.executable, str(ROOT / "run_pretraining.py"), "--device=multiworker",
                                 f"--bert_config_file={tmp_path / 'bert_config.json'}",
                                 f"--input_files_dir={tmp_path}", f"--output_dir={tmp_path / 'model'}",
                                 "--do_train"], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert (f"error: TF_CONFIG: worker 1 (localhost:{first + 1}) could not start: Could not start gRPC server; "
            f"port {first + 1} is in use or not allowed on this host") in result.stderr


def test_sigterm_ends_a_multiworker_process_outside_training(tmp_path):
    """TensorFlow's coordination service catches SIGTERM and only notes it; bert_tf restores
    the default once the strategy is built, so a stop from a launcher or scheduler works."""
    code = textwrap.dedent("""
        import sys, time
        from bert_tf.distribute import create_strategy
        create_strategy("multiworker")
        print("ready", flush=True)
        time.sleep(120)
        """)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="",
               TF_CONFIG=tf_config([free_port_range(1)], 0))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == -signal.SIGTERM
    finally:
        proc.kill()
