"""PyTorch .pt files without PyTorch: NVIDIA-style checkpoints written by the real torch.save
read back exactly, and a pickle that names anything else is refused by name, unrun."""

import io
import os
import pickle
import struct
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from bert_tf import torch_checkpoint
from bert_tf.torch_checkpoint import TorchCheckpointError, UnsafePickleError
from conftest import ROOT, bench_python

sys.path.insert(0, str(ROOT / "tests" / "oracles"))
import nvidia_bert_weights  # noqa: E402

COMMITTED = ROOT / "tests" / "golden" / "torch"
# file -> (heads, dtype the tensors were saved in, name prefix)
FILES = {"nvidia_fp32.pt": ("pretraining", "float32", ""),
         "nvidia_fp16_module.pt": ("pretraining", "float16", "module."),
         "nvidia_fp32_legacy.pt": ("pretraining", "float32", ""),
         "nvidia_squad_bf16.pt": ("squad", "bfloat16", "")}


def rounded(array, dtype):
    """float32 values as a tensor of `dtype` holds them (bfloat16: round to nearest even)."""
    if dtype == "bfloat16":
        bits = array.astype(np.float32).view(np.uint32)
        bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 << 16
        return bits.astype(np.uint32).view(np.float32)
    return array.astype(dtype).astype(np.float32)


def expected_state(file):
    heads, dtype, prefix = FILES[file]
    return {prefix + k: rounded(v, dtype) for k, v in nvidia_bert_weights.weights(heads=heads).items()}


@pytest.fixture(scope="module", params=["committed", "fresh"])
def torch_files(request, tmp_path_factory):
    """The committed fixtures (CI has no PyTorch), and files written now by torch.save in the
    bench env where there is one."""
    if request.param == "committed":
        return COMMITTED
    python = bench_python()
    if python is None:
        pytest.skip("no bench env with torch: the committed fixtures stand in")
    out = tmp_path_factory.mktemp("torch_files")
    subprocess.run([str(python), str(ROOT / "tests" / "oracles" / "make_torch_checkpoints.py"), str(out)],
                   check=True, capture_output=True, timeout=300)
    return out


@pytest.mark.parametrize("file", sorted(FILES))
def test_torch_save_files_read_exactly(torch_files, file):
    state = torch_checkpoint.read_state_dict(torch_files / file)
    want = expected_state(file)
    tied = {f"{FILES[file][2]}cls.predictions.decoder.weight"} if FILES[file][0] == "pretraining" else set()
    assert set(state) == set(want) | tied
    for name, value in want.items():
        assert state[name].dtype == np.float32
        np.testing.assert_array_equal(state[name], value, err_msg=name)
    for name in tied:  # the decoder shares the word-embedding storage
        np.testing.assert_array_equal(state[name], state[name.replace(
            "cls.predictions.decoder", "bert.embeddings.word_embeddings")])


def test_training_checkpoint_entries_are_lazy(torch_files):
    """The optimizer's tensors of a training checkpoint are not read for the model entry."""
    obj = torch_checkpoint.load(torch_files / "nvidia_fp32.pt")
    assert set(obj) == {"model", "optimizer", "grad_scaler", "epoch"}
    exp_avg = obj["optimizer"]["state"][0]["exp_avg"]
    assert exp_avg.shape == (3, 4) and exp_avg.storage._data is None
    assert obj["grad_scaler"] == {"scale": 65536.0, "_growth_tracker": 3}


# ---------------------------------------------------------------------- hostile and broken files
class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def as_torch_zip(path, pickled, storages=None):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickled)
        for key, data in (storages or {}).items():
            archive.writestr(f"archive/data/{key}", data)
        archive.writestr("archive/version", "3\n")
    return path


def as_legacy(path, pickled):
    with open(path, "wb") as f:
        for header in (0x1950a86a20f9469cfc6c, 1001, {"little_endian": True}):
            pickle.dump(header, f, protocol=2)
        f.write(pickled)
    return path


@pytest.mark.parametrize("layout", ["zip", "legacy"])
def test_a_pickle_that_would_run_code_is_refused_by_name(tmp_path, layout):
    marker = tmp_path / "it_ran"
    evil = pickle.dumps({"model": Evil(marker)}, protocol=2)
    path = (as_torch_zip if layout == "zip" else as_legacy)(tmp_path / "evil.pt", evil)
    with pytest.raises(UnsafePickleError, match=r"refused to unpickle `posix\.system`"):
        torch_checkpoint.read_state_dict(path)
    assert not marker.exists()
    # an object of the training script (NVIDIA's older checkpoints pickle the DataLoader)
    loader = b"\x80\x02}X\x0b\x00\x00\x00data_loaderctorch.utils.data.dataloader\nDataLoader\n)Rs."
    with pytest.raises(UnsafePickleError, match=r"`torch\.utils\.data\.dataloader\.DataLoader`"):
        torch_checkpoint.load(as_torch_zip(tmp_path / "loader.pt", loader))


