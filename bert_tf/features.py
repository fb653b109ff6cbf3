"""extract_features: per-token contextual vectors from chosen encoder layers, as Google's tool.

Input: one example per line, `text` or `text_a ||| text_b` (Google's pattern, spaces around
the bars). Output: one JSON line per input line in Google's layout,

    {"linex_index": 0, "features": [{"token": "[CLS]",
                                      "layers": [{"index": -1, "values": [0.1234, ...]}, ...]},
                                     ...]}

one entry per real token (padding is not written), values rounded with Python's
`round(float(x), 6)` as Google's are. Packing is Google's (`[CLS] a [SEP] b [SEP]`, the pair
trimmed longest-first, a line whose `b` tokenizes to nothing packed as a single segment);
a blank line is an example too, as in Google's code, so output line k belongs to input line k.

With length bucketing (on unless `bucket_by_length=False`), lines are run in batches of one
length bucket, padded only to that length (`bert_tf.bucketing`): the values are the padded
run's to float tolerance, and the output order is still the input's.
"""

import dataclasses
import json
import os
import re

import numpy as np

from bert_tf import atomic, bucketing
from bert_tf.data.classifier import pack_pair
from bert_tf.errors import DataError, UserError
from bert_tf.tokenization import convert_to_unicode

_PAIR = re.compile(r"^(.*) \|\|\| (.*)$")  # Google's read_examples


@dataclasses.dataclass
class Example:
    unique_id: int
    text_a: str
    text_b: str = None


@dataclasses.dataclass
class Feature:
    """One packed example: its real tokens and the model's inputs (padded)."""

    unique_id: int
    tokens: list
    input_ids: list
    input_mask: list
    segment_ids: list


# ---------------------------------------------------------------------- input
def read_examples(input_file):
    """Google's read_examples: each line (split on "\\n" only) stripped, then `a ||| b` split.

    Undecodable bytes are dropped as Google's `convert_to_unicode` does. A file without a
    single non-blank line is an error: it would silently produce an empty output.
    """
    try:
        with open(input_file, "rb") as f:
            lines = [convert_to_unicode(raw).strip() for raw in f]
    except OSError as e:
        raise DataError(f"--input_file={input_file}: cannot read it ({e.strerror})") from e
    if not any(lines):
        raise DataError(f"--input_file={input_file}: no text in it; write one sentence (or "
                        "'sentence A ||| sentence B') per line")
    examples = []
    for unique_id, line in enumerate(lines):
        match = _PAIR.match(line)
        examples.append(Example(unique_id, line) if match is None
                        else Example(unique_id, match.group(1), match.group(2)))
    return examples


def parse_layers(spec, num_hidden_layers):
    """`--layers` ("-1,-2,-3,-4") -> [int]; Python indexes into the encoder's layer list."""
    try:
        indexes = [int(x) for x in spec.split(",")]
    except ValueError:
        raise UserError(f"--layers={spec!r}: expected comma-separated layer indexes, "
                        "e.g. -1,-2,-3,-4") from None
    bad = [i for i in indexes if not -num_hidden_layers <= i < num_hidden_layers]
    if bad:
        raise UserError(f"--layers={spec}: layer {bad[0]} does not exist in a "
                        f"{num_hidden_layers}-layer model (use 0..{num_hidden_layers - 1} or "
                        f"-{num_hidden_layers}..-1)")
    return indexes


def convert_examples_to_features(examples, seq_length, tokenizer):
    """Google's convert_examples_to_features (extract_features.py), lines tokenized in bulk.

    `tokenizer.tokenize_lines` gives Google's tokens exactly, using tensorflow-text only on
    lines where it is known to agree.
    """
    texts_a = tokenizer.tokenize_lines([e.text_a for e in examples])
    with_b = [i for i, e in enumerate(examples) if e.text_b]
    texts_b = dict(zip(with_b, tokenizer.tokenize_lines([examples[i].text_b for i in with_b])))
    features = []
    for i, example in enumerate(examples):
        tokens, input_ids, input_mask, segment_ids = pack_pair(texts_a[i], texts_b.get(i), seq_length,
                                                               tokenizer)
        features.append(Feature(example.unique_id, tokens, input_ids, input_mask, segment_ids))
    return features


# ---------------------------------------------------------------------- the model
CHUNK_BYTES = 256 << 20  # bucketed: the real tokens' outputs held at once to restore input order


