"""Files appear whole or not at all: no temporary file survives a failure of any kind, errors
name the user's path, and our temporary names are recognized for readers and cleaners."""

import errno
import os
import subprocess
import sys
import time

import pytest

from bert_tf import atomic, records
from bert_tf.data import pretraining_job
from bert_tf.errors import UserError
from conftest import FillingFile


def leftovers(folder):
    return sorted(os.listdir(folder))


def test_a_failing_block_leaves_nothing(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic.open_text(str(target)) as f:
            f.write("half")
            raise RuntimeError("bad record")
    assert leftovers(tmp_path) == []
    atomic.write_text(str(target), "whole\n")
    assert leftovers(tmp_path) == ["out.txt"] and target.read_text() == "whole\n"


def test_a_missing_folder_is_named_by_the_users_path_not_the_temporary_one(tmp_path):
    target = str(tmp_path / "missing" / "vocab.txt")
    with pytest.raises(FileNotFoundError) as caught:
        atomic.write_text(target, "x")
    assert caught.value.filename == target
    with pytest.raises(FileNotFoundError) as caught:
        records.write_all(target, [b"x"])
    assert caught.value.filename == target


def test_a_directory_at_the_target_is_refused_before_anything_is_written(tmp_path):
    (tmp_path / "d").mkdir()
    for write in (lambda p: atomic.write_text(p, "x"), lambda p: records.write_all(p, [b"x"])):
        with pytest.raises(IsADirectoryError) as caught:
            write(str(tmp_path / "d"))
        assert caught.value.filename == str(tmp_path / "d")
        assert leftovers(tmp_path) == ["d"] and leftovers(tmp_path / "d") == []


def test_disk_full_mid_write_removes_the_partial_file_and_names_the_target(small_disk, tmp_path,
                                                                          monkeypatch):
    folder = small_disk or tmp_path
    if small_disk is None:  # no tmpfs here: the records module's files fill after 4 KiB
        monkeypatch.setattr(records, "open", FillingFile, raising=False)
    target = str(folder / "big.tfrecord")
    with pytest.raises(OSError) as caught:
        records.write_all(target, (bytes(1000) for _ in range(3000)))  # 3 MB > 1 MiB
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == target
    assert leftovers(folder) == []
    if small_disk is not None:
        with pytest.raises(OSError) as caught:
            atomic.write_text(str(folder / "big.txt"), "x" * 3_000_000)
        assert caught.value.errno == errno.ENOSPC
        assert caught.value.filename == str(folder / "big.txt")
        assert leftovers(folder) == []


def test_several_outputs_one_unopenable_leaves_none_of_them(tmp_path):
    (tmp_path / "b.tfrecord").mkdir()
    outputs = [str(tmp_path / n) for n in ("a.tfrecord", "b.tfrecord", "c.tfrecord")]
    with pytest.raises(IsADirectoryError):
        pretraining_job.write_records([b"r"] * 6, outputs)
    assert leftovers(tmp_path) == ["b.tfrecord"]


def test_outputs_that_would_be_empty_are_not_written_and_old_ones_removed(tmp_path):
    outputs = [str(tmp_path / f"{n}.tfrecord") for n in "abc"]
    (tmp_path / "c.tfrecord").write_bytes(b"an earlier run's file")
    written, empty = pretraining_job.write_records([b"r1", b"r2"], outputs)
    assert written == outputs[:2] and empty == outputs[2:]
    assert leftovers(tmp_path) == ["a.tfrecord", "b.tfrecord"]


def test_check_output_file_refuses_before_any_work(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_text("a file")
    with pytest.raises(UserError, match="is a directory"):
        atomic.check_output_file(str(tmp_path / "d"), "--output_file=d")
    with pytest.raises(UserError, match="is a file, not a folder"):
        atomic.check_output_file(str(tmp_path / "f" / "x.txt"))
    atomic.check_output_file(str(tmp_path / "new" / "x.txt"))  # a missing folder is made
    assert leftovers(tmp_path / "new") == []
    if os.path.isdir("/proc/self"):  # writable by permission bits for root, yet not writable
        with pytest.raises(UserError, match="cannot write in /proc"):
            atomic.check_output_file("/proc/x.tfrecord")


# ---------------------------------------------------------------------- our temporary names
def test_temporary_names_are_recognized_with_their_target_and_pid():
    name = atomic.temporary_name("/d/part-00000.tfrecord")
    assert atomic.temporary_target(name) == ("/d/part-00000.tfrecord", os.getpid())
    assert atomic.temporary_target("/d/bert_model.ckpt.tmp42.index") == ("/d/bert_model.ckpt.index", 42)
    assert atomic.temporary_target("d/m.ckpt.tmp7.data-00000-of-00001") == ("d/m.ckpt.data-00000-of-00001", 7)
    for finished in ("/d/a.tfrecord", "/d/a.tmp", "/d/a.tmpx12", "/d/tmp12", "/d/.tmp12", "/d/a.tmp12.gz"):
        assert not atomic.is_temporary(finished), finished
    assert atomic.is_temporary("/d/a.tfrecord.gz.tmp12")


def _dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_pid_alive():
    assert atomic.pid_alive(os.getpid())
    assert not atomic.pid_alive(_dead_pid())
    assert not atomic.pid_alive(0) and not atomic.pid_alive(-1)


def test_stale_temporaries_are_removed_and_nothing_else(tmp_path):
    dead, hour_ago = _dead_pid(), time.time() - 3600
    files = {
        "stale": f"a.tfrecord.tmp{dead}",
        "stale_ckpt": f"m.ckpt.tmp{dead}.index",
        "recent": f"b.tfrecord.tmp{dead}",  # its writer may live on another host
        "mine": f"c.tfrecord.tmp{os.getpid()}",
        "alive": f"d.tfrecord.tmp{os.getppid()}",
        "finished": "e.tfrecord",
    }
    for key, name in files.items():
        (tmp_path / name).write_bytes(b"x")
        if key != "recent":
            os.utime(tmp_path / name, (hour_ago, hour_ago))
    (tmp_path / f"folder.tmp{dead}").mkdir()  # folders are left alone
    assert atomic.is_stale(str(tmp_path / files["stale"]))
    assert not atomic.is_stale(str(tmp_path / files["recent"]))
    assert atomic.is_stale(str(tmp_path / files["recent"]), min_age_seconds=0)
    assert not atomic.is_stale(str(tmp_path / files["mine"]), min_age_seconds=0)
    assert not atomic.is_stale(str(tmp_path / files["alive"]), min_age_seconds=0)

    only_a = atomic.remove_stale_temporaries(str(tmp_path), targets=[str(tmp_path / "a.tfrecord")])
    assert only_a == [str(tmp_path / files["stale"])]
    removed = atomic.remove_stale_temporaries(str(tmp_path))
    assert removed == [str(tmp_path / files["stale_ckpt"])]
    assert sorted(leftovers(tmp_path)) == sorted(
        [files[k] for k in ("recent", "mine", "alive", "finished")] + [f"folder.tmp{dead}"])
    assert atomic.remove_stale_temporaries(str(tmp_path / "missing")) == []
