"""FineTuning.cached_records under several workers: every worker meets the chief at the
barrier, whether the features were converted now or found finished (a worker that saw a
finished file and went on left the chief alone in the barrier: a hung Horovod SQuAD run)."""

import types

import pytest

from bert_tf import feature_cache
from bert_tf.finetuning import FineTuning


class Worker:
    def __init__(self, is_chief):
        self.is_chief, self.barriers = is_chief, 0

    def barrier(self):
        self.barriers += 1


def fine_tuning(tmp_path, is_chief):
    run = FineTuning.__new__(FineTuning)  # no flags or model needed for the cache's logic
    run.settings = types.SimpleNamespace(output_dir=str(tmp_path))
    run.strategy = Worker(is_chief)
    return run


@pytest.mark.parametrize("finished_before", [False, True])
@pytest.mark.parametrize("is_chief", [True, False])
def test_every_worker_meets_the_barrier_once(tmp_path, is_chief, finished_before):
    if finished_before or not is_chief:  # a non-chief only ever finds the chief's file
        feature_cache.write(str(tmp_path / "eval.tf_record"), [b"x", b"y"], {"settings": {"seq": 8}})
    run = fine_tuning(tmp_path, is_chief)
    converted = []

    def serialized():
        converted.append(True)
        return [b"x", b"y"]

    path, info = run.cached_records("eval", {"seq": 8}, serialized)
    assert run.strategy.barriers == 1
    assert info["num_features"] == 2 and path.endswith("eval.tf_record")
    assert converted == ([True] if is_chief and not finished_before else [])
