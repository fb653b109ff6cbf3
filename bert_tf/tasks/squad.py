"""SQuAD v1.1 / v2.0 span prediction (also CMRC 2018 and DRCD), Google's run_squad: the
files, the windowed features (cached, reusable with `--use_tfrecord`), the model and loss
(the mean of the start and end cross-entropies), and the results: predictions.json,
nbest_predictions.json (null_odds.json), scored as the official scripts score them (or by
`--eval_script`) when the predict file has answers.

TensorFlow is imported by the methods that need it, so a run reads and checks its data first.
"""

import dataclasses
import json
import os
import random
import subprocess
import sys

from absl import logging

from bert_tf import feature_cache, records
from bert_tf.data import squad, squad_json
from bert_tf.errors import UserError
from bert_tf.estimator.spec import TRAIN, EstimatorSpec


@dataclasses.dataclass(frozen=True)
class SquadOptions:
    """run_squad.py's own settings (its flags by the same names)."""

    train_file: str = None
    predict_file: str = None
    doc_stride: int = 128
    max_query_length: int = 64
    n_best_size: int = 20
    max_answer_length: int = 30
    version_2_with_negative: bool = False
    null_score_diff_threshold: float = 0.0
    eval_script: str = None
    use_tfrecord: bool = False  # keep the training features in input_files_dir and reuse them
    input_files_dir: str = None
    verbose_logging: bool = False


