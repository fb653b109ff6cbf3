"""Fine-tune and evaluate BERT on a sentence (pair) classification or regression task.

  python run_classifier.py --task_name=MRPC --data_dir=glue/MRPC --vocab_file=vocab.txt \
      --bert_config_file=bert_config.json --init_checkpoint=bert_model.ckpt \
      --do_train --do_eval --do_predict --max_seq_length=128 --train_batch_size=32 \
      --learning_rate=2e-5 --num_train_epochs=3 --output_dir=out/mrpc

Tasks: mrpc, cola, sst-2, rte, sts-b, wnli, mnli, mnli-mm, xnli, lcqmc, chnsenticorp (and
any added with bert_tf.data.classifier.register_processor). Writes eval_results.txt
(eval_accuracy, eval_loss and the task's metrics) and test_results.tsv (Google's layout:
one line of class probabilities per test example; the predicted value for regression).
"""

import bert_tf  # noqa: F401  (first: environment for TensorFlow)
from absl import flags

from bert_tf import cli
from bert_tf.data.classifier import PROCESSORS
from bert_tf.errors import UserError
from bert_tf.finetuning import FineTuning
from bert_tf.flags import FLAGS, define_finetuning_flags, finetuning_settings
from bert_tf.tasks.classifier import ClassifierTask

define_finetuning_flags(max_seq_length=128, learning_rate=5e-5, train_batch_size=32)
flags.DEFINE_string("task_name", None, "The task: " + ", ".join(sorted(PROCESSORS)) + ".")
flags.DEFINE_string("data_dir", None, "The task's data folder (train.tsv, dev.tsv, test.tsv, ...).")


def main(_):
    settings = finetuning_settings()
    if not FLAGS.task_name or not FLAGS.data_dir:
        raise UserError("--task_name and --data_dir are required")
    run = FineTuning(settings)
    run.fine_tune(ClassifierTask.for_data(run.config, FLAGS.task_name, FLAGS.data_dir,
                                          settings.max_seq_length))


if __name__ == "__main__":
    cli.run_main(main)
