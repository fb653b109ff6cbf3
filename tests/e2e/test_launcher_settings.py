"""The launchers in scripts/ against a stand-in for Python (`PY`) that records how it was
called: the command lines they build from their settings, bad settings refused in one line
(exit 2) before anything runs, and the entry point running in the launcher's own process
(`exec`), so that a SIGTERM to the launcher reaches it."""

import os
import signal
import subprocess
import time

import pytest

from conftest import ROOT

SCRIPTS = ROOT / "scripts"


@pytest.fixture
def stand_in(tmp_path):
    """A PY that appends its arguments (one call a line) to calls.txt, writes its pid to
    pid.txt, and sleeps when SLEEP is set."""
    script = tmp_path / "python"
    script.write_text('#!/usr/bin/env bash\n'
                      f'echo "$*" >> {tmp_path}/calls.txt\n'
                      f'echo $$ > {tmp_path}/pid.txt\n'
                      '[ -z "${SLEEP:-}" ] || exec sleep "$SLEEP"\n')
    script.chmod(0o755)
    return script


def run(script, stand_in, *args, **settings):
    env = {k: v for k, v in os.environ.items() if k not in ("WORKERS", "HOSTS", "OPTIMIZER", "EPSILON")}
    env.update(PY=str(stand_in), DATA_DIR="data", BERT_CONFIG="bert_config.json", BERT_DIR="bert",
               SQUAD_DIR="squad", **settings)
    return subprocess.run(["bash", str(SCRIPTS / script), *args], capture_output=True, text=True, env=env,
                          timeout=60)


def calls(stand_in):
    path = stand_in.parent / "calls.txt"
    return path.read_text().splitlines() if path.exists() else []


def test_the_optimizer_decides_whether_adams_epsilon_is_passed(stand_in):
    for settings, args, epsilon in [({}, (), True), ({"OPTIMIZER": "lamb"}, (), True),
                                    ({"OPTIMIZER": "thor"}, (), False),
                                    ({}, ("--optimizer_type=thor",), False),
                                    ({}, ("--optimizer_type", "thor"), False),
                                    ({"OPTIMIZER": "thor"}, ("--optimizer_type=lamb",), True)]:
        (stand_in.parent / "calls.txt").unlink(missing_ok=True)
        result = run("run_pretraining.sh", stand_in, *args, **settings)
        assert result.returncode == 0, result.stderr
        assert ("--adam_epsilon=1e-4" in calls(stand_in)[0]) == epsilon, (settings, args)


@pytest.mark.parametrize("script, args, settings, message", [
    ("run_pretraining_multi.sh", ("0",), {}, "N=0: give a whole number of at least 1"),
    ("run_pretraining_multi.sh", ("two",), {}, "N=two: give a whole number of at least 1"),
    ("run_squad_multi.sh", ("-1",), {}, "N=-1: give a whole number of at least 1"),
    ("run_pretraining.sh", (), {"WORKERS": "four"}, "WORKERS=four: give a whole number of at least 1"),
    ("run_squad.sh", (), {"WORKERS": "0"}, "WORKERS=0: give a whole number of at least 1"),
    ("prepare_wikipedia.sh", (), {"DUMP": "d", "VOCAB": "v", "TEXT_SHARDS": "08x"},
     "TEXT_SHARDS=08x: give a whole number of at least 1"),
    ("prepare_wikipedia.sh", (), {"DUMP": "d", "VOCAB": "v", "WORKERS": "all"},
     "WORKERS=all: give a whole number of at least 1"),
    ("run_pretraining_phase2.sh", (), {"PHASE1_DIR": "/nonexistent"},
     "no phase-1 checkpoint (model.ckpt-*) in /nonexistent: set PHASE1_DIR to phase 1's OUTPUT_DIR"),
    ("demo.sh", (), {"DEMO_ROUNDS": "0"}, "DEMO_ROUNDS=0: give a whole number of at least 1"),
    ("demo.sh", (), {"DEMO_STEPS": "1.5k"}, "DEMO_STEPS=1.5k: give a whole number of at least 1"),
    ("demo.sh", (), {"DEMO_STEPS": "3", "DEMO_ROUNDS": "4"}, "DEMO_ROUNDS=4: at most DEMO_STEPS (3)"),
])
def test_bad_settings_are_one_line_and_exit_2_before_anything_runs(stand_in, tmp_path, script, args, settings,
                                                                   message):
    result = run(script, stand_in, *args, DEMO_DIR=str(tmp_path / "demo"), **settings)
    assert result.returncode == 2, result.stderr
    assert result.stderr == f"{script}: {message}\n"
    assert calls(stand_in) == []


def test_shard_counts_with_a_leading_zero_are_decimal(stand_in, tmp_path):
    result = run("prepare_wikipedia.sh", stand_in, DUMP="d", VOCAB="v", OUT=str(tmp_path / "out"),
                 TEXT_SHARDS="010", RECORD_SHARDS="08", WORKERS="02", PHASES="1")
    assert result.returncode == 0, result.stderr
    corpus, records = calls(stand_in)
    assert "--num_output_shards=10 --num_workers=2 " in corpus
    assert f"--input_file={tmp_path}/out/text/part-*-of-00010.txt" in records
    assert "--num_output_shards=8 " in records


@pytest.mark.parametrize("script, settings", [
    ("run_pretraining.sh", {}),
    ("run_pretraining_phase1.sh", {}),
    ("run_pretraining_phase2.sh", {"PHASE1_DIR": "phase1"}),
    ("run_classifier.sh", {"GLUE_DIR": "glue"}),
    ("run_downstream_classifier.sh", {}),
    ("run_downstream_ner.sh", {}),
    ("run_squad.sh", {}),
])
def test_a_sigterm_to_the_launcher_reaches_the_entry_point(stand_in, tmp_path, script, settings):
    phase1 = tmp_path / "phase1"
    phase1.mkdir()
    (phase1 / "model.ckpt-10.index").write_text("")
    if "PHASE1_DIR" in settings:
        settings = dict(settings, PHASE1_DIR=str(phase1))
    env = {k: v for k, v in os.environ.items() if k not in ("WORKERS", "HOSTS")}
    env.update(PY=str(stand_in), DATA_DIR="data", BERT_CONFIG="c.json", BERT_DIR="bert", SQUAD_DIR="squad",
               SLEEP="60", **settings)
    proc = subprocess.Popen(["bash", str(SCRIPTS / script)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    pid_file = tmp_path / "pid.txt"
    deadline = time.time() + 30
    while not (pid_file.exists() and pid_file.read_text().strip()):
        assert proc.poll() is None and time.time() < deadline, proc.stderr.read() if proc.poll() else "no pid"
        time.sleep(0.05)
    assert int(pid_file.read_text()) == proc.pid  # the launcher became the entry point
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == -signal.SIGTERM


@pytest.mark.parametrize("settings, message", [
    ({"BERT_TF_GPU": "true"}, "setup.sh: BERT_TF_GPU=true: use auto, 0 (CPU) or 1 (GPU)\n"),
    ({"SETUP_DEV": "yes"}, "setup.sh: SETUP_DEV=yes: use 1 (with the test tools) or 0\n"),
])
def test_setup_refuses_a_mode_it_does_not_know(settings, message, tmp_path):
    """Once, BERT_TF_GPU=true quietly made a CPU installation."""
    result = subprocess.run(["bash", str(SCRIPTS / "setup.sh")], capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, BERT_TF_VENV=str(tmp_path / "venv"), **settings))
    assert (result.returncode, result.stderr) == (2, message)
    assert not (tmp_path / "venv").exists()
