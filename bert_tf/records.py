"""Every TFRecord schema of the project, in one place: writers and parsers cannot drift.

The pretraining schema is Google's (`create_pretraining_data.py` / `run_pretraining.py`);
`v2` names are Model Garden's (`input_word_ids`, `input_type_ids`).

Writing needs no TensorFlow: `encode_example` builds the `tf.train.Example` protobuf bytes
directly and `RecordWriter` frames them as TFRecords (CRC32C via google-crc32c), so data
workers stay small (importing TensorFlow alone costs about 600 MB of memory per process).
Parsing uses TensorFlow and imports it on first use.
"""

import dataclasses
import gzip
import os
import struct

import google_crc32c

from bert_tf import atomic
from bert_tf.errors import UserError


class RecordSchemaError(UserError):
    """Records that do not match the schema the flags describe; names the file."""


class CorruptedInputError(RecordSchemaError):
    """A record failed its checksum while training; the caller, who knows the files, names
    the file and the offset (`input_pipeline.locate_corruption`)."""


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


# ---------------------------------------------------------------------- protobuf encoding
def _varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


_SMALL_VARINTS = [_varint(i) for i in range(1 << 17)]


def varint(n):
    """Protobuf varint of a non-negative int (cached below 2**17: every vocab id we know)."""
    if n < 0:
        raise ValueError(f"cannot encode negative value {n} in this schema")
    return _SMALL_VARINTS[n] if n < (1 << 17) else _varint(n)


def _length_delimited(tag, payload):
    return tag + varint(len(payload)) + payload


def _int64_feature(values):
    packed = b"".join([varint(v) for v in values])
    return _length_delimited(b"\x1a", _length_delimited(b"\x0a", packed))  # Feature.int64_list


def _float_feature(values):
    packed = struct.pack(f"<{len(values)}f", *values)
    return _length_delimited(b"\x12", _length_delimited(b"\x0a", packed))  # Feature.float_list


def encode_example(features):
    """{name: ("int"|"float", values)} -> serialized tf.train.Example, in the given order."""
    entries = []
    for name, (dtype, values) in features.items():
        feature = _int64_feature(values) if dtype == "int" else _float_feature(values)
        entry = _length_delimited(b"\x0a", name.encode("utf-8")) + _length_delimited(b"\x12", feature)
        entries.append(_length_delimited(b"\x0a", entry))  # Features.feature map entry
    return _length_delimited(b"\x0a", b"".join(entries))  # Example.features


def pretraining_example(values, use_v2_feature_names=False):
    """{our field name: list} -> serialized tf.train.Example, fields in Google's order."""
    return encode_example({(f.v2_name if use_v2_feature_names else f.name): (f.dtype, values[f.name])
                           for f in PRETRAINING_FIELDS})


