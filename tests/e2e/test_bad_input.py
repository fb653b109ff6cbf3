"""Bad input and faults, through the scripts as a user runs them: one line naming the file or
flag and what to do, exit status 2 (130 for Ctrl-C), no traceback, nothing half-written.

Most cases stop before TensorFlow loads, so the suite is cheap; see issue 19.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT, UNCASED_VOCAB, need

SAMPLE = "pretrain_text/sample_text.txt"
BOOK = "pretrain_text/gutenberg_nltk/austen-persuasion.txt"
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def start(script, *flags, **options):
    command = [sys.executable, str(ROOT / script), *map(str, flags)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=ENV, **options)


def run(script, *flags, timeout=300):
    command = [sys.executable, str(ROOT / script), *map(str, flags)]
    return subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=timeout)


def error_line(result, status=2):
    """The one `error:` line of a failed run (TensorFlow's start-up chatter aside)."""
    assert result.returncode == status, (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr[-3000:]
    return lines[0]


def data_flags(text=SAMPLE, vocab=UNCASED_VOCAB):
    return [f"--input_file={need(text)}", f"--vocab_file={need(vocab)}"]


def no_temporaries(folder):
    return not [name for name in os.listdir(folder) if re.search(r"\.tmp\d+", name)]


# ---------------------------------------------------------------------- usage errors
CHEAP_SCRIPTS = ["create_pretraining_data.py", "learn_vocab.py", "extract_features.py",
                 "run_squad.py", "run_classifier.py", "run_ner.py"]
TF_SCRIPTS = ["convert_checkpoint.py", "export_savedmodel.py", "run_pretraining.py"]


@pytest.mark.parametrize("script", CHEAP_SCRIPTS + TF_SCRIPTS)
def test_an_unknown_flag_is_a_usage_error_exit_2(script):
    line = error_line(run(script, "--no_such_flag=1"))
    assert "Unknown command line flag 'no_such_flag'" in line and "--helpshort" in line


@pytest.mark.parametrize("script", CHEAP_SCRIPTS)
def test_a_bad_boolean_and_a_missing_required_flag_exit_2_and_help_exits_0(script):
    line = error_line(run(script, "--do_lower_case=maybe"))
    assert "--do_lower_case=maybe: not a boolean; use --do_lower_case=true" in line
    help_run = run(script, "--help")
    assert help_run.returncode == 0 and "--helpfull" in help_run.stdout
    if script in ("create_pretraining_data.py", "learn_vocab.py"):
        assert error_line(run(script)).startswith("error: missing required flags: --input_file, ")


def test_a_usage_error_raised_by_a_script_exits_2_in_one_line(tmp_path):
    line = error_line(run("convert_checkpoint.py", f"--tf1_checkpoint={tmp_path}/x.ckpt"))
    assert line.startswith("error: give an input (--hf_model_dir") and "where to write it" in line


# ---------------------------------------------------------------------- where output goes
def test_output_paths_that_cannot_be_written_are_refused_up_front(tmp_path):
    folder = tmp_path / "a_folder"
    folder.mkdir()
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    cases = [
        ("create_pretraining_data.py", [*data_flags(), f"--output_file={folder}"],
         f"--output_file={folder} is a directory"),
        ("create_pretraining_data.py", [*data_flags(), f"--output_dir={a_file}"],
         f"--output_dir={a_file} is a file"),
        ("create_pretraining_data.py", [*data_flags(), f"--output_file={a_file}/x.tfrecord"],
         "is a file, not a folder"),
        ("learn_vocab.py", [f"--input_file={need(SAMPLE)}", f"--output_file={folder}"],
         f"--output_file={folder} is a directory"),
        ("learn_vocab.py", [f"--input_file={need(SAMPLE)}", f"--output_file={a_file}/v.txt"],
         "is a file, not a folder"),
    ]
    if os.path.isdir("/proc/self"):  # not writable even by root
        cases += [("create_pretraining_data.py", [*data_flags(), "--output_file=/proc/o.tfrecord"],
                   "--output_file=/proc/o.tfrecord: cannot write in /proc"),
                  ("learn_vocab.py", [f"--input_file={need(SAMPLE)}", "--output_file=/proc/v.txt"],
                   "--output_file=/proc/v.txt: cannot write in /proc")]
    for script, flags, message in cases:
        line = error_line(run(script, *flags))
        assert message in line, (message, line)
    assert sorted(os.listdir(tmp_path)) == ["a_file", "a_folder"]
    assert os.listdir(folder) == []


def test_an_output_dir_that_is_a_file_is_one_line(tiny_bert_dir, tmp_path):
    data = tmp_path / "data.tfrecord"
    made = run("create_pretraining_data.py", *data_flags(), "--dupe_factor=1", f"--output_file={data}")
    assert made.returncode == 0, made.stderr[-2000:]
    (tmp_path / "a_file").write_text("x")
    line = error_line(run("run_pretraining.py", f"--bert_config_file={tiny_bert_dir}/bert_config.json",
                          f"--input_file={data}", f"--output_dir={tmp_path}/a_file", "--do_train",
                          "--num_train_steps=1", "--train_batch_size=2"))
    assert line == f"error: {tmp_path}/a_file: it is a file where a folder is needed: give a " \
                   "folder path, or move the file away"


def test_learn_vocab_makes_a_missing_output_folder(tmp_path):
    target = tmp_path / "new" / "vocab.txt"
    result = run("learn_vocab.py", f"--input_file={need(SAMPLE)}", f"--output_file={target}",
                 "--vocab_size=200")
    assert result.returncode == 0, result.stderr[-2000:]
    assert os.listdir(target.parent) == ["vocab.txt"]


def test_learn_vocab_sizes_that_leave_no_room_are_refused_before_reading():
    line = error_line(run("learn_vocab.py", f"--input_file={need(SAMPLE)}", "--output_file=v.txt",
                          "--vocab_size=150", "--num_unused=200"))
    assert "--vocab_size=150 leaves no room" in line and "205 reserved tokens" in line
    assert "--num_unused=-1 must be 0 or more" in error_line(
        run("learn_vocab.py", f"--input_file={need(SAMPLE)}", "--output_file=v.txt", "--num_unused=-1"))


def _fill_disk_in_process(tmp_path, monkeypatch):
    """No tmpfs here: the same job in-process, its record files filling after 4 KiB."""
    from bert_tf import cli, records
    from bert_tf.data import pretraining_job
    from conftest import FillingFile
    monkeypatch.setattr(records, "open", FillingFile, raising=False)
    target = str(tmp_path / "out.tfrecord")
    options = pretraining_job.JobOptions(input_files=[str(need(BOOK))], vocab_file=str(need(UNCASED_VOCAB)),
                                         output_files=[target], dupe_factor=1)
    with pytest.raises(OSError) as caught:
        pretraining_job.run(options)
    return cli.os_error_message(caught.value), tmp_path


@pytest.mark.parametrize("mode", ["reference", "parallel"])
def test_disk_full_is_one_line_naming_the_file_and_leaves_nothing(small_disk, tmp_path, monkeypatch,
                                                                 mode):
    if small_disk is None and mode == "parallel":
        pytest.skip("no tmpfs mount here, and a patch in this process cannot reach the workers")
    if small_disk is None:
        line, folder = _fill_disk_in_process(tmp_path, monkeypatch)
        target = folder / "out.tfrecord"
    elif mode == "reference":
        folder, target = small_disk, small_disk / "out.tfrecord"
        line = error_line(run("create_pretraining_data.py", *data_flags(BOOK), "--dupe_factor=2",
                              f"--output_file={target}"))
    else:  # the 3 shards together outgrow the disk; the line names the one that filled it
        folder = small_disk
        line = error_line(run("create_pretraining_data.py", *data_flags(BOOK), "--dupe_factor=3",
                              "--mode=parallel", "--num_workers=2", f"--output_dir={folder}",
                              "--num_output_shards=3"))
        target = re.search(r"error: (\S+): ", line).group(1)
        assert os.path.dirname(target) == str(folder) and "-of-00003.tfrecord" in target
    assert f"{target}: no space left on the device" in line
    assert os.listdir(folder) == []


# ---------------------------------------------------------------------- create_pretraining_data input
def test_more_shards_than_documents_writes_no_empty_shard(tmp_path):
    text = tmp_path / "two_documents.txt"
    text.write_text("The first document has a sentence.\nAnd another one.\n\n"
                    "The second document is here.\nIt ends now.\n")
    out = tmp_path / "out"
    result = run("create_pretraining_data.py", *data_flags(text), "--mode=parallel",
                 "--num_workers=2", f"--output_dir={out}", "--num_output_shards=5", "--dupe_factor=1")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "3 of 5 output files would hold no record" in result.stderr
    written = sorted(p for p in os.listdir(out) if p.endswith(".tfrecord"))
    assert len(written) == 2 and all(os.path.getsize(out / p) > 0 for p in written)
    summary = json.loads((out / "pretraining_data_summary.json").read_text())
    assert sorted(map(os.path.basename, summary["files"])) == written
    assert len(summary["empty_files_not_written"]) == 3 and summary["documents"] == 2


def test_mostly_undecodable_input_is_warned_with_its_fraction(tmp_path):
    noise = np.random.default_rng(0).integers(1, 256, 60_000, dtype=np.uint8).tobytes()
    binary = tmp_path / "noise.txt"
    binary.write_bytes(noise)  # random bytes, no NUL: not refused as binary
    result = run("create_pretraining_data.py", *data_flags(binary), "--dupe_factor=1",
                 f"--output_file={tmp_path / 'o.tfrecord'}")
    match = re.search(r"noise.txt: (\d+)% of its bytes \(sampled\) are not UTF-8 text", result.stderr)
    assert match and int(match.group(1)) > 40, result.stderr[-2000:]
    clean = run("create_pretraining_data.py", *data_flags(), "--dupe_factor=1",
                f"--output_file={tmp_path / 'c.tfrecord'}")
    assert clean.returncode == 0 and "not UTF-8 text" not in clean.stderr


def test_a_3mb_line_without_newlines_takes_seconds(tmp_path):
    words = need(BOOK).read_text("utf-8", "ignore").split()
    line = " ".join(words * (3_000_000 // (len(" ".join(words)) + 1) + 1))[:3_000_000]
    text = tmp_path / "one_line.txt"
    text.write_text(line + "\n")
    began = time.perf_counter()
    result = run("create_pretraining_data.py", *data_flags(text), "--dupe_factor=2",
                 f"--output_file={tmp_path / 'o.tfrecord'}")
    took = time.perf_counter() - began
    assert result.returncode == 0, result.stderr[-2000:]
    assert took < 20, f"{took:.1f}s for a 3 MB line (about 2 s expected; quadratic was 20-45 s)"


def test_a_vocab_with_a_duplicate_token_is_refused(tmp_path):
    lines = need(UNCASED_VOCAB).read_text("utf-8").splitlines()
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(lines + ["the"]) + "\n")
    line = error_line(run("create_pretraining_data.py", f"--input_file={need(SAMPLE)}",
                          f"--vocab_file={vocab}", f"--output_file={tmp_path / 'o.tfrecord'}"))
    assert f"{vocab}: the token 'the' is listed twice, on lines {lines.index('the') + 1} and " \
           f"{len(lines) + 1}" in line
    assert sorted(os.listdir(tmp_path)) == ["vocab.txt"]


# ---------------------------------------------------------------------- signals
def _long_text(tmp_path):
    """About 840 documents of 4,000 words (18 MB): a job that runs for several seconds."""
    words = need(BOOK).read_text("utf-8", "ignore").split()
    text = tmp_path / "long.txt"
    text.write_text("\n\n".join(" ".join(words[i:i + 4000]) for i in range(0, len(words), 100)) + "\n")
    return text


def _wait_for(job, text):
    """Read the job's log until `text` appears (the job is then mid-way); returns what was read."""
    seen = []
    for line in job.stderr:
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError(f"the job ended before {text!r}:\n{''.join(seen)[-3000:]}")


def _sigint_as_in_a_terminal():
    """A job started from a terminal gets Ctrl-C; one started in the background by a shell
    without job control (`nohup ... &`, as a CI runner may start the suite) inherits SIGINT
    ignored, and Python then leaves it ignored: the test must not depend on which."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("how", ["ctrl_c_parallel", "sigterm_reference"])
def test_a_stopped_data_job_says_so_and_leaves_nothing(tmp_path, how):
    out = tmp_path / "out"
    if how == "ctrl_c_parallel":  # Ctrl-C reaches the whole process group in a terminal
        job = start("create_pretraining_data.py", *data_flags(_long_text(tmp_path)), "--mode=parallel",
                    "--num_workers=2", f"--output_dir={out}", "--num_output_shards=4",
                    start_new_session=True, preexec_fn=_sigint_as_in_a_terminal)
        before = _wait_for(job, "shards 1/4")  # one shard written, the others under way
        os.killpg(job.pid, signal.SIGINT)
        status, message = 130, "interrupted (Ctrl-C)"
    else:
        job = start("create_pretraining_data.py", *data_flags(_long_text(tmp_path)),
                    f"--output_file={out}/o.tfrecord")
        before = _wait_for(job, "creating instances")
        job.send_signal(signal.SIGTERM)
        status, message = 143, "stopped (SIGTERM)"
    _, after = job.communicate(timeout=60)
    stderr = before + after
    assert job.returncode == status and "Traceback" not in stderr, stderr[-3000:]
    assert message in stderr
    assert not out.exists() or os.listdir(out) == [], os.listdir(out)


# ---------------------------------------------------------------------- checkpoints and models
def test_a_truncated_safetensors_file_is_named(tmp_path):
    from bert_tf.config import preset
    from safetensors.numpy import save_file
    (tmp_path / "config.json").write_text(json.dumps(preset("micro").to_hf_dict()))
    save_file({"embeddings.word_embeddings.weight": np.zeros([1000, 64], np.float32)},
              str(tmp_path / "model.safetensors"))
    whole = (tmp_path / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(whole[:len(whole) // 2])
    line = error_line(run("convert_checkpoint.py", f"--hf_model_dir={tmp_path}",
                          f"--tf1_checkpoint={tmp_path}/out/bert_model.ckpt"))
    assert f"{tmp_path}/model.safetensors: cannot read it" in line and "fetch it again" in line
    assert not (tmp_path / "out").exists()


def test_export_with_another_label_count_advises_num_labels(tiny_bert_dir, tmp_path):
    from bert_tf import checkpoints
    arrays = checkpoints.read_tf1(str(tiny_bert_dir / "bert_model.ckpt"))
    hidden = arrays["bert/pooler/dense/kernel"].shape[0]
    arrays.update(output_weights=np.zeros([2, hidden], np.float32),
                  output_bias=np.zeros([2], np.float32))
    checkpoints.write_tf1(str(tmp_path / "two_labels.ckpt"), arrays)
    line = error_line(run("export_savedmodel.py", "--task=classifier", "--num_labels=3",
                          f"--init_checkpoint={tmp_path}/two_labels.ckpt",
                          f"--bert_config_file={tiny_bert_dir}/bert_config.json",
                          f"--vocab_file={tiny_bert_dir}/vocab.txt", f"--export_dir={tmp_path}/export"))
    assert "output_weights has shape (2, " in line and "pass --num_labels=2" in line
    assert "--bert_config_file" not in line
    assert not (tmp_path / "export").exists()
