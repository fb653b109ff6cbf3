"""The tf.data pipeline's length buckets on real MRPC records: inference gives every example
once, cut only to its bucket and marked with its input position; training draws one bucket
per batch in a seeded order that every worker shares, and its iterator resumes exactly."""

import numpy as np
import pytest
import tensorflow as tf

from bert_tf import bucketing, input_pipeline, records
from bert_tf.distribute.strategy import InputContext

SEQ = 128
SPEC = bucketing.BucketSpec(SEQ, records.sequence_fields(records.classifier_fields()))


def parse(raw):
    return records.parse_classifier(raw, SEQ)


@pytest.fixture(scope="module")
def mrpc(mrpc_records):
    """(path, every record parsed padded) of the MRPC records (conftest)."""
    padded = next(iter(tf.data.TFRecordDataset(mrpc_records).batch(10000).map(parse)))
    return mrpc_records, {k: v.numpy() for k, v in padded.items()}


def test_inference_batches_hold_one_bucket_cut_to_its_length_with_input_positions(mrpc):
    path, padded = mrpc
    lengths = padded["input_mask"].sum(1)
    boundaries = SPEC.resolve(lengths)
    assert 2 <= len(boundaries) <= bucketing.MAX_BUCKETS and boundaries[-1] < SEQ
    batches = list(input_pipeline.input_fn(path, parse, 32, is_training=False, buckets=SPEC)(
        None, InputContext()))
    seen = []
    for batch in batches:
        index = batch[bucketing.EXAMPLE_INDEX].numpy()
        width = batch["input_ids"].shape[1]
        bucket = boundaries.index(width)
        lower = boundaries[bucket - 1] if bucket else 0
        assert np.all((lengths[index] > lower) & (lengths[index] <= width))
        for name in ("input_ids", "input_mask", "segment_ids"):  # the padded record, cut
            np.testing.assert_array_equal(batch[name].numpy(), padded[name][index, :width])
            assert not padded[name][index, width:].any()
        np.testing.assert_array_equal(batch["label_ids"].numpy(), padded["label_ids"][index])
        seen.extend(index)
    assert sorted(seen) == list(range(len(lengths)))
    assert sum(len(b["input_ids"]) < 32 for b in batches) <= len(boundaries)  # one partial per bucket
    # prediction: the partial batches filled up with zero rows at position -1
    whole = list(input_pipeline.input_fn(path, parse, 32, is_training=False, buckets=SPEC,
                                         whole_batches=True)(None, InputContext()))
    assert len(whole) == len(batches) and all(len(b["input_ids"]) == 32 for b in whole)
    index = np.concatenate([b[bucketing.EXAMPLE_INDEX].numpy() for b in whole])
    assert sorted(index[index >= 0]) == list(range(len(lengths)))
    filler = [b["input_mask"].numpy()[b[bucketing.EXAMPLE_INDEX].numpy() < 0] for b in whole]
    assert sum(len(f) for f in filler) == 32 * len(whole) - len(lengths) and not any(f.any() for f in filler)


def test_evaluation_reads_the_same_records_bucketed_or_padded(mrpc):
    path, padded = mrpc
    labels = {}
    for buckets in (None, SPEC):
        make = input_pipeline.input_fn(path, parse, 16, is_training=False, buckets=buckets,
                                       max_batches=5)
        for rank in range(2):  # two workers: 3 batches each of every other record
            data = list(make(None, InputContext(rank, 2)))
            labels[buckets, rank] = sorted(np.concatenate([b["label_ids"].numpy() for b in data]))
            if buckets is None:
                assert len(data) == 3
    for rank in range(2):
        assert len(labels[None, rank]) == 48 and labels[None, rank] == labels[SPEC, rank]


def _widths(iterator, steps):
    return [int(next(iterator)["input_ids"].shape[1]) for _ in range(steps)]


def test_training_buckets_are_seeded_shared_by_workers_and_resume_exactly(mrpc, tmp_path):
    path, padded = mrpc
    lengths = padded["input_mask"].sum(1)

    def iterator(seed, rank=0, workers=1):
        make = input_pipeline.input_fn(path, parse, 16, is_training=True, seed=seed, buckets=SPEC)
        return iter(make(None, InputContext(rank, workers)))

    worker_0, worker_1 = iterator(7, 0, 2), iterator(7, 1, 2)
    first, second = _widths(worker_0, 60), _widths(worker_1, 60)
    assert first == second and len(set(first)) >= 2  # the same bucket at every step
    assert first != _widths(iterator(8, 0, 2), 60)  # the seed orders the buckets
    again = iterator(7)
    widths = _widths(again, 30)
    assert widths == _widths(iterator(7), 30)
    # every batch is 16 real examples of its bucket
    batch = next(again)
    width = batch["input_ids"].shape[1]
    assert batch["input_ids"].shape[0] == 16 and batch["input_mask"].numpy().sum(1).max() <= width
    assert width in SPEC.resolve(lengths)
    # the iterator's state is a checkpoint: restored, it goes on as it went on the first time
    checkpoint = tf.train.Checkpoint(iterator=again)
    saved = checkpoint.write(str(tmp_path / "input"))
    expected = [next(again)["input_ids"].numpy() for _ in range(12)]
    checkpoint.read(saved)
    for want in expected:
        np.testing.assert_array_equal(next(again)["input_ids"].numpy(), want)