class PretrainingEncoder:
    """Serializes pretraining instances straight from tokens, padded as Google pads.

    The same bytes `pretraining_example` would make from the padded id lists, built from
    per-token varints cached for the vocab: this is the data job's inner loop.
    """

    def __init__(self, vocab, max_seq_length, max_predictions_per_seq, use_v2_feature_names=False):
        self.max_seq_length = max_seq_length
        self.max_predictions_per_seq = max_predictions_per_seq
        self._token = {token: varint(index) for token, index in vocab.items()}
        self._small = [varint(i) for i in range(max_seq_length)]
        self._names = [_length_delimited(b"\x0a", (f.v2_name if use_v2_feature_names else f.name).encode())
                       for f in PRETRAINING_FIELDS]
        self._prefixes = {}

    def encode(self, tokens, segment_ids, masked_positions, masked_labels, is_random_next):
        pad = self.max_seq_length - len(tokens)
        pred_pad = self.max_predictions_per_seq - len(masked_positions)
        if pad < 0 or pred_pad < 0:
            raise ValueError(f"instance of {len(tokens)} tokens / {len(masked_positions)} "
                             "predictions does not fit the schema")
        token = self._token.__getitem__
        packed = (
            b"".join(map(token, tokens)) + b"\x00" * pad,
            b"\x01" * len(tokens) + b"\x00" * pad,
            bytes(segment_ids) + b"\x00" * pad,
            b"".join(map(self._small.__getitem__, masked_positions)) + b"\x00" * pred_pad,
            b"".join(map(token, masked_labels)) + b"\x00" * pred_pad,
            _ONE_FLOAT * len(masked_positions) + _ZERO_FLOAT * pred_pad,
            b"\x01" if is_random_next else b"\x00",
        )
        body = b"".join([self._prefix(i, len(values)) + values for i, values in enumerate(packed)])
        return b"\x0a" + varint(len(body)) + body

    def _prefix(self, field_index, size):
        """Everything of a map entry before its packed values: depends only on their size."""
        key = (field_index, size)
        prefix = self._prefixes.get(key)
        if prefix is None:
            kind = b"\x1a" if PRETRAINING_FIELDS[field_index].dtype == "int" else b"\x12"
            value_list = b"\x0a" + varint(size)
            feature = kind + varint(len(value_list) + size) + value_list
            entry_value = b"\x12" + varint(len(feature) + size) + feature
            entry = self._names[field_index] + entry_value
            prefix = self._prefixes[key] = b"\x0a" + varint(len(entry) + size) + entry
        return prefix


_ONE_FLOAT = struct.pack("<f", 1.0)
_ZERO_FLOAT = struct.pack("<f", 0.0)


# ---------------------------------------------------------------------- TFRecord files
def _masked_crc(data):
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frame_record(data):
    """One TFRecord: length, masked CRC32C of the length, data, masked CRC32C of the data."""
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", _masked_crc(length)) + data + struct.pack("<I", _masked_crc(data))


class RecordWriter:
    """Writes TFRecords to `path.tmp<pid>` and renames to `path` on close(); abort() removes it.

    Whatever fails (opening the file, a full disk mid-write, the last flush on close, the
    rename) removes the temporary file or leaves it to abort(), and the OSError names `path`,
    the user's file, not the temporary name.
    """

    def __init__(self, path, gzip_compress=False):
        atomic.refuse_directory(path)
        self.path = path
        self.tmp = atomic.temporary_name(path)
        self.count = 0
        try:
            self._file = gzip.open(self.tmp, "wb") if gzip_compress else open(self.tmp, "wb")
        except OSError as e:
            atomic.remove_quietly(self.tmp)
            raise atomic.naming_target(e, self.tmp, path)

    def write(self, record):
        try:
            self._file.write(frame_record(record))
        except OSError as e:
            raise atomic.naming_target(e, self.tmp, self.path)
        self.count += 1

    def close(self):
        try:
            self._file.close()
            os.replace(self.tmp, self.path)
        except OSError as e:
            atomic.remove_quietly(self.tmp)
            raise atomic.naming_target(e, self.tmp, self.path)

    def abort(self):
        try:
            self._file.close()  # may fail again on a full disk: the file is removed regardless
        except OSError:
            pass
        atomic.remove_quietly(self.tmp)


def write_all(path, serialized, gzip_compress=False):
    """Write an iterable of serialized examples as one TFRecord file, atomically; the count."""
    writer = RecordWriter(path, gzip_compress)
    try:
        for record in serialized:
            writer.write(record)
    except BaseException:
        writer.abort()
        raise
    writer.close()
    return writer.count


# ---------------------------------------------------------------------- parsing (TensorFlow)
def sequence_fields(fields):
    """The per-token fields of a schema (length "seq"): what length bucketing cuts to a
    batch's bucket length (`bert_tf.bucketing`)."""
    return tuple(f.name for f in fields if f.length == "seq")


