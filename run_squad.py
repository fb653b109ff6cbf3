"""Fine-tune BERT on SQuAD v1.1 / v2.0 (also CMRC 2018, DRCD), predict, and score.

  python run_squad.py --vocab_file=vocab.txt --bert_config_file=bert_config.json \
      --init_checkpoint=bert_model.ckpt --do_train --train_file=train-v1.1.json \
      --do_predict --predict_file=dev-v1.1.json --train_batch_size=32 --learning_rate=3e-5 \
      --num_train_epochs=2 --max_seq_length=384 --doc_stride=128 --output_dir=out/squad

Writes predictions.json, nbest_predictions.json (and null_odds.json with
--version_2_with_negative) to --output_dir, like Google's script; when the predict file has
answers, it also scores them as the official evaluate-v1.1.py / evaluate-v2.0.py do (or
runs --eval_script) and writes eval_results.json.
"""

import bert_tf  # noqa: F401  (first: environment for TensorFlow)
from absl import flags

from bert_tf import cli
from bert_tf.errors import UserError
from bert_tf.finetuning import FineTuning
from bert_tf.flags import FLAGS, define_finetuning_flags, finetuning_settings, options
from bert_tf.tasks.squad import SquadOptions, SquadTask

define_finetuning_flags(max_seq_length=384, learning_rate=5e-5, train_batch_size=32, predict_batch_size=8)
flags.DEFINE_string("train_file", None, "SQuAD-format JSON for training.")
flags.DEFINE_string("predict_file", None, "SQuAD-format JSON to predict (and score when it has answers).")
flags.DEFINE_integer("doc_stride", 128, "Stride between the windows of a long paragraph.")
flags.DEFINE_integer("max_query_length", 64, "Maximum question length in WordPieces.")
flags.DEFINE_integer("n_best_size", 20, "Candidates kept per question (nbest_predictions.json).")
flags.DEFINE_integer("max_answer_length", 30, "Maximum answer length in WordPieces.")
flags.DEFINE_bool("version_2_with_negative", False, "SQuAD v2.0: questions may have no answer.")
flags.DEFINE_float("null_score_diff_threshold", 0.0, "v2.0: predict no answer when the null "
                   "score beats the best span by more than this.")
flags.DEFINE_string("eval_script", None, "Score with this official evaluation script "
                    "(evaluate-v1.1.py / evaluate-v2.0.py) instead of bert_tf.metrics.squad.")
flags.DEFINE_bool("use_tfrecord", False, "Keep the converted training features as TFRecords "
                  "(in --input_files_dir, else --output_dir) and reuse them on later runs, even "
                  "without --train_file.")
flags.DEFINE_string("input_files_dir", None, "With --use_tfrecord: where the feature records live.")
flags.DEFINE_bool("verbose_logging", False, "Log the answer-text alignment failures.")


def main(_):
    for name, instead in (("do_eval", "--do_predict with a --predict_file that has answers"),
                          ("eval_batch_size", "--predict_batch_size")):
        if FLAGS[name].present:
            raise UserError(f"run_squad.py has no --{name}: use {instead}")
    settings = finetuning_settings()
    run = FineTuning(settings)
    run.fine_tune(SquadTask(run.config, settings.max_seq_length, options(SquadOptions)))


if __name__ == "__main__":
    cli.run_main(main)
