"""Length buckets: the boundaries flag, the lengths chosen from data, the training schedule
workers share, and putting predictions back in input order (no TensorFlow)."""

import numpy as np
import pytest

from bert_tf import bucketing
from bert_tf.errors import UserError


def test_boundaries_flag_is_parsed_and_bad_lists_are_clear_errors():
    assert bucketing.parse_boundaries("", 128) == ()
    assert bucketing.parse_boundaries("32, 64,128", 128) == (32, 64, 128)
    with pytest.raises(UserError, match=r"^--bucket_boundaries=64,32: bucket lengths must be in "
                                        r"increasing order, each once \(e.g. 32,64\)$"):
        bucketing.parse_boundaries("64,32", 128)
    with pytest.raises(UserError, match="must be in increasing order, each once"):
        bucketing.parse_boundaries("32,32", 128)
    with pytest.raises(UserError, match=r"^--bucket_boundaries=64,256: 256 is above "
                                        r"--max_seq_length=128; "):
        bucketing.parse_boundaries("64,256", 128)
    with pytest.raises(UserError, match="expected comma-separated sequence lengths"):
        bucketing.parse_boundaries("64;128", 128)
    with pytest.raises(UserError, match="must be positive"):
        bucketing.parse_boundaries("0,64", 128)


def _padded(lengths, boundaries):
    return sum(boundaries[b] for b in bucketing.bucket_ids(lengths, boundaries))


def test_chosen_boundaries_pad_least_with_at_most_four_multiples_of_8():
    rng = np.random.default_rng(0)
    lengths = np.append(np.clip(rng.normal(53, 14, 3000).astype(int), 12, 100), 101)  # MRPC-like
    chosen = bucketing.choose_boundaries(lengths, 128, bucket_cost=0)
    assert len(chosen) == bucketing.MAX_BUCKETS and list(chosen) == sorted(chosen)
    assert all(b % 8 == 0 for b in chosen) and chosen[-1] == 104  # holds the longest, no more
    # no other choice of up to four multiples of 8 pads less (checked exhaustively)
    import itertools
    candidates = list(range(8, 104, 8))
    best = min(_padded(lengths, combo + (104,)) for k in range(4)
               for combo in itertools.combinations(candidates, k))
    assert _padded(lengths, chosen) == best
    # each bucket costs tokens (a compilation): on few examples fewer buckets pay
    assert len(bucketing.choose_boundaries(lengths, 128)) == 3
    assert len(bucketing.choose_boundaries(lengths[:1200], 128)) == 2
    assert bucketing.choose_boundaries(lengths[:400], 128) == (96,)  # the longest of these is 96
    # --max_seq_length is a candidate even when it is not a multiple of 8
    assert bucketing.choose_boundaries([3, 4, 100], 100)[-1] == 100
    assert bucketing.choose_boundaries([5, 5, 5], 128) == (8,)


def test_user_boundaries_get_max_seq_length_when_an_example_is_longer():
    spec = bucketing.BucketSpec(128, (), (32, 64))
    assert spec.resolve([10, 60]) == (32, 64)
    assert spec.resolve([10, 70]) == (32, 64, 128)
    assert list(bucketing.bucket_ids([1, 32, 33, 64, 65], (32, 64, 128))) == [0, 0, 1, 1, 2]


def test_training_schedule_is_one_list_for_every_worker_and_merges_small_buckets():
    rng = np.random.default_rng(1)
    ids = rng.choice(4, size=1000, p=[0.5, 0.3, 0.19, 0.01])
    merged, per_epoch = bucketing.training_schedule(ids, 4, batch_size=8, num_workers=2)
    # the longest bucket (about 10 examples) cannot fill a batch on each worker: it takes the
    # one below it, so no example is left out and every example keeps a bucket at least its own
    assert per_epoch[3] > 0 and per_epoch[2] == 0 and not np.any(merged == 2)
    assert np.all(merged >= ids)
    for w in range(2):  # every worker holds at least its batches of each bucket
        share = np.bincount(merged[w::2], minlength=4)
        assert np.all(share >= per_epoch * 8)
    assert per_epoch.sum() >= 1000 // 16 - 4
    # a too-small bucket in the middle goes to the next longer one
    merged, per_epoch = bucketing.training_schedule([0] * 40 + [1] * 3 + [2] * 40, 3, 8, 1)
    assert list(per_epoch) == [5, 0, 5] and list(merged[40:43]) == [2, 2, 2]
    with pytest.raises(UserError, match="make no batch of 32 on each of 2 worker"):
        bucketing.training_schedule([0] * 40, 1, 32, 2)


def test_in_input_order_sorts_by_the_example_index_and_drops_it_and_padding_rows():
    rows = [{"p": 2, bucketing.EXAMPLE_INDEX: 2}, {"p": 0, bucketing.EXAMPLE_INDEX: 0},
            {"p": 9, bucketing.EXAMPLE_INDEX: -1}, {"p": 1, bucketing.EXAMPLE_INDEX: 1}]
    assert bucketing.in_input_order(rows) == [{"p": 0}, {"p": 1}, {"p": 2}]
    assert bucketing.in_input_order([{"p": 1}, {"p": 0}]) == [{"p": 1}, {"p": 0}]
