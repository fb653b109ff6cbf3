"""PyTorch `torch.save` files read into NumPy without PyTorch, and without running their code.

A `.pt` file is a pickle: unpickling calls whatever functions it names, so an untrusted file
can run any code. Here the pickle is read by an unpickler that knows only the names a saved
state dict uses (`torch._utils._rebuild_tensor_v2` and its relatives, the storage types,
`collections.OrderedDict`) and builds NumPy arrays for them itself; any other name (a class of
the training script, `os.system`, ...) stops the read with `UnsafePickleError` naming it, before
anything is called. Both of PyTorch's layouts are read: the zip archive (PyTorch >= 1.6:
`<name>/data.pkl` plus one `<name>/data/<key>` entry per storage) and the older stream of
pickles followed by the raw storages.

Tensors are lazy (`LazyTensor`): a storage is read from the file only when an array is asked
for, so taking the `model` entry of a training checkpoint does not read its optimizer state.
"""

import collections
import io
import pickle
import struct
import zipfile

import numpy as np

from bert_tf.errors import UserError


class TorchCheckpointError(UserError):
    """A .pt file that cannot be read as asked; the message names the file."""


class UnsafePickleError(TorchCheckpointError):
    """The pickle names a global outside the state-dict vocabulary; nothing of it was run."""


# Storage types of torch.save -> NumPy dtypes (bfloat16 is read as its 16 high bits).
_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16", "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
# torch dtypes as _rebuild_tensor_v3 names them (with an UntypedStorage of bytes).
_TORCH_DTYPES = {
    "float32": np.float32, "float": np.float32, "float64": np.float64, "double": np.float64,
    "float16": np.float16, "half": np.float16, "bfloat16": "bfloat16", "int64": np.int64,
    "long": np.int64, "int32": np.int32, "int": np.int32, "int16": np.int16, "int8": np.int8,
    "uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32, "uint64": np.uint64,
    "bool": np.bool_,
}
_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c


class _Sealed:
    """Objects the unpickler hands out: a pickle's BUILD opcode cannot change them."""

    def __setstate__(self, state):
        raise UnsafePickleError(f"the pickle tries to set the state of a {type(self).__name__}")


class _Function(_Sealed):
    """One of our rebuild functions, as the pickle sees it (sealed, unlike a function)."""

    def __init__(self, function):
        self._function = function

    def __call__(self, *args):
        return self._function(*args)


class _DType(_Sealed):
    """What the unpickler returns for `torch.FloatStorage`, `torch.float16`...: a dtype tag."""

    def __init__(self, name, dtype):
        self.name, self.dtype = name, dtype

    @property
    def itemsize(self):
        return 2 if self.dtype == "bfloat16" else np.dtype(self.dtype).itemsize


_UNTYPED = _DType("UntypedStorage", np.uint8)


class _Storage(_Sealed):
    """One storage of the file: where its bytes are, read on first use."""

    def __init__(self, read_bytes, dtype, numel, source):
        self._read_bytes, self.dtype, self.numel, self.source = read_bytes, dtype, numel, source
        self._data = None

    def data(self):
        if self._data is None:
            raw = self._read_bytes()
            if len(raw) < self.numel * self.dtype.itemsize:
                raise TorchCheckpointError(f"{self.source}: a storage is truncated "
                                           f"({len(raw)} bytes, expected "
                                           f"{self.numel * self.dtype.itemsize})")
            self._data = raw
        return self._data


class LazyTensor(_Sealed):
    """A tensor of the file: its storage, offset, shape and strides (in elements)."""

    def __init__(self, storage, offset, shape, stride, dtype=None):
        if not all(isinstance(x, tuple) and all(type(v) is int for v in x) for x in (shape, stride)):
            raise UnsafePickleError(f"{storage.source}: a tensor's shape or strides are not integers")
        if type(offset) is not int:
            raise UnsafePickleError(f"{storage.source}: a tensor's offset is not an integer")
        self.storage, self.offset, self.shape, self.stride = storage, offset, shape, stride
        self.dtype = dtype or storage.dtype
        if len(shape) != len(stride) or min(shape + (0,)) < 0 or min(stride + (0,)) < 0:
            raise TorchCheckpointError(f"{storage.source}: a tensor has a malformed shape "
                                       f"{shape} / strides {stride}")

    def numpy(self):
        """The tensor as a NumPy array (bfloat16 widened to float32); bounds are checked
        against the storage before any strided view is made."""
        dtype, raw = self.dtype, self.storage.data()
        itemsize = dtype.itemsize
        count = len(raw) // itemsize
        if 0 in self.shape:
            last = -1
        else:
            last = self.offset + sum((n - 1) * s for n, s in zip(self.shape, self.stride))
        if self.offset < 0 or last >= count:
            raise TorchCheckpointError(f"{self.storage.source}: a tensor of shape {self.shape} "
                                       f"reaches past its storage ({count} elements)")
        flat = np.frombuffer(raw, np.uint16 if dtype.dtype == "bfloat16" else dtype.dtype,
                             count=count)
        view = np.lib.stride_tricks.as_strided(flat[self.offset:] if count else flat,
                                               shape=self.shape,
                                               strides=[s * itemsize for s in self.stride],
                                               writeable=False)
        array = np.array(view)
        if dtype.dtype == "bfloat16":
            array = (array.astype(np.uint32) << 16).view(np.float32)
        return array


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None,
                       metadata=None):
    return LazyTensor(_expect_storage(storage), offset, size, stride)


