"""extract_features.py against Google's extract_features.py (bert-tensorflow 1.0.4) as an oracle:
same tokens, same layout, values within 1e-4, on real lines with a random Google-layout model."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, UNCASED_VOCAB, need, run_oracle
from bert_tf import checkpoints
from bert_tf.config import preset
from bert_tf.errors import DataError, UserError
from bert_tf.features import extract_features
from bert_tf.heads import BertModel

MAX_SEQ = 32  # the long lines and the pair are truncated


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """A random 4-layer micro model as a Google TF1 checkpoint, and an input file of real lines:
    Unicode/CJK, long Gutenberg sentences, a `|||` pair, a blank line."""
    folder = tmp_path_factory.mktemp("extract")
    config = preset("micro", vocab_size=30522, num_hidden_layers=4)
    model = BertModel(config).build_for()
    rng = np.random.default_rng(0)
    for name, variable in model.tf1_weights().items():
        base = 1.0 if name.endswith("gamma") else 0.0
        variable.assign(base + rng.normal(0, 0.1, variable.shape).astype(np.float32))
    prefix = folder / "bert_model.ckpt"
    checkpoints.save_tf1(model, str(prefix), config, str(need(UNCASED_VOCAB)))
    text = [line.strip() for line in
            need("pretrain_text/sample_text.txt").read_text("utf-8").splitlines() if line.strip()]
    lines = text[:4] + [f"{text[4]} ||| {text[5]}", "", "Short one. ||| And its pair."] + text[6:8]
    (folder / "input.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    flags = {"input_file": folder / "input.txt", "vocab_file": folder / "vocab.txt",
             "bert_config_file": folder / "bert_config.json", "init_checkpoint": prefix,
             "max_seq_length": MAX_SEQ, "batch_size": 4}
    return folder, flags, len(lines)


def read_jsonl(path):
    return [json.loads(line) for line in open(path, encoding="utf-8")]


def assert_same(ours, google, layers=None):
    """Same lines, tokens and layer indexes; values within 1e-4 (`layers`: ours -> Google's)."""
    assert [r["linex_index"] for r in ours] == [r["linex_index"] for r in google]
    worst = 0.0
    for mine, theirs in zip(ours, google):
        assert [f["token"] for f in mine["features"]] == [f["token"] for f in theirs["features"]]
        for a, b in zip(mine["features"], theirs["features"]):
            by_index = {layer["index"]: layer["values"] for layer in b["layers"]}
            for layer in a["layers"]:
                want = by_index[(layers or {}).get(layer["index"], layer["index"])]
                worst = max(worst, np.max(np.abs(np.subtract(layer["values"], want))))
    assert worst < 1e-4, worst
    return worst


def run_script(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    return subprocess.run([sys.executable, str(ROOT / "extract_features.py"), *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=300)


def test_matches_googles_extract_features(job):
    folder, flags, num_lines = job
    args = [f"--{k}={v}" for k, v in flags.items()]
    run_oracle("google_extract_features.py", *args, f"--output_file={folder / 'google.jsonl'}")
    result = run_script(*args, f"--output_file={folder / 'ours.jsonl'}", "--use_xla")
    assert result.returncode == 0, result.stderr[-3000:]
    google, ours = read_jsonl(folder / "google.jsonl"), read_jsonl(folder / "ours.jsonl")
    assert len(ours) == num_lines
    # the layout, key order included, is Google's
    assert list(ours[0]) == ["linex_index", "features"]
    assert list(ours[0]["features"][0]) == ["token", "layers"]
    assert [layer["index"] for layer in ours[0]["features"][0]["layers"]] == [-1, -2, -3, -4]
    assert len(ours[0]["features"][0]["layers"][0]["values"]) == 32
    assert [f["token"] for f in ours[5]["features"]] == ["[CLS]", "[SEP]"]  # the blank line
    assert sum(len(r["features"]) == MAX_SEQ for r in ours) >= 3  # truncation happened
    pair = [f["token"] for f in ours[4]["features"]]
    assert pair.count("[SEP]") == 2 and len(pair) == MAX_SEQ
    assert_same(ours, google)

    # in-process, no XLA, other layers: layer 0 is Google's -4
    count = extract_features(**{k: str(v) if k.endswith(("file", "checkpoint")) else v
                                for k, v in flags.items()},
                             output_file=str(folder / "two.jsonl"), layers="0,-1")
    assert count == num_lines
    assert_same(read_jsonl(folder / "two.jsonl"), google, layers={0: -4})


def test_length_buckets_give_the_padded_features_in_input_order(job):
    """The script ran its lines in length buckets (the default); padded to --max_seq_length
    throughout, the same lines give the same values to float tolerance, in the same order."""
    folder, flags, num_lines = job
    flags = {k: str(v) if k.endswith(("file", "checkpoint")) else v for k, v in flags.items()}
    for name, bucketed, boundaries in (("padded", False, ()), ("given", True, (8, 16, 24))):
        assert extract_features(**flags, output_file=str(folder / f"{name}.jsonl"),
                                bucket_by_length=bucketed, bucket_boundaries=boundaries) == num_lines
    padded = read_jsonl(folder / "padded.jsonl")
    for name in ("ours", "given"):
        worst = assert_same(read_jsonl(folder / f"{name}.jsonl"), padded)
        assert worst <= 5e-6, (name, worst)  # a float's noise, rounded to 6 places


def test_bad_input_names_the_flag(job, tmp_path):
    _, flags, _ = job
    flags = {k: str(v) if k.endswith(("file", "checkpoint")) else v for k, v in flags.items()}
    out = str(tmp_path / "out.jsonl")
    with pytest.raises(UserError, match=r"--layers=-1,4: layer 4 does not exist in a 4-layer "
                                        r"model \(use 0..3 or -4..-1\)"):
        extract_features(**flags, output_file=out, layers="-1,4")
    with pytest.raises(UserError, match="--layers='last': expected comma-separated"):
        extract_features(**flags, output_file=out, layers="last")
    (tmp_path / "empty.txt").write_text("\n  \n")
    with pytest.raises(DataError, match="--input_file=.*empty.txt: no text in it"):
        extract_features(**dict(flags, input_file=str(tmp_path / "empty.txt")), output_file=out)
    with pytest.raises(UserError, match="--max_seq_length=200 must be between 3 and "
                                        "max_position_embeddings=128"):
        extract_features(**dict(flags, max_seq_length=200), output_file=out)
    with pytest.raises(checkpoints.CheckpointError, match="no checkpoint there"):
        extract_features(**dict(flags, init_checkpoint=str(tmp_path / "none.ckpt")),
                         output_file=out)
    assert os.listdir(tmp_path) == ["empty.txt"]

    result = run_script(*(f"--{k}={v}" for k, v in flags.items()),
                        f"--input_file={tmp_path / 'missing.txt'}", f"--output_file={out}")
    assert result.returncode == 2, result.stderr[-3000:]
    assert "--input_file=" in result.stderr and "missing.txt: cannot read it" in result.stderr
    assert not os.path.exists(out)
