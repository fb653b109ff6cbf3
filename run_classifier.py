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

import os

import bert_tf  # noqa: F401  (first: environment for TensorFlow)
import numpy as np
from absl import flags

from bert_tf import atomic, cli, records
from bert_tf.data import classifier as data
from bert_tf.errors import UserError
from bert_tf.finetuning import FineTuning, check_actions
from bert_tf.flags import FLAGS, define_finetuning_flags
from bert_tf.metrics.classification import task_metrics

define_finetuning_flags(max_seq_length=128, learning_rate=5e-5, train_batch_size=32)
flags.DEFINE_string("task_name", None, "The task: " + ", ".join(sorted(data.PROCESSORS)) + ".")
flags.DEFINE_string("data_dir", None, "The task's data folder (train.tsv, dev.tsv, test.tsv, ...).")


def _records(run, processor, label_list, split, examples, source):
    def write(path):
        return data.write_features(examples, label_list, FLAGS.max_seq_length, run.tokenizer, path,
                                   processor.is_regression)
    return run.cached_records(f"{FLAGS.task_name.lower()}-{split}", source, write,
                              labels=list(label_list), count=len(examples))


def _split_file(processor, split):
    """The split's file (what the feature cache is keyed on); the folder for other layouts."""
    name = getattr(processor, f"{split}_file", None)
    path = os.path.join(FLAGS.data_dir, name) if name else FLAGS.data_dir
    return path if os.path.exists(path) else FLAGS.data_dir


def evaluation_results(task_name, examples, predictions, label_list, is_regression):
    """eval_loss, eval_accuracy (classification) and the task's metrics from predictions."""
    labels = np.array([data.label_id(e, label_list, is_regression) for e in examples])
    if is_regression:
        values = np.array([p["predictions"] for p in predictions])
        out = {"eval_loss": float(np.mean((values - labels) ** 2))}
    else:
        probs = np.array([p["probabilities"] for p in predictions])
        values = probs.argmax(-1)
        out = {"eval_loss": float(-np.mean(np.log(probs[np.arange(len(labels)), labels] + 1e-12))),
               "eval_accuracy": float(np.mean(values == labels))}
    out.update(task_metrics(task_name, labels, values, is_regression))
    return out


SPLITS = {"do_train": "train", "do_eval": "dev", "do_predict": "test"}


def main(_):
    check_actions(*SPLITS)
    if not FLAGS.task_name or not FLAGS.data_dir:
        raise UserError("--task_name and --data_dir are required")
    processor = data.get_processor(FLAGS.task_name)
    label_list = processor.get_labels()
    regression = processor.is_regression
    # Every requested split is read and converted before the model is built, so a bad dev
    # or test file stops the run before training, not after it.
    examples = {split: getattr(processor, f"get_{split}_examples")(FLAGS.data_dir)
                for action, split in SPLITS.items() if getattr(FLAGS, action)}
    run = FineTuning()
    steps = warmup = None
    if FLAGS.do_train:
        steps, warmup = run.schedule(len(examples["train"]))
    files = {split: _records(run, processor, label_list, split, split_examples, _split_file(processor, split))
             for split, split_examples in examples.items()}
    parse = lambda raw: records.parse_classifier(raw, FLAGS.max_seq_length, regression)  # noqa: E731
    from bert_tf.estimator import hooks
    from bert_tf.tasks.classifier import ClassifierTask
    task = ClassifierTask(run.config, len(label_list), regression)
    estimator = run.estimator(task, steps, warmup)
    if FLAGS.do_train:
        run.train(estimator, files["train"], parse, steps)
        run.export(estimator)
    if FLAGS.do_eval:
        predictions = run.predict(estimator, files["dev"], parse, FLAGS.eval_batch_size)
        results = evaluation_results(FLAGS.task_name, examples["dev"], predictions, label_list, regression)
        results["global_step"] = int(estimator.global_step)
        if run.strategy.is_chief:
            hooks.write_eval_results(results, os.path.join(FLAGS.output_dir, "eval_results.txt"))
    if FLAGS.do_predict:
        predictions = run.predict(estimator, files["test"], parse)
        if run.strategy.is_chief:
            write_test_results(os.path.join(FLAGS.output_dir, "test_results.tsv"), predictions, regression)


def write_test_results(path, predictions, is_regression):
    """Google's test_results.tsv: tab-separated class probabilities, one example a line."""
    lines = [(f"{float(p['predictions'])}" if is_regression
              else "\t".join(str(float(x)) for x in p["probabilities"])) for p in predictions]
    atomic.write_text(path, "".join(line + "\n" for line in lines))


if __name__ == "__main__":
    cli.run_main(main)
