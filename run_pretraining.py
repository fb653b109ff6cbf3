"""Pretrain BERT (masked LM + next sentence) on TFRecords from create_pretraining_data.py.

  python run_pretraining.py --bert_config_file=bert_config.json --input_file='data/*.tfrecord' \
      --output_dir=model_dir --do_train --do_eval --train_batch_size=32 --max_seq_length=128 \
      --max_predictions_per_seq=20 --num_train_steps=10000 --num_warmup_steps=1000 \
      --learning_rate=1e-4 --iterations_per_loop=100
"""

import bert_tf  # noqa: F401  (first: environment for TensorFlow)
from absl import flags

from bert_tf import cli, pretraining
from bert_tf.flags import define_runner_flags, pretraining_settings

define_runner_flags()
flags.DEFINE_string("input_file", None, "Training TFRecords: comma-separated globs.")
flags.DEFINE_string("input_files_dir", None, "Or: a directory of training TFRecords (NVIDIA's flag).")
flags.DEFINE_string("eval_files_dir", None, "Evaluation TFRecords directory (default: the training files).")
flags.DEFINE_string("eval_file", None, "Or: evaluation TFRecords as comma-separated globs.")
flags.DEFINE_integer("max_seq_length", 128, "Sequence length the data was created with (NEZHA: may "
                     "exceed max_position_embeddings).")
flags.DEFINE_integer("max_predictions_per_seq", 20, "Masked positions per sequence in the data.")
flags.DEFINE_bool("do_train", False, "Train.")
flags.DEFINE_bool("do_eval", False, "Evaluate the latest checkpoint (or --init_checkpoint).")
flags.DEFINE_bool("eval_all_checkpoints", False, "With --do_eval: evaluate every checkpoint kept in "
                  "--output_dir, in step order, into eval_all_checkpoints.txt (`step: N accuracy: x`, "
                  "masked-LM accuracy; MindSpore's pretrain_eval habit). Raise --keep_checkpoint_max "
                  "to keep more than the last 5.")
flags.DEFINE_integer("train_batch_size", 32, "Global training batch size.")
flags.DEFINE_integer("eval_batch_size", 8, "Evaluation batch size.")
flags.DEFINE_integer("num_train_steps", 100000, "Optimizer steps to train to.")
flags.DEFINE_integer("max_eval_steps", 100, "Evaluation batches.")
flags.DEFINE_integer("stop_at_step", None, "Pause training at this global step (the schedule still "
                     "spans --num_train_steps); rerun with a later value or without it to go on.")
flags.DEFINE_bool("use_v2_feature_names", False, "Data uses Model Garden's feature names.")
flags.DEFINE_string("export_tf1_dir", None, "After training, also write the final weights in Google's "
                    "release layout here (bert_model.ckpt, bert_config.json, and vocab.txt with "
                    "--vocab_file): what Google's modeling.py, convert_checkpoint.py and the "
                    "fine-tuning scripts' --init_checkpoint read.")
flags.DEFINE_string("vocab_file", None, "With --export_tf1_dir: the vocab to copy beside the export.")
flags.mark_flags_as_required(["bert_config_file", "output_dir"])


def main(_):
    pretraining.pretrain(pretraining_settings())


if __name__ == "__main__":
    cli.run_main(main)
