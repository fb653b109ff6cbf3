"""The demo's chance baseline: share of the most frequent masked token (padding ignored)."""
import subprocess
import sys

import pytest
import tensorflow as tf

from bert_tf.data.mlm_baseline import most_frequent_token_accuracy


def write_records(path, rows):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for ids, weights in rows:
            feature = {"masked_lm_ids": tf.train.Feature(int64_list=tf.train.Int64List(value=ids)),
                       "masked_lm_weights": tf.train.Feature(float_list=tf.train.FloatList(value=weights))}
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())


def test_counts_only_weighted_positions(tmp_path):
    write_records(tmp_path / "a.tfrecord", [([5, 5, 7, 0], [1, 1, 1, 0]), ([5, 9, 0, 0], [1, 1, 0, 0])])
    # token 5 at 3 of the 5 real masked positions; the padding id 0 (weight 0) is ignored
    assert most_frequent_token_accuracy([str(tmp_path / "a.tfrecord")]) == pytest.approx(0.6)


def test_cli_reads_a_folder_and_rejects_a_missing_path(tmp_path):
    write_records(tmp_path / "a.tfrecord", [([4, 4], [1, 1])])
    write_records(tmp_path / "b.tfrecord", [([4, 8], [1, 1])])
    run = [sys.executable, "-m", "bert_tf.data.mlm_baseline"]
    result = subprocess.run(run + [str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0.750"
    result = subprocess.run(run + [str(tmp_path / "nope")], capture_output=True, text=True)
    assert result.returncode == 2
    assert "nope: not a pretraining TFRecord file" in result.stderr
