"""Every TFRecord schema of the project, in one place: writers and parsers cannot drift.

The pretraining schema is Google's (`create_pretraining_data.py` / `run_pretraining.py`);
`v2` names are Model Garden's (`input_word_ids`, `input_type_ids`).
"""

import dataclasses
import os

import tensorflow as tf


class RecordSchemaError(ValueError):
    """Records that do not match the schema the flags describe; names the file."""


@dataclasses.dataclass(frozen=True)
class Field:
    name: str
    v2_name: str
    dtype: str  # "int" or "float"
    length: str  # "seq", "pred" or "one"


PRETRAINING_FIELDS = (
    Field("input_ids", "input_word_ids", "int", "seq"),
    Field("input_mask", "input_mask", "int", "seq"),
    Field("segment_ids", "input_type_ids", "int", "seq"),
    Field("masked_lm_positions", "masked_lm_positions", "int", "pred"),
    Field("masked_lm_ids", "masked_lm_ids", "int", "pred"),
    Field("masked_lm_weights", "masked_lm_weights", "float", "pred"),
    Field("next_sentence_labels", "next_sentence_labels", "int", "one"),
)


def _int_feature(values):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))


def _float_feature(values):
    return tf.train.Feature(float_list=tf.train.FloatList(value=list(values)))


def pretraining_example(values, use_v2_feature_names=False):
    """{our field name: list} -> serialized tf.train.Example, fields in Google's order."""
    feature = {}
    for field in PRETRAINING_FIELDS:
        name = field.v2_name if use_v2_feature_names else field.name
        make = _int_feature if field.dtype == "int" else _float_feature
        feature[name] = make(values[field.name])
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def pretraining_feature_spec(max_seq_length, max_predictions_per_seq, use_v2_feature_names=False):
    lengths = {"seq": max_seq_length, "pred": max_predictions_per_seq, "one": 1}
    spec = {}
    for field in PRETRAINING_FIELDS:
        name = field.v2_name if use_v2_feature_names else field.name
        dtype = tf.int64 if field.dtype == "int" else tf.float32
        spec[name] = tf.io.FixedLenFeature([lengths[field.length]], dtype)
    return spec


def parse_pretraining(serialized, max_seq_length, max_predictions_per_seq,
                      use_v2_feature_names=False):
    """Serialized examples -> {our field name: tensor}, ints as int32 (what models take)."""
    spec = pretraining_feature_spec(max_seq_length, max_predictions_per_seq, use_v2_feature_names)
    parsed = tf.io.parse_example(serialized, spec) if serialized.shape.rank == 1 \
        else tf.io.parse_single_example(serialized, spec)
    out = {}
    for field in PRETRAINING_FIELDS:
        value = parsed[field.v2_name if use_v2_feature_names else field.name]
        out[field.name] = tf.cast(value, tf.int32) if value.dtype == tf.int64 else value
    return out


def describe_pretraining_record(path, compression=None):
    """(feature names, lengths) of the first record of a pretraining file, for error messages."""
    for raw in tf.data.TFRecordDataset(path, compression_type=compression).take(1):
        example = tf.train.Example.FromString(raw.numpy())
        return {name: len(getattr(f, f.WhichOneof("kind")).value)
                for name, f in example.features.feature.items()}
    return {}


class AtomicRecordWriter:
    """A TFRecord writer that writes `path.tmp...` and renames it to `path` on close()."""

    def __init__(self, path, gzip=False):
        self.path = path
        self.tmp = f"{path}.tmp{os.getpid()}"
        options = tf.io.TFRecordOptions(compression_type="GZIP") if gzip else None
        self._writer = tf.io.TFRecordWriter(self.tmp, options=options)
        self.count = 0

    def write(self, record):
        self._writer.write(record)
        self.count += 1

    def close(self):
        self._writer.close()
        os.replace(self.tmp, self.path)

    def abort(self):
        self._writer.close()
        if os.path.exists(self.tmp):
            os.remove(self.tmp)
