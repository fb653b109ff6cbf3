"""Sentence (pair) classification and regression (Google's run_classifier): the task's data
(a GLUE-style processor), its records, its model and loss, its evaluation (eval_results.txt:
accuracy, loss and the task's GLUE metrics) and predictions (test_results.tsv).

Cross-entropy over labels, or mean squared error with one output (STS-B). Evaluation is one
road: predictions, then the metrics in NumPy (MCC, F1 and correlations need every prediction,
which per-batch sums cannot give). TensorFlow is imported by the methods that need it, so a
run reads and checks its data first.
"""

import os

from bert_tf import atomic, records
from bert_tf.data import classifier as data
from bert_tf.estimator.spec import TRAIN, EstimatorSpec


class ClassifierTask:
    name = "classifier"
    needs_num_labels = True
    splits = {"do_train": "train", "do_eval": "dev", "do_predict": "test"}

    def __init__(self, bert_config, num_labels, is_regression=False, max_seq_length=128,
                 task_name=None, data_dir=None, processor=None):
        self.bert_config = bert_config
        self.num_labels = 1 if is_regression else num_labels
        self.is_regression = is_regression
        self.max_seq_length = max_seq_length
        self.task_name = task_name
        self.data_dir = data_dir
        self.processor = processor  # the data set's reader, when fine-tuning

    @classmethod
    def for_data(cls, bert_config, task_name, data_dir, max_seq_length):
        """The task of a GLUE-style data set (`--task_name`, `--data_dir`)."""
        processor = data.get_processor(task_name)
        return cls(bert_config, len(processor.get_labels()), processor.is_regression, max_seq_length,
                   task_name, data_dir, processor)

    # ------------------------------------------------------------------ data
    def read(self, run, split):
        return getattr(self.processor, f"get_{split}_examples")(self.data_dir)

    def prepare(self, run, examples_by_split):
        pass

    def _source(self, split):
        """The split's file (what the feature cache is keyed on); the folder for other layouts."""
        name = getattr(self.processor, f"{split}_file", None)
        path = os.path.join(self.data_dir, name) if name else self.data_dir
        return path if os.path.exists(path) else self.data_dir

    def records(self, run, split, examples):
        """(cached feature records, number of examples) of a split."""
        labels = self.processor.get_labels()
        settings = {"task": self.task_name.lower(), "split": split, "labels": list(labels),
                    "max_seq_length": self.max_seq_length, "vocab_file": os.path.abspath(run.settings.vocab_file),
                    "do_lower_case": run.settings.do_lower_case, "count": len(examples)}

        def serialized():
            for example in examples:
                yield records.classifier_example(data.convert_example_to_features(
                    example, labels, self.max_seq_length, run.tokenizer, self.is_regression))

        path, _ = run.cached_records(f"{self.task_name.lower()}-{split}", settings, serialized,
                                     source=self._source(split), keyed=True)
        return path, len(examples)

    def parse(self, serialized, is_training=True):
        return records.parse_classifier(serialized, self.max_seq_length, self.is_regression)

    def sequence_fields(self, is_training=True):
        return records.sequence_fields(records.classifier_fields(self.is_regression))

    # ------------------------------------------------------------------ model
    def create_model(self, params=None):
        from bert_tf.heads import BertClassifierModel
        return BertClassifierModel(self.bert_config, self.num_labels).build_for()

    def model_fn(self, model, features, mode, params):
        import tensorflow as tf

        from bert_tf.heads import classification_loss
        logits = tf.cast(model(features, training=mode == TRAIN)["logits"], tf.float32)
        if self.is_regression:
            predictions = tf.reshape(logits, [-1])
            labels = tf.reshape(tf.cast(features["label_ids"], tf.float32), [-1])
            return EstimatorSpec(loss=tf.reduce_mean(tf.square(predictions - labels)),
                                 predictions={"predictions": predictions})
        labels = tf.reshape(tf.cast(features["label_ids"], tf.int32), [-1])
        return EstimatorSpec(loss=classification_loss(logits, labels),
                             predictions={"probabilities": tf.nn.softmax(logits),
                                          "predictions": tf.argmax(logits, -1, output_type=tf.int32)})

    def serving_outputs(self, model, features):
        """`logits`, plus `probabilities` (softmax) unless it is a regression (one output)."""
        import tensorflow as tf
        logits = model(features, training=False)["logits"]
        out = {"logits": logits}
        if self.num_labels > 1:
            out["probabilities"] = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
        return out

    # ------------------------------------------------------------------ results
    def finish(self, run, split, examples, predictions, global_step):
        """dev: eval_results.txt; test: Google's test_results.tsv."""
        if split == "dev":
            results = self.evaluate(examples, predictions)
            results["global_step"] = global_step
            run.write_eval_results(results)
        else:
            write_test_results(run.output_path("test_results.tsv"), predictions, self.is_regression)

    def evaluate(self, examples, predictions):
        """eval_loss, eval_accuracy (classification) and the task's metrics from predictions."""
        import numpy as np

        from bert_tf.metrics.classification import task_metrics
        labels = np.array([data.label_id(e, self.processor.get_labels(), self.is_regression)
                           for e in examples])
        if self.is_regression:
            values = np.array([p["predictions"] for p in predictions])
            out = {"eval_loss": float(np.mean((values - labels) ** 2))}
        else:
            probs = np.array([p["probabilities"] for p in predictions])
            values = probs.argmax(-1)
            out = {"eval_loss": float(-np.mean(np.log(probs[np.arange(len(labels)), labels] + 1e-12))),
                   "eval_accuracy": float(np.mean(values == labels))}
        out.update(task_metrics(self.task_name, labels, values, self.is_regression))
        return out


def write_test_results(path, predictions, is_regression):
    """Google's test_results.tsv: tab-separated class probabilities, one example a line."""
    lines = [(f"{float(p['predictions'])}" if is_regression
              else "\t".join(str(float(x)) for x in p["probabilities"])) for p in predictions]
    atomic.write_text(path, "".join(line + "\n" for line in lines))