def _str(text):
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def _tuple(*items):
    return b"(" + b"".join(items) + b"t"


def _int(n):
    return b"K" + bytes([n])


def tensor_pickle(numel, size, stride, offset=0):
    """{'w': _rebuild_tensor_v2(float storage '0' of `numel`, offset, size, stride, ...)}."""
    storage = _tuple(_str("storage"), b"ctorch\nFloatStorage\n", _str("0"), _str("cpu"), _int(numel))
    args = _tuple(storage + b"Q", _int(offset), _tuple(*map(_int, size)), _tuple(*map(_int, stride)),
                  b"\x89", b"ccollections\nOrderedDict\n)R")
    return b"\x80\x02}" + _str("w") + b"ctorch._utils\n_rebuild_tensor_v2\n" + args + b"Rs."


def test_views_are_read_and_bounds_are_checked(tmp_path):
    data = np.arange(6, dtype=np.float32).tobytes()
    ok = as_torch_zip(tmp_path / "ok.pt", tensor_pickle(6, (2, 2), (1, 2), offset=1), {"0": data})
    np.testing.assert_array_equal(torch_checkpoint.read_state_dict(ok)["w"], [[1, 3], [2, 4]])
    past = as_torch_zip(tmp_path / "past.pt", tensor_pickle(6, (2,), (9,)), {"0": data})
    with pytest.raises(TorchCheckpointError, match="reaches past its storage"):
        torch_checkpoint.read_state_dict(past)
    short = as_torch_zip(tmp_path / "short.pt", tensor_pickle(6, (6,), (1,)), {"0": data[:8]})
    with pytest.raises(TorchCheckpointError, match="truncated"):
        torch_checkpoint.read_state_dict(short)
    with pytest.raises(TorchCheckpointError, match="storage 0 is missing"):
        torch_checkpoint.read_state_dict(as_torch_zip(tmp_path / "none.pt", tensor_pickle(6, (6,), (1,))))


def test_a_pickle_cannot_change_the_readers_objects(tmp_path):
    """BUILD (set an object's state) on what the unpickler hands out is refused: a dtype tag
    shared by every later read, or a tensor whose strides were checked when it was made."""
    retag = b"\x80\x02ctorch\nFloatStorage\n}" + _str("dtype") + _str("float64") + b"sb."
    with pytest.raises(UnsafePickleError, match="set the state of a _DType"):
        torch_checkpoint.load(as_torch_zip(tmp_path / "retag.pt", retag))
    data = np.arange(6, dtype=np.float32).tobytes()
    restride = tensor_pickle(6, (2,), (1,))[:-2] + b"}" + _str("stride") + _tuple(_int(200)) + b"sbs."
    with pytest.raises(UnsafePickleError, match="set the state of a LazyTensor"):
        torch_checkpoint.load(as_torch_zip(tmp_path / "restride.pt", restride, {"0": data}))
    np.testing.assert_array_equal(  # nothing shared was changed
        torch_checkpoint.read_state_dict(as_torch_zip(tmp_path / "ok.pt", tensor_pickle(6, (2,), (1,)),
                                                      {"0": data}))["w"], [0, 1])


def test_files_that_are_not_state_dicts_are_named(tmp_path):
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(TorchCheckpointError, match="text.pt: not a readable torch.save file"):
        torch_checkpoint.read_state_dict(tmp_path / "text.pt")
    other = as_torch_zip(tmp_path / "other.pt", pickle.dumps({"epoch": 3, "files": ["a"]}, protocol=2))
    with pytest.raises(TorchCheckpointError, match=r"holds no state dict \(its entries: epoch, files\)"):
        torch_checkpoint.read_state_dict(other)
    with pytest.raises(TorchCheckpointError, match="cannot read the file"):
        torch_checkpoint.read_state_dict(tmp_path / "absent.pt")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello")
    (tmp_path / "zip.pt").write_bytes(buffer.getvalue())
    with pytest.raises(TorchCheckpointError, match="no single data.pkl"):
        torch_checkpoint.read_state_dict(tmp_path / "zip.pt")