def parse_lengths(serialized, max_seq_length):
    """Serialized records of any schema here (a batch) -> their real token counts, the sum of
    `input_mask` (every schema has it, under that name, padded to max_seq_length)."""
    import tensorflow as tf
    spec = {"input_mask": tf.io.FixedLenFeature([max_seq_length], tf.int64)}
    return tf.reduce_sum(tf.io.parse_example(serialized, spec)["input_mask"], axis=1)


def pretraining_feature_spec(max_seq_length, max_predictions_per_seq, use_v2_feature_names=False):
    import tensorflow as tf
    lengths = {"seq": max_seq_length, "pred": max_predictions_per_seq, "one": 1}
    spec = {}
    for field in PRETRAINING_FIELDS:
        name = field.v2_name if use_v2_feature_names else field.name
        dtype = tf.int64 if field.dtype == "int" else tf.float32
        spec[name] = tf.io.FixedLenFeature([lengths[field.length]], dtype)
    return spec


def parse_pretraining(serialized, max_seq_length, max_predictions_per_seq,
                      use_v2_feature_names=False):
    """Serialized example(s) -> {our field name: tensor}, ints as int32 (what models take)."""
    import tensorflow as tf
    spec = pretraining_feature_spec(max_seq_length, max_predictions_per_seq, use_v2_feature_names)
    if serialized.shape.rank == 1:
        parsed = tf.io.parse_example(serialized, spec)
    else:
        parsed = tf.io.parse_single_example(serialized, spec)
    out = {}
    for field in PRETRAINING_FIELDS:
        value = parsed[field.v2_name if use_v2_feature_names else field.name]
        out[field.name] = tf.cast(value, tf.int32) if value.dtype == tf.int64 else value
    return out


def read_examples(path, compression=None, limit=None):
    """Records of a TFRecord file -> [{feature name: list}] (tests and error messages)."""
    import tensorflow as tf
    out = []
    dataset = tf.data.TFRecordDataset(path, compression_type=compression)
    for raw in dataset.take(limit) if limit else dataset:
        example = tf.train.Example.FromString(raw.numpy())
        out.append({name: list(getattr(f, f.WhichOneof("kind")).value)
                    for name, f in example.features.feature.items()})
    return out


# ---------------------------------------------------------------------- SQuAD features
# Google's run_squad.py FeatureWriter / input_fn_builder names; `v2_name` is Model Garden's.
SQUAD_FIELDS = (
    Field("unique_ids", "unique_ids", "int", "one"),
    Field("input_ids", "input_word_ids", "int", "seq"),
    Field("input_mask", "input_mask", "int", "seq"),
    Field("segment_ids", "input_type_ids", "int", "seq"),
)
SQUAD_TRAINING_FIELDS = (
    Field("start_positions", "start_positions", "int", "one"),
    Field("end_positions", "end_positions", "int", "one"),
    Field("is_impossible", "is_impossible", "int", "one"),
)


def squad_fields(is_training):
    """The fields of a SQuAD feature record: the targets only in training files."""
    return SQUAD_FIELDS + (SQUAD_TRAINING_FIELDS if is_training else ())


def squad_feature_example(feature, is_training):
    """`bert_tf.data.squad.InputFeatures` -> serialized tf.train.Example, Google's fields."""
    values = {"unique_ids": [feature.unique_id], "input_ids": feature.input_ids,
              "input_mask": feature.input_mask, "segment_ids": feature.segment_ids}
    if is_training:
        values.update(start_positions=[feature.start_position],
                      end_positions=[feature.end_position],
                      is_impossible=[1 if feature.is_impossible else 0])
    return encode_example({f.name: (f.dtype, values[f.name]) for f in squad_fields(is_training)})


def squad_feature_spec(max_seq_length, is_training):
    """Google's name_to_features: scalars for "one" fields, [max_seq_length] for the rest."""
    import tensorflow as tf
    return {f.name: tf.io.FixedLenFeature([max_seq_length] if f.length == "seq" else [], tf.int64)
            for f in squad_fields(is_training)}


