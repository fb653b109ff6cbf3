"""Pretrain BERT (masked LM + next sentence) on TFRecords from create_pretraining_data.py.

  python run_pretraining.py --bert_config_file=bert_config.json --input_file='data/*.tfrecord' \
      --output_dir=model_dir --do_train --do_eval --train_batch_size=32 --max_seq_length=128 \
      --max_predictions_per_seq=20 --num_train_steps=10000 --num_warmup_steps=1000 \
      --learning_rate=1e-4 --iterations_per_loop=100
"""

import os

import bert_tf  # noqa: F401  (first: environment for TensorFlow)
from absl import flags

from bert_tf import cli, input_pipeline
from bert_tf.config import BertConfig
from bert_tf.errors import UserError
from bert_tf.estimator import hooks
from bert_tf.flags import (FLAGS, define_runner_flags, per_worker_batch_size, run_config_from_flags,
                           strategy_from_flags, train_params_from_flags)

define_runner_flags()
flags.DEFINE_string("input_file", None, "Training TFRecords: comma-separated globs.")
flags.DEFINE_string("input_files_dir", None, "Or: a directory of training TFRecords (NVIDIA's flag).")
flags.DEFINE_string("eval_files_dir", None, "Evaluation TFRecords directory (default: the training files).")
flags.DEFINE_string("eval_file", None, "Or: evaluation TFRecords as comma-separated globs.")
flags.DEFINE_integer("max_seq_length", 128, "Sequence length the data was created with (NEZHA: may exceed max_position_embeddings).")
flags.DEFINE_integer("max_predictions_per_seq", 20, "Masked positions per sequence in the data.")
flags.DEFINE_bool("do_train", False, "Train.")
flags.DEFINE_bool("do_eval", False, "Evaluate the latest checkpoint (or --init_checkpoint).")
flags.DEFINE_integer("train_batch_size", 32, "Global training batch size.")
flags.DEFINE_integer("eval_batch_size", 8, "Evaluation batch size.")
flags.DEFINE_integer("num_train_steps", 100000, "Optimizer steps to train to.")
flags.DEFINE_integer("max_eval_steps", 100, "Evaluation batches.")
flags.DEFINE_integer("stop_at_step", None, "Pause training at this global step (the schedule still "
                     "spans --num_train_steps); rerun with a later value or without it to go on.")
flags.DEFINE_bool("use_v2_feature_names", False, "Data uses Model Garden's feature names.")
flags.mark_flags_as_required(["bert_config_file", "output_dir"])


def main(_):
    if not FLAGS.do_train and not FLAGS.do_eval:
        raise UserError("nothing to do: pass --do_train and/or --do_eval")
    config = BertConfig.from_json_file(FLAGS.bert_config_file)
    config.check_seq_length(FLAGS.max_seq_length)
    from bert_tf.estimator import Estimator
    from bert_tf.tasks.pretraining import PretrainingTask
    strategy = strategy_from_flags()
    params = {"global_batch_size": FLAGS.train_batch_size, "init_checkpoint": FLAGS.init_checkpoint,
              "train": train_params_from_flags(FLAGS.num_train_steps, FLAGS.num_warmup_steps,
                                               FLAGS.train_batch_size, strategy.num_replicas)}
    train_files = None
    if FLAGS.input_file or FLAGS.input_files_dir:
        train_files = input_pipeline.expand_files(FLAGS.input_file, FLAGS.input_files_dir)
        input_pipeline.check_pretraining_files(train_files, FLAGS.max_seq_length,
                                               FLAGS.max_predictions_per_seq, FLAGS.use_v2_feature_names)
    estimator = Estimator(PretrainingTask(config), run_config_from_flags(), params, strategy)
    if FLAGS.do_train:
        if not train_files:
            raise UserError("--do_train needs --input_file or --input_files_dir")
        micro_batch = per_worker_batch_size(FLAGS.train_batch_size, strategy)
        estimator.train(input_pipeline.pretraining_input_fn(
            train_files, FLAGS.max_seq_length, FLAGS.max_predictions_per_seq, micro_batch,
            is_training=True, seed=FLAGS.seed, use_v2_feature_names=FLAGS.use_v2_feature_names,
            shard_by_record=FLAGS.shard_by_record),
            min(FLAGS.stop_at_step or FLAGS.num_train_steps, FLAGS.num_train_steps))
    if FLAGS.do_eval:
        eval_files = (input_pipeline.expand_files(FLAGS.eval_file, FLAGS.eval_files_dir, "--eval_files_dir")
                      if FLAGS.eval_file or FLAGS.eval_files_dir else train_files)
        if not eval_files:
            raise UserError("--do_eval needs --eval_files_dir, --eval_file or training input")
        input_pipeline.check_pretraining_files(eval_files, FLAGS.max_seq_length,
                                               FLAGS.max_predictions_per_seq, FLAGS.use_v2_feature_names)
        results = estimator.evaluate(input_pipeline.pretraining_input_fn(
            eval_files, FLAGS.max_seq_length, FLAGS.max_predictions_per_seq, FLAGS.eval_batch_size,
            is_training=False, use_v2_feature_names=FLAGS.use_v2_feature_names), FLAGS.max_eval_steps)
        if strategy.is_chief:
            hooks.write_eval_results(results, os.path.join(FLAGS.output_dir, "eval_results.txt"))


if __name__ == "__main__":
    cli.run_main(main)
