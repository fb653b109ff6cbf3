"""Export a trained BERT model as a SavedModel for serving (ids and raw-text signatures).

  python export_savedmodel.py --task=classifier --num_labels=2 --output_dir=mrpc_model \
      --bert_config_file=bert_config.json --vocab_file=vocab.txt --do_lower_case \
      --max_seq_length=128 --export_dir=exported/mrpc

Signatures: `serving_default` (input_ids, input_mask, segment_ids: int32 [batch, seq]) and
`serving_text` (text_a, text_b: string [batch]; "" for single sentences), both returning the
task's outputs; see bert_tf/export.py. The graph has core TensorFlow ops only: both run in
`saved_model_cli run`, TF Serving and `tf.saved_model.load` without tensorflow_text.
"""

import bert_tf  # noqa: F401  (first: environment for TensorFlow)
from absl import flags, logging

from bert_tf import cli
from bert_tf.export import export_from_checkpoint
from bert_tf.tasks import TASKS

FLAGS = flags.FLAGS
flags.DEFINE_enum("task", None, list(TASKS), "Which model the checkpoint holds.")
flags.DEFINE_integer("num_labels", None, "classifier / ner: number of labels (1: regression).")
flags.DEFINE_string("bert_config_file", None, "bert_config.json of the model.")
flags.DEFINE_string("init_checkpoint", None, "Checkpoint to export (Google's TF1 layout or ours).")
flags.DEFINE_string("output_dir", None, "Or: the model folder; its latest checkpoint is exported.")
flags.DEFINE_string("vocab_file", None, "The vocabulary file (becomes a SavedModel asset).")
flags.DEFINE_bool("do_lower_case", True, "Lower-case raw text in the serving_text signature.")
flags.DEFINE_integer("max_seq_length", 128, "Sequence length of the serving_text signature (NEZHA: may exceed max_position_embeddings).")
flags.DEFINE_string("export_dir", None, "Folder for the SavedModel (an earlier export there "
                    "is replaced).")
flags.mark_flags_as_required(["task", "bert_config_file", "vocab_file", "export_dir"])


def main(_):
    report = export_from_checkpoint(
        FLAGS.task, FLAGS.bert_config_file, FLAGS.vocab_file, FLAGS.export_dir,
        init_checkpoint=FLAGS.init_checkpoint, output_dir=FLAGS.output_dir,
        num_labels=FLAGS.num_labels, do_lower_case=FLAGS.do_lower_case,
        max_seq_length=FLAGS.max_seq_length)
    logging.info("%s\nexported to %s", report.summary(), FLAGS.export_dir)


if __name__ == "__main__":
    cli.run_main(main)
