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

import os

import bert_tf  # noqa: F401  (first: environment for TensorFlow)
from absl import flags

from bert_tf import cli, records
from bert_tf.data import ner
from bert_tf.errors import UserError
from bert_tf.finetuning import FineTuning, check_actions
from bert_tf.flags import FLAGS, define_finetuning_flags
from bert_tf.metrics.ner import ner_metrics

define_finetuning_flags(max_seq_length=128, learning_rate=5e-5, train_batch_size=32)
flags.DEFINE_string("task_name", None, "The data set: " + ", ".join(sorted(ner.NER_TASKS)) + ".")
flags.DEFINE_string("data_dir", None, "The data set's folder.")
flags.DEFINE_string("label_file", None, "Label list, one a line (default: from the data).")

SPLITS = {"do_train": "train", "do_eval": "dev", "do_predict": "test"}


def label_list(sentences_by_split):
    """--label_file, else the trained model's list, else the labels seen in the data."""
    saved = os.path.join(FLAGS.output_dir, "label_list.txt")
    if FLAGS.label_file:
        return ner.read_label_file(FLAGS.label_file)
    if os.path.exists(saved) and not FLAGS.do_train:
        return ner.read_label_file(saved)
    return ner.labels_from_sentences(*[s for s in sentences_by_split.values() if s and s[0].labels])


def features_for(run, split, sentences, labels):
    """Features of a split (kept for mapping predictions back) and their cached records."""
    label_map = {label: i for i, label in enumerate(labels)}
    features = [ner.convert_sentence_to_features(s, label_map, FLAGS.max_seq_length, run.tokenizer)
                for s in sentences]
    path = run.cached_records(f"{FLAGS.task_name.lower()}-{split}",
                              os.path.join(FLAGS.data_dir, ner.NER_TASKS[FLAGS.task_name.lower()].files[split]),
                              lambda p: ner.write_features(features, p), labels=labels)
    return features, path


def predict_words(run, estimator, split, sentences, features, path, labels):
    parse = lambda raw: records.parse_tagger(raw, FLAGS.max_seq_length)  # noqa: E731
    batch = FLAGS.eval_batch_size if split == "eval" else FLAGS.predict_batch_size
    predictions = run.predict(estimator, path, parse, batch)
    words = [ner.predictions_to_words(p["predictions"], f.label_mask, labels, len(s.words))
             for p, f, s in zip(predictions, features, sentences)]
    if run.strategy.is_chief:
        ner.write_predictions(os.path.join(FLAGS.output_dir, f"{split}_predictions.txt"), sentences, words)
    return words


def main(_):
    check_actions(*SPLITS)
    if not FLAGS.task_name or not FLAGS.data_dir:
        raise UserError("--task_name and --data_dir are required")
    if FLAGS.task_name.lower() not in ner.NER_TASKS:
        raise UserError(f"--task_name={FLAGS.task_name}: unknown NER task; known tasks: "
                        f"{', '.join(sorted(ner.NER_TASKS))}")
    sentences = {split: ner.read_ner_split(FLAGS.task_name, FLAGS.data_dir, split)
                 for action, split in SPLITS.items() if getattr(FLAGS, action)}
    run = FineTuning()
    labels = label_list(sentences)
    steps = warmup = None
    if FLAGS.do_train:
        steps, warmup = run.schedule(len(sentences["train"]))
    # Every requested split is converted before the model is built, so a label missing from
    # the list (or any other bad input) stops the run before training, not after it.
    prepared = {split: features_for(run, split, split_sentences, labels)
                for split, split_sentences in sentences.items()}
    if run.strategy.is_chief:
        ner.write_label_file(os.path.join(FLAGS.output_dir, "label_list.txt"), labels)
    from bert_tf.estimator import hooks
    from bert_tf.tasks.tagger import TaggerTask
    task = TaggerTask(run.config, len(labels))
    estimator = run.estimator(task, steps, warmup)
    if FLAGS.do_train:
        run.train(estimator, prepared["train"][1], lambda raw: records.parse_tagger(raw, FLAGS.max_seq_length),
                  steps)
        run.export(estimator)
    if FLAGS.do_eval:
        dev = sentences["dev"]
        features, path = prepared["dev"]
        predicted = predict_words(run, estimator, "eval", dev, features, path, labels)
        scores = ner_metrics([s.labels for s in dev], predicted)
        results = {"eval_precision": scores["precision"], "eval_recall": scores["recall"],
                   "eval_f1": scores["f1"], "eval_token_accuracy": scores["accuracy"],
                   "global_step": int(estimator.global_step)}
        results.update({f"eval_f1_{kind}": v["f1"] for kind, v in scores["per_type"].items()})
        if run.strategy.is_chief:
            hooks.write_eval_results(results, os.path.join(FLAGS.output_dir, "eval_results.txt"))
    if FLAGS.do_predict:
        features, path = prepared["test"]
        predict_words(run, estimator, "test", sentences["test"], features, path, labels)

if __name__ == "__main__":
    cli.run_main(main)