def _rebuild_tensor(storage, offset, size, stride):
    return LazyTensor(_expect_storage(storage), offset, size, stride)


def _rebuild_tensor_v3(storage, offset, size, stride, requires_grad, hooks, dtype, metadata=None):
    storage = _expect_storage(storage)
    if not isinstance(dtype, _DType):
        raise UnsafePickleError(f"{storage.source}: _rebuild_tensor_v3 without a torch dtype")
    if storage.dtype is not _UNTYPED:
        return LazyTensor(storage, offset, size, stride)
    # An untyped storage counts bytes; the tensor's offset and strides count elements.
    typed = _Storage(storage.data, dtype, storage.numel // dtype.itemsize, storage.source)
    return LazyTensor(typed, offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, hooks=None, state=None):
    if not isinstance(data, LazyTensor):
        raise UnsafePickleError("_rebuild_parameter of something that is not a tensor")
    return data


def _expect_storage(storage):
    if not isinstance(storage, _Storage):
        raise UnsafePickleError("a tensor rebuilt from something that is not a storage of the file")
    return storage


def _encode(text, encoding="latin1"):
    """`_codecs.encode`, as protocol 2 pickles bytes; latin-1 only."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError("_codecs.encode with an unexpected argument")
    return text.encode("latin1")


# Every name a state dict's pickle uses, resolved to our own sealed objects.
_GLOBALS = {
    ("collections", "OrderedDict"): _Function(collections.OrderedDict),
    ("torch._utils", "_rebuild_tensor_v2"): _Function(_rebuild_tensor_v2),
    ("torch._utils", "_rebuild_tensor_v3"): _Function(_rebuild_tensor_v3),
    ("torch._utils", "_rebuild_tensor"): _Function(_rebuild_tensor),
    ("torch._utils", "_rebuild_parameter"): _Function(_rebuild_parameter),
    ("torch._utils", "_rebuild_parameter_with_state"): _Function(_rebuild_parameter),
    ("torch.storage", "UntypedStorage"): _UNTYPED,
    ("torch", "UntypedStorage"): _UNTYPED,
    ("_codecs", "encode"): _Function(_encode),
}
_GLOBALS.update({("torch", name): _DType(name, dtype) for name, dtype in _STORAGE_DTYPES.items()})
_GLOBALS.update({("torch", name): _DType(name, dtype) for name, dtype in _TORCH_DTYPES.items()})


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the names in _GLOBALS (to our own functions); storages come from
    `storage_for(persistent id)`."""

    def __init__(self, data, source, storage_for=None):
        super().__init__(io.BytesIO(data) if isinstance(data, bytes) else data)
        self.source, self._storage_for = source, storage_for

    def find_class(self, module, name):
        found = _GLOBALS.get((module, name))
        if found is None:
            raise UnsafePickleError(
                f"{self.source}: refused to unpickle `{module}.{name}`: only tensors, their "
                "storages and plain containers are read from a .pt file (other objects could "
                "run code as they load); keep only the state dict, e.g. with PyTorch: "
                "torch.save({'model': torch.load(FILE, weights_only=True)['model']}, 'weights.pt')")
        return found

    def persistent_load(self, pid):
        if self._storage_for is None:
            raise UnsafePickleError(f"{self.source}: a persistent id outside the tensor data")
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise UnsafePickleError(f"{self.source}: an unexpected persistent id {pid[:1]!r}")
        return self._storage_for(pid)


def _storage_args(pid, source):
    if len(pid) < 5 or not isinstance(pid[1], _DType) or not isinstance(pid[4], int):
        raise UnsafePickleError(f"{source}: a malformed storage reference")
    return pid[1], str(pid[2]), pid[4]


# ---------------------------------------------------------------------- the two layouts
def _load_zip(path, archive):
    names = archive.namelist()
    pickles = [n for n in names if n == "data.pkl" or n.endswith("/data.pkl")]
    if len(pickles) != 1:
        raise TorchCheckpointError(f"{path}: a zip file, but not one torch.save wrote "
                                   "(no single data.pkl in it)")
    prefix = pickles[0][:-len("data.pkl")]
    big_endian = (prefix + "byteorder" in names
                  and archive.read(prefix + "byteorder").strip() == b"big")
    storages = {}

    def storage_for(pid):
        dtype, key, numel = _storage_args(pid, path)
        if key not in storages:
            entry = f"{prefix}data/{key}"
            if entry not in names:
                raise TorchCheckpointError(f"{path}: storage {key} is missing from the archive")
            read = (lambda e=entry: _swap(archive.read(e), dtype) if big_endian
                    else archive.read(e))
            storages[key] = _Storage(read, dtype, numel, path)
        return storages[key]

    return _RestrictedUnpickler(archive.read(pickles[0]), path, storage_for).load()


def _swap(raw, dtype):
    if dtype.itemsize == 1:
        return raw
    code = "<u2" if dtype.dtype == "bfloat16" else np.dtype(dtype.dtype).newbyteorder(">")
    return np.frombuffer(raw, code).byteswap().tobytes()


def _load_legacy(path, f):
    """PyTorch's layout before 1.6: magic, protocol, system info, the object, the storage
    keys, then each storage as an int64 element count and its bytes."""
    header = [_RestrictedUnpickler(f, path).load() for _ in range(3)]
    if header[0] != _LEGACY_MAGIC or not isinstance(header[2], dict):
        raise TorchCheckpointError(f"{path}: not a file torch.save wrote (neither a zip archive "
                                   "nor PyTorch's older layout)")
    if not header[2].get("little_endian", True):
        raise TorchCheckpointError(f"{path}: written on a big-endian machine; not supported")
    storages, views = {}, []

    def storage_for(pid):
        dtype, key, numel = _storage_args(pid, path)
        if key not in storages:
            storages[key] = _Storage(None, dtype, numel, path)
        view = pid[5] if len(pid) > 5 else None
        if view is None:
            return storages[key]
        view_key, offset, size = view  # a view on the root storage, in elements
        part = _Storage(None, dtype, size, path)
        views.append((part, storages[key], int(offset)))
        return part

    obj = _RestrictedUnpickler(f, path, storage_for).load()
    keys = _RestrictedUnpickler(f, path).load()
    if not isinstance(keys, list):
        raise TorchCheckpointError(f"{path}: malformed storage list")
    for key in keys:
        count = struct.unpack("<q", f.read(8))[0]
        storage = storages.get(str(key))
        if storage is None:
            raise TorchCheckpointError(f"{path}: storage {key} is not referenced")
        start = f.tell()
        f.seek(count * storage.dtype.itemsize, io.SEEK_CUR)
        storage._read_bytes = _reader(path, start, count * storage.dtype.itemsize)
    for part, root, offset in views:
        size = part.dtype.itemsize
        part._read_bytes = (lambda r=root, o=offset, n=part.numel, s=size:
                            r.data()[o * s:(o + n) * s])
    return obj


def _reader(path, start, length):
    def read():
        with open(path, "rb") as f:
            f.seek(start)
            return f.read(length)
    return read


def load(path):
    """The object a torch.save file holds, with tensors as LazyTensor (never running code)."""
    path = str(path)
    try:
        if zipfile.is_zipfile(path):
            # kept open by the storages' readers until they are dropped
            return _load_zip(path, zipfile.ZipFile(path))
        with open(path, "rb") as f:
            return _load_legacy(path, f)
    except UserError:
        raise
    except OSError as e:
        raise TorchCheckpointError(f"{path}: cannot read the file ({e.strerror})") from e
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError,
            struct.error, zipfile.BadZipFile) as e:
        raise TorchCheckpointError(f"{path}: not a readable torch.save file ({e})") from e


def read_state_dict(path):
    """{name: ndarray} of a PyTorch BERT file: the `model` entry of a training checkpoint
    (NVIDIA's `{'model': ..., 'optimizer': ...}`), a `state_dict` entry, or a bare state
    dict. Floating tensors come back as float32 (fp16 and bfloat16 are widened exactly)."""
    obj = load(path)
    state = obj
    if isinstance(obj, dict) and not _is_state_dict(obj):
        for key in ("model", "state_dict"):
            if isinstance(obj.get(key), dict) and _is_state_dict(obj[key]):
                state = obj[key]
                break
        else:
            raise TorchCheckpointError(f"{path}: holds no state dict (its entries: "
                                       f"{', '.join(map(str, list(obj)[:8]))}); expected a "
                                       "'model' entry or a bare state dict")
    elif not isinstance(obj, dict):
        raise TorchCheckpointError(f"{path}: holds a {type(obj).__name__}, not a state dict")
    arrays = {}
    for name, tensor in state.items():
        array = tensor.numpy()
        arrays[name] = array.astype(np.float32) if array.dtype.kind == "f" else array
    return arrays


def _is_state_dict(obj):
    return bool(obj) and all(isinstance(k, str) and isinstance(v, LazyTensor) for k, v in obj.items())
