"""Fine-tune and evaluate BERT for named-entity recognition (token classification).

  python run_ner.py --task_name=conll2003 --data_dir=conll2003 --vocab_file=vocab.txt \
      --bert_config_file=bert_config.json --init_checkpoint=bert_model.ckpt \
      --do_train --do_eval --do_predict --max_seq_length=128 --train_batch_size=32 \
      --learning_rate=5e-5 --num_train_epochs=3 --output_dir=out/conll

Tasks: conll2003 (eng.train / eng.testa / eng.testb, IOB1 converted to BIO), msra
(train.ner / dev.ner / test.ner, BMES), peoples_daily (example.train / .dev / .test, BIO).
Labels come from --label_file, else from the model's output_dir/label_list.txt (written
when training), else from the data. Writes eval_results.txt (entity-level precision,
recall and F1 as conlleval computes them), eval_predictions.txt and test_predictions.txt
("word gold predicted" a line, as conlleval reads them).
"""

import bert_tf  # noqa: F401  (first: environment for TensorFlow)
from absl import flags

from bert_tf import cli
from bert_tf.data.ner import NER_TASKS
from bert_tf.errors import UserError
from bert_tf.finetuning import FineTuning
from bert_tf.flags import FLAGS, define_finetuning_flags, finetuning_settings
from bert_tf.tasks.tagger import TaggerTask

define_finetuning_flags(max_seq_length=128, learning_rate=5e-5, train_batch_size=32)
flags.DEFINE_string("task_name", None, "The data set: " + ", ".join(sorted(NER_TASKS)) + ".")
flags.DEFINE_string("data_dir", None, "The data set's folder.")
flags.DEFINE_string("label_file", None, "Label list, one a line (default: from the data).")


def main(_):
    settings = finetuning_settings()
    if not FLAGS.task_name or not FLAGS.data_dir:
        raise UserError("--task_name and --data_dir are required")
    run = FineTuning(settings)
    run.fine_tune(TaggerTask.for_data(run.config, FLAGS.task_name, FLAGS.data_dir,
                                      settings.max_seq_length, FLAGS.label_file))


if __name__ == "__main__":
    cli.run_main(main)
