"""tf.data input for the runner: file sharding per worker, shuffle, repeat, batch, prefetch.

Which files a script reads is `bert_tf.files`; how a record becomes tensors is the task's
`parse`; this module is the pipeline between the two.

Training input is deterministic for a seed (file order, interleave and shuffle are seeded
and order-preserving), and its iterator is saved in checkpoints, so a resumed run reads
exactly the records an uninterrupted run would have read next.
"""

import os

import tensorflow as tf

from bert_tf import records


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


def input_fn(files, parse, batch_size, is_training, seed=12345, shard_by_record=False):
    """input_fn(params, input_context) over TFRecords: `parse` maps a batch of serialized
    records to the task's tensors (`task.parse`). Training batches are whole (the last,
    partial one is dropped); evaluation and prediction keep the last, partial batch.
    Fine-tuning data is usually one file, so its workers share it by record."""
    files = [files] if isinstance(files, str) else list(files)

    def make(params, input_context):
        dataset = record_dataset(files, input_context, is_training, seed, shard_by_record)
        dataset = dataset.batch(batch_size, drop_remainder=is_training)
        return dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(2)

    return make


def pretraining_input_fn(files, max_seq_length, max_predictions_per_seq, batch_size, is_training,
                         seed=12345, use_v2_feature_names=False, shard_by_record=False):
    """`input_fn` over pretraining TFRecords (Google's schema, or Model Garden's names)."""
    def parse(raw):
        return records.parse_pretraining(raw, max_seq_length, max_predictions_per_seq,
                                         use_v2_feature_names)
    return input_fn(files, parse, batch_size, is_training, seed, shard_by_record)
