"""tf.data input for the runner: file sharding per worker, shuffle, repeat, batch, prefetch.

Which files a script reads is `bert_tf.files`; how a record becomes tensors is the task's
`parse`; this module is the pipeline between the two.

Training input is deterministic for a seed (file order, interleave and shuffle are seeded
and order-preserving), and its iterator is saved in checkpoints, so a resumed run reads
exactly the records an uninterrupted run would have read next.

With a `bucketing.BucketSpec`, batches hold examples of one length bucket, cut to that
bucket's length (`bucketed_training`, `bucketed_inference`); see `bert_tf.bucketing`.
"""

import os

import numpy as np
import tensorflow as tf
from absl import logging

from bert_tf import bucketing, records


def compression_of(path):
    return "GZIP" if path.endswith(".gz") else None


ID_SAMPLE = 100  # records of each file whose token ids are checked against the vocab size


def check_pretraining_files(files, max_seq_length, max_predictions_per_seq, use_v2_feature_names=False,
                            vocab_size=None):
    """The first record of each file must have the schema the flags describe, and the token
    ids of its first ID_SAMPLE records must fit the model's `vocab_size` (data made with
    another vocab would fail part-way through training on a CPU, and read zeros on a GPU)."""
    spec = records.pretraining_feature_spec(max_seq_length, max_predictions_per_seq, use_v2_feature_names)
    for path in files:
        if os.path.getsize(path) == 0:
            raise records.RecordSchemaError(f"{path}: the file is empty")
        try:
            first = records.read_examples(path, compression_of(path), limit=ID_SAMPLE if vocab_size else 1)
        except tf.errors.DataLossError as e:
            raise records.CorruptedInputError(_corrupted(path, e)) from e
        except tf.errors.OpError as e:
            raise records.RecordSchemaError(f"{path}: not a readable TFRecord file ({e.message.splitlines()[0]})") from e
        if not first:
            raise records.RecordSchemaError(f"{path}: the file holds no records")
        _check_schema(path, first[0], spec, max_seq_length, use_v2_feature_names)
        if vocab_size:
            _check_ids(path, first, vocab_size, use_v2_feature_names)


def _check_ids(path, examples, vocab_size, use_v2_feature_names):
    names = ("input_word_ids" if use_v2_feature_names else "input_ids", "masked_lm_ids")
    for index, example in enumerate(examples):
        largest = max(max(example[name], default=0) for name in names)
        if largest >= vocab_size:
            raise records.RecordSchemaError(
                f"{path}: record {index} holds token id {largest}, but the model's vocab_size is "
                f"{vocab_size} (--bert_config_file): the data was made with another vocab; re-create it "
                f"with the model's vocab.txt (the first {len(examples)} records of each file were checked)")


def _check_schema(path, first, spec, max_seq_length, use_v2_feature_names):
    found = {name: len(values) for name, values in first.items()}
    missing = [name for name in spec if name not in found]
    if missing:
        raise records.RecordSchemaError(
            f"{path}: not pretraining data of this schema: it lacks {', '.join(missing)} "
            f"(it has {', '.join(sorted(found))})"
            + ("; try --use_v2_feature_names" if "input_word_ids" in found else ""))
    for name, feature in spec.items():
        if found[name] != feature.shape[0]:
            flag = "--max_seq_length" if feature.shape[0] == max_seq_length else "--max_predictions_per_seq"
            raise records.RecordSchemaError(
                f"{path}: {name} has length {found[name]} but {flag}={feature.shape[0]}; the "
                f"data was made with a different {flag}: pass the value it was created with")


def locate_corruption(files):
    """The first record of `files` that fails its checksum, as one line naming the file and
    the offset TensorFlow reports; None when every file reads whole. Reads every file: for
    the message after training met a corrupted record, not before it."""
    for path in files:
        try:
            tf.data.TFRecordDataset(path, compression_type=compression_of(path)).reduce(
                tf.constant(0, tf.int64), lambda count, _: count + 1)
        except tf.errors.DataLossError as e:
            return _corrupted(path, e)
    return None