class SquadTask:
    name = "squad"
    needs_num_labels = False
    splits = {"do_train": "train", "do_predict": "predict"}

    def __init__(self, bert_config, max_seq_length=384, options=SquadOptions()):
        self.bert_config = bert_config
        self.max_seq_length = max_seq_length
        self.options = options
        self._features = {}
        o = options
        squad.check_feature_settings(max_seq_length, o.doc_stride, o.max_query_length)
        for name in ("train_file", "eval_script"):
            if getattr(o, name) and not os.path.isfile(getattr(o, name)):
                raise UserError(f"--{name}={getattr(o, name)}: no such file")
        if o.eval_script:
            _check_eval_script(o.eval_script)

    # ------------------------------------------------------------------ data
    def read(self, run, split):
        """predict: the examples (read and checked now, before any training); train: nothing
        yet, since reusable features need no reading (see `records`)."""
        o = self.options
        if split == "train":
            if not o.train_file and not o.use_tfrecord:
                raise UserError("--do_train needs --train_file")
            return None
        if not o.predict_file:
            raise UserError("--do_predict needs --predict_file")
        return squad.read_squad_examples(o.predict_file, False, o.version_2_with_negative)

    def prepare(self, run, examples_by_split):
        pass

    def _settings(self, run):
        o = self.options
        return {"max_seq_length": self.max_seq_length, "doc_stride": o.doc_stride,
                "max_query_length": o.max_query_length, "do_lower_case": run.settings.do_lower_case,
                "vocab_file": os.path.abspath(run.settings.vocab_file),
                "version_2_with_negative": o.version_2_with_negative}

    def _convert(self, run, examples, is_training):
        o = self.options
        return squad.convert_examples_to_features(examples, run.tokenizer, self.max_seq_length,
                                                  o.doc_stride, o.max_query_length, is_training)

    def records(self, run, split, examples):
        """(feature records, number of examples); the training features are reused while the
        settings and the train file are unchanged (with --use_tfrecord also without
        --train_file, from --input_files_dir)."""
        return self._training_records(run) if split == "train" else self._predict_records(run, examples)

    def _training_records(self, run):
        o = self.options
        folder = o.input_files_dir if o.use_tfrecord and o.input_files_dir else None
        name = squad.cache_name("train", self.max_seq_length, o.doc_stride, o.max_query_length)
        settings = self._settings(run)
        if not o.train_file:  # --use_tfrecord without --train_file: only a reusable cache will do
            path = run.cache_path(name, folder)
            if feature_cache.reusable(path, settings) is None:
                raise UserError(f"--do_train needs --train_file (no reusable features in "
                                f"{os.path.dirname(path)} for these settings)")
        examples = []

        def serialized():
            examples.extend(squad.read_squad_examples(o.train_file, True, o.version_2_with_negative))
            random.Random(12345).shuffle(examples)  # Google's order of training examples
            features = self._convert(run, examples, is_training=True)
            logging.info("%d training examples, %d features", len(examples), len(features))
            return squad.serialized_features(features, True)

        path, info = run.cached_records(name, settings, serialized, source=o.train_file, folder=folder,
                                        metadata=lambda: {"num_examples": len(examples)})
        return path, info["num_examples"]

    def _predict_records(self, run, examples):
        features = self._convert(run, examples, is_training=False)
        self._features["predict"] = features
        logging.info("%d questions, %d features to predict", len(examples), len(features))
        path, _ = run.cached_records("eval", self._settings(run),
                                     lambda: squad.serialized_features(features, False),
                                     source=self.options.predict_file)
        return path, len(examples)

    def parse(self, serialized, is_training=True):
        return records.parse_squad(serialized, self.max_seq_length, is_training)

    def sequence_fields(self, is_training=True):
        return records.sequence_fields(records.squad_fields(is_training))

    # ------------------------------------------------------------------ model
    def create_model(self, params=None):
        from bert_tf.heads import BertSpanModel
        return BertSpanModel(self.bert_config).build_for()

    def model_fn(self, model, features, mode, params):
        import tensorflow as tf

        from bert_tf.heads import classification_loss
        out = model(features, training=mode == TRAIN)
        start = tf.cast(out["start_logits"], tf.float32)
        end = tf.cast(out["end_logits"], tf.float32)
        spec = EstimatorSpec(predictions={"unique_ids": features["unique_ids"],
                                          "start_logits": start, "end_logits": end})
        if mode == TRAIN:
            spec.loss = (classification_loss(start, features["start_positions"])
                         + classification_loss(end, features["end_positions"])) / 2.0
        return spec

    @staticmethod
    def serving_outputs(model, features):
        out = model(features, training=False)
        return {"start_logits": out["start_logits"], "end_logits": out["end_logits"]}

    # ------------------------------------------------------------------ results
    def finish(self, run, split, examples, predictions, global_step):
        """predictions.json, nbest_predictions.json (null_odds.json); scored when the predict
        file has answers: eval_results.json, and the scores printed as a JSON line."""
        o = self.options
        results = real_token_logits(predictions, self._features[split])
        out = {name: run.output_path(name)
               for name in ("predictions.json", "nbest_predictions.json", "null_odds.json")}
        squad.write_predictions(examples, self._features[split], results, o.n_best_size,
                                o.max_answer_length, run.settings.do_lower_case, out["predictions.json"],
                                out["nbest_predictions.json"], out["null_odds.json"],
                                o.version_2_with_negative, o.null_score_diff_threshold, o.verbose_logging)
        if squad_json.has_answers(squad_json.read_json(o.predict_file, "--predict_file")):
            scores = self.score(out["predictions.json"], out["null_odds.json"])
            run.write_json("eval_results.json", scores, step=global_step)
            print(json.dumps(scores))

    def score(self, predictions_file, null_odds_file):
        """EM/F1 of predictions.json: ours (the official scripts' arithmetic) or --eval_script."""
        o = self.options
        na_probs = null_odds_file if o.version_2_with_negative else None
        if not o.eval_script:
            from bert_tf.metrics.squad import evaluate
            return dict(evaluate(o.predict_file, predictions_file, na_probs))
        cmd = [sys.executable, o.eval_script, o.predict_file, predictions_file]
        if na_probs:
            cmd += ["--na-prob-file", na_probs]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode:
            raise UserError(f"--eval_script={o.eval_script} failed: {result.stderr.strip()[-500:]}")
        try:
            return json.loads(result.stdout)
        except ValueError:
            raise UserError(f"--eval_script={o.eval_script} did not print a JSON object: "
                            f"{result.stdout.strip()[-500:]!r}") from None


def _check_eval_script(path):
    """--eval_script must be Python (checked before training, not after it)."""
    try:
        with open(path, "rb") as f:
            compile(f.read(), path, "exec")
    except (SyntaxError, ValueError) as e:  # ValueError: NUL bytes (a binary file)
        where = f" (line {e.lineno}: {e.msg})" if isinstance(e, SyntaxError) and e.lineno else ""
        raise UserError(f"--eval_script={path} is not a Python evaluation script{where}; give the "
                        "official evaluate-v1.1.py or evaluate-v2.0.py, or omit the flag to score "
                        "with ours") from None


def real_token_logits(predictions, features):
    """Predictions -> `squad.RawResult`s whose logits cover the feature's real tokens only.

    Google's n-best search ranks every position, padding included, so a padding position
    among the top `n_best_size` logits took a slot and left the list shorter; padding is
    never an answer. Cut to the real tokens, the search sees the same logits however far a
    batch was padded (to --max_seq_length, or only to its length bucket), so bucketed and
    padded runs give the same predictions."""
    tokens = {feature.unique_id: len(feature.tokens) for feature in features}
    results = []
    for p in predictions:
        unique_id = int(p["unique_ids"])
        n = tokens.get(unique_id, len(p["start_logits"]))
        results.append(squad.RawResult(unique_id, p["start_logits"][:n], p["end_logits"][:n]))
    return results