def layer_outputs(model, features, layer_indexes, batch_size, use_xla=False, boundaries=None):
    """Yield (feature, float32 [len(layer_indexes), seq, hidden]) for every feature, in order
    (`seq`: the padded length, at least the feature's tokens).

    Batches are padded to `batch_size` rows, so the (optionally XLA-compiled) forward pass is
    compiled once per sequence length: --max_seq_length, or each of `boundaries` (length
    buckets). Bucketed, the features are taken in chunks of about CHUNK_BYTES of output; each
    chunk is run bucket by bucket and given back in input order.
    """
    import tensorflow as tf
    spec = tf.TensorSpec([batch_size, None], tf.int32)

    @tf.function(input_signature=[spec] * 3, jit_compile=use_xla)
    def forward(input_ids, input_mask, segment_ids):
        out = model({"input_ids": input_ids, "input_mask": input_mask,
                     "segment_ids": segment_ids}, training=False)
        return tf.cast(tf.stack([out["all_layers"][i] for i in layer_indexes], axis=1),
                       tf.float32)

    def run(batch, seq_length):
        arrays = [np.zeros([batch_size, seq_length], np.int32) for _ in range(3)]
        for row, f in enumerate(batch):
            for array, values in zip(arrays, (f.input_ids, f.input_mask, f.segment_ids)):
                array[row] = values[:seq_length]
        return forward(*arrays).numpy()

    if not boundaries:
        seq_length = len(features[0].input_ids)
        for start in range(0, len(features), batch_size):
            batch = features[start:start + batch_size]
            yield from zip(batch, run(batch, seq_length))
        return
    per_token = len(layer_indexes) * model.config.hidden_size * 4
    for chunk in _chunks(features, CHUNK_BYTES // per_token):
        ids = bucketing.bucket_ids([len(f.tokens) for f in chunk], boundaries)
        values = [None] * len(chunk)
        for bucket, seq_length in enumerate(boundaries):
            rows = np.flatnonzero(ids == bucket)
            for start in range(0, len(rows), batch_size):
                picked = rows[start:start + batch_size]
                out = run([chunk[i] for i in picked], seq_length)
                for row, i in enumerate(picked):  # the real tokens only: the rest is padding
                    values[i] = out[row, :, :len(chunk[i].tokens)].copy()
        yield from zip(chunk, values)


def _chunks(features, max_tokens):
    """Consecutive runs of features holding at most `max_tokens` real tokens (at least one)."""
    chunk, tokens = [], 0
    for feature in features:
        if chunk and tokens + len(feature.tokens) > max_tokens:
            yield chunk
            chunk, tokens = [], 0
        chunk.append(feature)
        tokens += len(feature.tokens)
    if chunk:
        yield chunk


def feature_record(feature, values, layer_indexes):
    """One output line in Google's layout (key order as Google's OrderedDicts)."""
    tokens = []
    for i, token in enumerate(feature.tokens):
        layers = [{"index": index, "values": [round(x, 6) for x in values[j, i].tolist()]}
                  for j, index in enumerate(layer_indexes)]
        tokens.append({"token": token, "layers": layers})
    return {"linex_index": feature.unique_id, "features": tokens}


def write_json_lines(output_file, records):
    """Write records as JSON lines under a temporary name, renamed into place when complete."""
    folder = os.path.dirname(os.path.abspath(output_file))
    count = 0
    try:
        os.makedirs(folder, exist_ok=True)
        with atomic.open_text(output_file) as out:
            for record in records:
                out.write(json.dumps(record) + "\n")
                count += 1
    except OSError as e:
        raise UserError(f"--output_file={output_file}: cannot write it ({e.strerror})") from e
    return count


# ---------------------------------------------------------------------- the whole job
def extract_features(input_file, output_file, vocab_file, bert_config_file, init_checkpoint,
                     layers="-1,-2,-3,-4", max_seq_length=128, batch_size=32,
                     do_lower_case=True, use_xla=False, bucket_by_length=True, bucket_boundaries=()):
    """extract_features.py: read, tokenize, run the encoder, write. Returns the line count.

    Every input is checked before the model is built, so a bad flag costs no model load.
    `bucket_boundaries`: the bucket lengths (`bucketing.parse_boundaries`), or () to choose
    them from the lines' lengths.
    """
    from bert_tf import checkpoints
    from bert_tf.config import BertConfig
    from bert_tf.heads import BertModel
    from bert_tf.tokenization import FullTokenizer

    config = BertConfig.from_json_file(bert_config_file)
    layer_indexes = parse_layers(layers, config.num_hidden_layers)
    config.check_seq_length(max_seq_length, minimum=3)
    if batch_size < 1:
        raise UserError(f"--batch_size={batch_size} must be at least 1")
    tokenizer = FullTokenizer(vocab_file, do_lower_case=do_lower_case)
    if max(tokenizer.vocab.values()) >= config.vocab_size:
        raise UserError(f"--vocab_file={vocab_file} has {len(tokenizer.vocab)} tokens but "
                        f"{bert_config_file} has vocab_size={config.vocab_size}")
    if bucket_boundaries and not bucket_by_length:
        raise UserError("--bucket_boundaries needs length bucketing: drop --nobucket_by_length "
                        "or the boundaries")
    examples = read_examples(input_file)
    features = convert_examples_to_features(examples, max_seq_length, tokenizer)
    boundaries = None
    if bucket_by_length:
        spec = bucketing.BucketSpec(max_seq_length, (), tuple(bucket_boundaries))
        boundaries = spec.resolve([len(f.tokens) for f in features])

    model = BertModel(config).build_for()
    checkpoints.init_from_checkpoint(model, init_checkpoint).require_complete(
        "the encoder", "check that --bert_config_file matches --init_checkpoint")
    outputs = layer_outputs(model, features, layer_indexes, batch_size, use_xla, boundaries)
    return write_json_lines(output_file, (feature_record(f, v, layer_indexes)
                                          for f, v in outputs))
