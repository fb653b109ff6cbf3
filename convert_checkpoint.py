"""Convert a BERT or NEZHA checkpoint between HuggingFace and Google's TF1 layout.

  python convert_checkpoint.py --hf_model_dir=DIR --tf1_checkpoint=OUT/bert_model.ckpt
  python convert_checkpoint.py --tf1_checkpoint=IN/bert_model.ckpt --hf_output_dir=DIR

The TF1 side is Google's release layout: `bert_model.ckpt.{index,data-*}`, `bert_config.json`
and `vocab.txt` in one folder. A NEZHA model (`"use_relative_position": true` in
bert_config.json; HuggingFace's `model_type: nezha`, NezhaModel) converts the same way.
"""

from absl import app, flags, logging

from bert_tf import checkpoints
from bert_tf.cli import run_main

FLAGS = flags.FLAGS
flags.DEFINE_string("hf_model_dir", None, "HuggingFace BERT or NEZHA folder (config.json, model.safetensors) to read.")
flags.DEFINE_string("tf1_checkpoint", None, "Google TF1 checkpoint prefix: written with --hf_model_dir, read with --hf_output_dir (which also reads our training checkpoints, model.ckpt-N).")
flags.DEFINE_string("hf_output_dir", None, "Folder to write a HuggingFace BERT (or NEZHA, for a relative-position config) into, from --tf1_checkpoint.")
flags.DEFINE_string("bert_config_file", None, "With --hf_output_dir: the config (default: bert_config.json beside the checkpoint).")
flags.DEFINE_string("vocab_file", None, "With --hf_output_dir: the vocab to copy (default: vocab.txt beside the checkpoint).")
flags.mark_flag_as_required("tf1_checkpoint")


def main(_):
    if bool(FLAGS.hf_model_dir) == bool(FLAGS.hf_output_dir):
        raise app.UsageError("give exactly one of --hf_model_dir (HF -> TF1) or --hf_output_dir (TF1 -> HF)")
    if FLAGS.hf_model_dir:
        _, names, ignored = checkpoints.convert_hf_to_tf1(FLAGS.hf_model_dir, FLAGS.tf1_checkpoint)
        logging.info("wrote %d variables to %s (ignored from HF: %s)", len(names),
                     FLAGS.tf1_checkpoint, ", ".join(ignored) or "none")
    else:
        _, names, dropped = checkpoints.convert_tf1_to_hf(
            FLAGS.tf1_checkpoint, FLAGS.hf_output_dir, FLAGS.bert_config_file, FLAGS.vocab_file)
        logging.info("wrote %d tensors to %s (dropped: %s)", len(names), FLAGS.hf_output_dir,
                     ", ".join(dropped[:8]) or "none")


if __name__ == "__main__":
    run_main(main)