def _corrupted(path, error):
    return (f"{path}: corrupted input record ({error.message.splitlines()[0]}); re-create this file "
            "(create_pretraining_data.py) or leave it out")


def record_dataset(files, input_context, is_training, seed=12345, shard_by_record=False,
                   shuffle_buffer=1000):
    """Serialized records of this worker's share: shuffled and repeated for training.

    Workers read disjoint files (or, with `shard_by_record` and always for evaluation,
    every n-th record), so together they see each record once per epoch.
    """
    by_record = shard_by_record or not is_training
    mine = files if by_record else input_context.shard_files(files)
    compression = compression_of(mine[0])
    dataset = tf.data.Dataset.from_tensor_slices(mine)
    if not is_training:
        return input_context.shard_records(tf.data.TFRecordDataset(dataset, compression_type=compression))
    dataset = dataset.shuffle(len(mine), seed=seed).repeat()
    dataset = dataset.interleave(lambda f: tf.data.TFRecordDataset(f, compression_type=compression),
                                 cycle_length=min(4, len(mine)))
    if by_record:
        dataset = input_context.shard_records(dataset)
    return dataset.shuffle(shuffle_buffer, seed=seed + 1)


def input_fn(files, parse, batch_size, is_training, seed=12345, shard_by_record=False,
             buckets=None, max_batches=None, whole_batches=False):
    """input_fn(params, input_context) over TFRecords: `parse` maps a batch of serialized
    records to the task's tensors (`task.parse`). Training batches are whole (the last,
    partial one is dropped); evaluation and prediction keep the last, partial batch.
    Fine-tuning data is usually one file, so its workers share it by record.

    buckets: a `bucketing.BucketSpec` to batch by length (training always shares the
    records by record then). max_batches: evaluation reads only the records of that many
    batches in all, shared by the workers (as Google's `--max_eval_steps`). whole_batches:
    bucketed prediction fills each bucket's last batch with rows marked EXAMPLE_INDEX -1
    (dropped by `bucketing.in_input_order`), so each bucket compiles one shape only.
    """
    files = [files] if isinstance(files, str) else list(files)

    def make(params, input_context):
        if buckets is not None and is_training:
            return bucketed_training(files, parse, buckets, batch_size, input_context, seed)
        dataset = record_dataset(files, input_context, is_training, seed, shard_by_record)
        if max_batches is not None and not is_training:
            dataset = dataset.take(-(-max_batches // input_context.num_input_pipelines) * batch_size)
        if buckets is not None:
            return bucketed_inference(dataset, parse, buckets, batch_size, whole_batches)
        dataset = dataset.batch(batch_size, drop_remainder=is_training)
        return dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(2)

    return make


# ---------------------------------------------------------------------- length buckets
def record_lengths(records_dataset, max_seq_length):
    """The real token count of every record of a dataset of serialized records, in order
    (one pass over them)."""
    lengths = records_dataset.batch(4096).map(lambda raw: records.parse_lengths(raw, max_seq_length))
    return np.concatenate([[]] + [batch.numpy() for batch in lengths]).astype(np.int64)


def _cut(features, names, length):
    """The per-token features cut to `length` positions (the records are padded further)."""
    return {k: v[:, :length] if k in names else v for k, v in features.items()}


def _log_buckets(kind, boundaries, ids):
    counts = np.bincount(ids, minlength=len(boundaries))
    logging.info("%s batched by length: %s", kind,
                 ", ".join(f"{n} examples padded to {b}" for b, n in zip(boundaries, counts) if n))


def bucketed_inference(dataset, parse, spec, batch_size, whole_batches=False):
    """Batches of one bucket each, every example carrying its position in `dataset`
    (`bucketing.EXAMPLE_INDEX`): the predictions are put back in input order from it. The
    last batch of each bucket is partial, or with `whole_batches` filled up with zero rows
    whose position is -1."""
    lengths = record_lengths(dataset, spec.max_seq_length)
    boundaries = spec.resolve(lengths)
    ids = bucketing.bucket_ids(lengths, boundaries)
    _log_buckets("inference input", boundaries, ids)
    data = tf.data.Dataset.zip((tf.data.Dataset.range(len(ids)), dataset,
                                tf.data.Dataset.from_tensor_slices(ids)))
    data = data.group_by_window(key_func=lambda index, raw, bucket: bucket,
                                reduce_func=lambda key, window: window.batch(batch_size),
                                window_size=batch_size)
    bucket_lengths = tf.constant(boundaries, tf.int32)

    def features(index, raw, bucket):
        out = _cut(parse(raw), spec.sequence_fields, bucket_lengths[bucket[0]])
        out[bucketing.EXAMPLE_INDEX] = index
        return _whole(out, batch_size) if whole_batches else out

    return data.map(features, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(2)


def _whole(features, batch_size):
    """A partial batch filled up to `batch_size` rows: zeros, and position -1."""
    missing = batch_size - tf.shape(features[bucketing.EXAMPLE_INDEX])[0]
    out = {}
    for name, value in features.items():
        fill = -1 if name == bucketing.EXAMPLE_INDEX else 0
        padded = tf.pad(value, [[0, missing]] + [[0, 0]] * (value.shape.rank - 1), constant_values=fill)
        out[name] = tf.ensure_shape(padded, [batch_size] + value.shape[1:])
    return out


def bucketed_training(files, parse, spec, batch_size, input_context, seed=12345, shuffle_buffer=1000):
    """Endless training batches of one bucket each, in a seeded order every worker shares.

    Every worker reads the lengths of all records, so all derive the same buckets and the
    same per-epoch list of bucket batches (`bucketing.training_schedule`). Each bucket is its
    own stream of this worker's records (every n-th), repeated, shuffled (seed + 1 + bucket)
    and batched; the order of buckets is that list shuffled anew each epoch from `seed`, so
    every worker takes the same bucket length at the same step. Deterministic for a seed,
    and the iterator (checkpointed) resumes it exactly.
    """
    records_dataset = tf.data.TFRecordDataset(files, compression_type=compression_of(files[0]))
    lengths = record_lengths(records_dataset, spec.max_seq_length)
    boundaries = spec.resolve(lengths)
    ids, per_epoch = bucketing.training_schedule(bucketing.bucket_ids(lengths, boundaries), len(boundaries),
                                                 batch_size, input_context.num_input_pipelines)
    _log_buckets("training input", boundaries, ids)
    mine = input_context.shard_records(
        tf.data.Dataset.zip((records_dataset, tf.data.Dataset.from_tensor_slices(ids))))
    used = [b for b in range(len(boundaries)) if per_epoch[b]]

    def stream(b):
        def in_bucket(raw, bucket):
            return bucket == b

        def record(raw, bucket):
            return raw

        data = mine.filter(in_bucket).map(record)
        data = data.repeat().shuffle(shuffle_buffer, seed=seed + 1 + b)
        data = data.batch(batch_size, drop_remainder=True)
        return data.map(lambda raw: _cut(parse(raw), spec.sequence_fields, boundaries[b]),
                        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    schedule = np.repeat(np.arange(len(used), dtype=np.int64), per_epoch[used])
    order = tf.data.Dataset.from_tensor_slices(schedule).shuffle(
        len(schedule), seed=seed, reshuffle_each_iteration=True).repeat()
    return tf.data.Dataset.choose_from_datasets([stream(b) for b in used], order).prefetch(2)


def pretraining_input_fn(files, max_seq_length, max_predictions_per_seq, batch_size, is_training,
                         seed=12345, use_v2_feature_names=False, shard_by_record=False, **kwargs):
    """`input_fn` over pretraining TFRecords (Google's schema, or Model Garden's names);
    `kwargs` as `input_fn` takes them (buckets, max_batches)."""
    def parse(raw):
        return records.parse_pretraining(raw, max_seq_length, max_predictions_per_seq,
                                         use_v2_feature_names)
    return input_fn(files, parse, batch_size, is_training, seed, shard_by_record, **kwargs)
