"""Extract per-token contextual features from BERT's layers, as Google's extract_features.py.

  python extract_features.py --input_file=input.txt --output_file=output.jsonl \
      --vocab_file=vocab.txt --bert_config_file=bert_config.json \
      --init_checkpoint=bert_model.ckpt --layers=-1,-2,-3,-4 --max_seq_length=128 --batch_size=8

Each input line is `text` or `text_a ||| text_b`; each output line is Google's JSON
(`linex_index`, `features` -> [{`token`, `layers` -> [{`index`, `values`}]}]).
"""

import bert_tf  # noqa: F401  (first: environment for TensorFlow)
from absl import flags, logging

from bert_tf import cli
from bert_tf.features import extract_features
from bert_tf.flags import bucket_boundaries, define_bucketing_flags

FLAGS = flags.FLAGS
flags.DEFINE_string("input_file", None, "Text file: one `text` or `text_a ||| text_b` per line.")
flags.DEFINE_string("output_file", None, "JSON lines output (written atomically).")
flags.DEFINE_string("layers", "-1,-2,-3,-4", "Comma-separated encoder layer indexes (negative "
                    "counts from the last layer).")
flags.DEFINE_string("bert_config_file", None, "bert_config.json of the model.")
flags.DEFINE_integer("max_seq_length", 128, "Maximum sequence length after WordPiece "
                     "tokenization; longer inputs are truncated, shorter ones padded. At most "
                     "max_position_embeddings; any length for a NEZHA config.")
flags.DEFINE_string("init_checkpoint", None, "Checkpoint: Google's TF1 layout or ours (a "
                    "model folder means its latest checkpoint).")
flags.DEFINE_string("vocab_file", None, "The vocabulary file the model was trained on.")
flags.DEFINE_bool("do_lower_case", True, "Lower-case the input (uncased models).")
flags.DEFINE_integer("batch_size", 32, "Batch size for the forward pass.")
flags.DEFINE_bool("use_xla", False, "XLA-compile the forward pass.")
define_bucketing_flags("Run lines in batches of one length bucket, each padded only to its "
                       "bucket's length (default on; the output is unchanged, in input order); "
                       "--nobucket_by_length pads every batch to --max_seq_length.")
flags.mark_flags_as_required(["input_file", "output_file", "vocab_file", "bert_config_file",
                              "init_checkpoint"])


def main(_):
    count = extract_features(
        FLAGS.input_file, FLAGS.output_file, FLAGS.vocab_file, FLAGS.bert_config_file,
        FLAGS.init_checkpoint, layers=FLAGS.layers, max_seq_length=FLAGS.max_seq_length,
        batch_size=FLAGS.batch_size, do_lower_case=FLAGS.do_lower_case, use_xla=FLAGS.use_xla,
        bucket_by_length=FLAGS.bucket_by_length is not False, bucket_boundaries=bucket_boundaries())
    logging.info("wrote features of %d lines to %s", count, FLAGS.output_file)


if __name__ == "__main__":
    cli.run_main(main)
