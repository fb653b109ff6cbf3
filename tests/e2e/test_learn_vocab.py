"""learn_vocab.py as a user runs it, then the data script on the learned vocab."""

import os
import subprocess
import sys

from conftest import ROOT, need


def run(script, *flags):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, str(ROOT / script), *flags], capture_output=True,
                          text=True, env=env, timeout=600)


def test_learned_vocab_feeds_create_pretraining_data(tmp_path):
    book = need("pretrain_text/gutenberg_nltk/chesterton-brown.txt")
    result = run("learn_vocab.py", f"--input_file={book}", f"--output_file={tmp_path}/vocab.txt",
                 "--vocab_size=4000")
    assert result.returncode == 0, result.stderr[-2000:]
    tokens = (tmp_path / "vocab.txt").read_text().split("\n")[:-1]
    assert tokens[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] and len(tokens) <= 4000
    result = run("create_pretraining_data.py", f"--input_file={book}", f"--vocab_file={tmp_path}/vocab.txt",
                 f"--output_file={tmp_path}/data.tfrecord", "--dupe_factor=1")
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "data.tfrecord").stat().st_size > 100000


def test_learn_vocab_bad_input(tmp_path):
    result = run("learn_vocab.py", f"--input_file={tmp_path}/none*.txt", f"--output_file={tmp_path}/v.txt")
    assert result.returncode == 2 and "nothing matches" in result.stderr
    assert not (tmp_path / "v.txt").exists()
