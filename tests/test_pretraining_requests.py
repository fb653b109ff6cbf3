"""bert_tf.pretraining: flags that ask for something the run would not do are refused before
anything is built (the script turns each into one `error:` line and exit 2). Named apart from
tests/data/test_pretraining.py, the data job's tests."""

import pytest

from bert_tf.errors import UserError
from bert_tf.pretraining import _check_requests
from bert_tf.settings import PretrainingSettings


@pytest.mark.parametrize("flags, message", [
    ({}, "nothing to do"),
    ({"do_train": True, "bucket_by_length": True}, "--bucket_by_length"),
    ({"do_train": True, "eval_all_checkpoints": True}, "--eval_all_checkpoints evaluates"),
    ({"do_eval": True, "export_tf1_dir": "out"}, "--export_tf1_dir writes the weights a training run"),
    ({"do_train": True, "vocab_file": "vocab.txt"}, "--vocab_file is copied beside --export_tf1_dir"),
])
def test_requests_the_run_would_not_do_are_refused(flags, message):
    with pytest.raises(UserError, match=message):
        _check_requests(PretrainingSettings(**flags))


def test_the_requests_it_does_pass():
    _check_requests(PretrainingSettings(do_train=True, export_tf1_dir="out", vocab_file="vocab.txt"))
    _check_requests(PretrainingSettings(do_eval=True, bucket_by_length=True, eval_all_checkpoints=True))
