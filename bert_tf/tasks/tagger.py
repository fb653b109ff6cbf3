"""Token classification (NER): the data set's splits (CoNLL-2003, MSRA, People's Daily), the
label list, records, the model and loss (cross-entropy on each word's first WordPiece only,
`label_mask`), and the results: entity-level precision/recall/F1 as conlleval counts them
(eval_results.txt) and `word gold predicted` lines (eval_/test_predictions.txt).

Evaluation is one road: predictions mapped back to words, then `metrics.ner`. TensorFlow is
imported by the methods that need it, so a run reads and checks its data first.
"""

import os

from bert_tf import records
from bert_tf.data import ner
from bert_tf.errors import UserError
from bert_tf.estimator.spec import TRAIN, EstimatorSpec


class TaggerTask:
    name = "ner"
    needs_num_labels = True
    splits = {"do_train": "train", "do_eval": "dev", "do_predict": "test"}

    def __init__(self, bert_config, num_labels=None, max_seq_length=128, task_name=None,
                 data_dir=None, label_file=None):
        self.bert_config = bert_config
        self.num_labels = num_labels  # for fine-tuning: from the label list, once known
        self.max_seq_length = max_seq_length
        self.task_name = task_name
        self.data_dir = data_dir
        self.label_file = label_file
        self.labels = None
        self._features = {}

    @classmethod
    def for_data(cls, bert_config, task_name, data_dir, max_seq_length, label_file=None):
        """The task of an NER data set (`--task_name`, `--data_dir`, `--label_file`)."""
        if str(task_name).lower() not in ner.NER_TASKS:
            raise UserError(f"--task_name={task_name}: unknown NER task; known tasks: "
                            f"{', '.join(sorted(ner.NER_TASKS))}")
        return cls(bert_config, None, max_seq_length, task_name.lower(), data_dir, label_file)

    # ------------------------------------------------------------------ data
    def read(self, run, split):
        return ner.read_ner_split(self.task_name, self.data_dir, split)

    def prepare(self, run, sentences_by_split):
        """The label list: --label_file, else the trained model's list, else the data's labels;
        written to output_dir/label_list.txt for later evaluation and prediction runs."""
        saved = run.output_path("label_list.txt")
        if self.label_file:
            self.labels = ner.read_label_file(self.label_file)
        elif os.path.exists(saved) and not run.settings.do_train:
            self.labels = ner.read_label_file(saved)
        else:
            self.labels = ner.labels_from_sentences(
                *[s for s in sentences_by_split.values() if s and s[0].labels])
        self.num_labels = len(self.labels)
        if run.strategy.is_chief:
            ner.write_label_file(saved, self.labels)

    def records(self, run, split, sentences):
        """(cached feature records, number of sentences); the features are kept to map the
        predictions back to words."""
        label_map = {label: i for i, label in enumerate(self.labels)}
        features = [ner.convert_sentence_to_features(s, label_map, self.max_seq_length, run.tokenizer)
                    for s in sentences]
        self._features[split] = features
        settings = {"task": self.task_name, "split": split, "labels": list(self.labels),
                    "max_seq_length": self.max_seq_length,
                    "vocab_file": os.path.abspath(run.settings.vocab_file),
                    "do_lower_case": run.settings.do_lower_case}
        source = os.path.join(self.data_dir, ner.NER_TASKS[self.task_name].files[split])
        path, _ = run.cached_records(f"{self.task_name}-{split}", settings,
                                     lambda: map(records.tagger_example, features), source=source, keyed=True)
        return path, len(sentences)

    def parse(self, serialized, is_training=True):
        return records.parse_tagger(serialized, self.max_seq_length)

    def sequence_fields(self, is_training=True):
        return records.sequence_fields(records.TAGGER_FIELDS)

    # ------------------------------------------------------------------ model
    def create_model(self, params=None):
        from bert_tf.heads import BertTaggerModel
        return BertTaggerModel(self.bert_config, self.num_labels).build_for()

    def model_fn(self, model, features, mode, params):
        import tensorflow as tf
        logits = tf.cast(model(features, training=mode == TRAIN)["logits"], tf.float32)
        labels = tf.cast(features["label_ids"], tf.int32)
        weights = tf.cast(features["label_mask"], tf.float32)
        per_token = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        return EstimatorSpec(loss=tf.reduce_sum(per_token * weights) / tf.maximum(tf.reduce_sum(weights), 1.0),
                             predictions={"predictions": tf.argmax(logits, -1, output_type=tf.int32)})

    @staticmethod
    def serving_outputs(model, features):
        """`logits` [batch, seq, labels] and `predictions` (their argmax)."""
        import tensorflow as tf
        logits = model(features, training=False)["logits"]
        return {"logits": logits, "predictions": tf.argmax(logits, axis=-1, output_type=tf.int32)}

    # ------------------------------------------------------------------ results
    def finish(self, run, split, sentences, predictions, global_step):
        """`word gold predicted` lines; for dev also eval_results.txt (entity-level scores)."""
        words = [ner.predictions_to_words(p["predictions"], f.label_mask, self.labels, len(s.words))
                 for p, f, s in zip(predictions, self._features[split], sentences)]
        prefix = "eval" if split == "dev" else split
        ner.write_predictions(run.output_path(f"{prefix}_predictions.txt"), sentences, words)
        if split == "dev":
            run.write_eval_results(dict(self.evaluate(sentences, words), global_step=global_step))

    @staticmethod
    def evaluate(sentences, predicted_words):
        from bert_tf.metrics.ner import ner_metrics
        scores = ner_metrics([s.labels for s in sentences], predicted_words)
        results = {"eval_precision": scores["precision"], "eval_recall": scores["recall"],
                   "eval_f1": scores["f1"], "eval_token_accuracy": scores["accuracy"]}
        results.update({f"eval_f1_{kind}": v["f1"] for kind, v in scores["per_type"].items()})
        return results