def parse_squad(serialized, max_seq_length, is_training):
    """Serialized SQuAD example(s) -> {field name: int32 tensor}, as Google's _decode_record."""
    import tensorflow as tf
    spec = squad_feature_spec(max_seq_length, is_training)
    if serialized.shape.rank == 1:
        parsed = tf.io.parse_example(serialized, spec)
    else:
        parsed = tf.io.parse_single_example(serialized, spec)
    return {name: tf.cast(value, tf.int32) for name, value in parsed.items()}


# ---------------------------------------------------------------------- classifier and tagger
# Google's run_classifier fields (label_ids and is_real_example are scalars); the tagger's
# label_ids hold a label per token, and label_mask marks the tokens that carry one (a word's
# first WordPiece; see bert_tf/data/ner.py).
def classifier_fields(is_regression=False):
    return (Field("input_ids", "input_word_ids", "int", "seq"),
            Field("input_mask", "input_mask", "int", "seq"),
            Field("segment_ids", "input_type_ids", "int", "seq"),
            Field("label_ids", "label_ids", "float" if is_regression else "int", "one"),
            Field("is_real_example", "is_real_example", "int", "one"))


TAGGER_FIELDS = (Field("input_ids", "input_word_ids", "int", "seq"),
                 Field("input_mask", "input_mask", "int", "seq"),
                 Field("segment_ids", "input_type_ids", "int", "seq"),
                 Field("label_ids", "label_ids", "int", "seq"),
                 Field("label_mask", "label_mask", "int", "seq"))


def classifier_example(features):
    """`ClassifierFeatures` -> serialized tf.train.Example; a float `label_id` (regression)
    is written as a float feature, an int as int64."""
    is_regression = isinstance(features.label_id, float)
    values = {"input_ids": features.input_ids, "input_mask": features.input_mask,
              "segment_ids": features.segment_ids, "label_ids": [features.label_id],
              "is_real_example": [int(bool(features.is_real_example))]}
    return encode_example({f.name: (f.dtype, values[f.name])
                           for f in classifier_fields(is_regression)})


def tagger_example(features):
    """`TaggerFeatures` -> serialized tf.train.Example (per-token label_ids and label_mask)."""
    return encode_example({f.name: (f.dtype, getattr(features, f.name)) for f in TAGGER_FIELDS})


def _fixed_spec(fields, max_seq_length):
    import tensorflow as tf
    return {f.name: tf.io.FixedLenFeature([max_seq_length] if f.length == "seq" else [],
                                          tf.int64 if f.dtype == "int" else tf.float32)
            for f in fields}


def classifier_feature_spec(max_seq_length, is_regression=False):
    return _fixed_spec(classifier_fields(is_regression), max_seq_length)


def tagger_feature_spec(max_seq_length):
    return _fixed_spec(TAGGER_FIELDS, max_seq_length)


def _parse_fixed(serialized, spec):
    """Serialized example(s) -> {name: tensor}, int64 cast to int32 (what models take)."""
    import tensorflow as tf
    if serialized.shape.rank == 1:
        parsed = tf.io.parse_example(serialized, spec)
    else:
        parsed = tf.io.parse_single_example(serialized, spec)
    return {name: tf.cast(value, tf.int32) if value.dtype == tf.int64 else value
            for name, value in parsed.items()}


def parse_classifier(serialized, max_seq_length, is_regression=False):
    """Serialized classifier example(s) -> tensors; label_ids float32 for regression."""
    return _parse_fixed(serialized, classifier_feature_spec(max_seq_length, is_regression))


def parse_tagger(serialized, max_seq_length):
    """Serialized tagger example(s) -> {field name: int32 tensor of [max_seq_length]}."""
    return _parse_fixed(serialized, tagger_feature_spec(max_seq_length))
