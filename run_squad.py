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

import json
import os
import random
import subprocess
import sys

import bert_tf  # noqa: F401  (first: environment for TensorFlow)
from absl import flags, logging

from bert_tf import cli, records
from bert_tf.data import squad
from bert_tf.errors import UserError
from bert_tf.finetuning import FineTuning, check_actions
from bert_tf.flags import FLAGS, define_finetuning_flags

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
                  "(in --input_files_dir, else --output_dir) and reuse them on later runs.")
flags.DEFINE_string("input_files_dir", None, "With --use_tfrecord: where the feature records live.")
flags.DEFINE_bool("verbose_logging", False, "Log the answer-text alignment failures.")


def feature_settings():
    return {"max_seq_length": FLAGS.max_seq_length, "doc_stride": FLAGS.doc_stride,
            "max_query_length": FLAGS.max_query_length, "do_lower_case": FLAGS.do_lower_case,
            "vocab_file": os.path.abspath(FLAGS.vocab_file),
            "version_2_with_negative": FLAGS.version_2_with_negative}


def _source(path):
    stat = os.stat(path)
    return {"file": os.path.abspath(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def training_records(run):
    """(path, number of training examples): converted now, or reused with --use_tfrecord."""
    folder = (FLAGS.input_files_dir if FLAGS.use_tfrecord and FLAGS.input_files_dir else FLAGS.output_dir)
    path = squad.features_cache_path(folder, "train", FLAGS.max_seq_length, FLAGS.doc_stride,
                                     FLAGS.max_query_length)
    wanted = dict(feature_settings(), **(_source(FLAGS.train_file) if FLAGS.train_file else {}))
    info = squad.read_features_metadata(path) if FLAGS.use_tfrecord else None
    reusable = info is not None and all(info.get(k) == v for k, v in wanted.items())
    if reusable:
        logging.info("reusing %d training features in %s", info["num_features"], path)
        return path, info["num_examples"]
    if not FLAGS.train_file:
        raise UserError("--do_train needs --train_file" + (
            f" (no reusable features in {folder} for these settings)" if FLAGS.use_tfrecord else ""))
    examples = squad.read_squad_examples(FLAGS.train_file, True, FLAGS.version_2_with_negative)
    random.Random(12345).shuffle(examples)  # Google's order of training examples
    if run.strategy.is_chief:
        features = squad.convert_examples_to_features(
            examples, run.tokenizer, FLAGS.max_seq_length, FLAGS.doc_stride, FLAGS.max_query_length,
            is_training=True)
        squad.write_features(features, path, True, dict(wanted, num_examples=len(examples)))
        logging.info("%d training examples, %d features -> %s", len(examples), len(features), path)
    run.strategy.barrier()
    return path, len(examples)


def predict(run, estimator, examples):
    """predictions.json, nbest_predictions.json (null_odds.json) in output_dir."""
    features = squad.convert_examples_to_features(
        examples, run.tokenizer, FLAGS.max_seq_length, FLAGS.doc_stride, FLAGS.max_query_length,
        is_training=False)
    path = os.path.join(FLAGS.output_dir, "eval.tf_record")
    if run.strategy.is_chief:
        squad.write_features(features, path, False, dict(feature_settings(), **_source(FLAGS.predict_file)))
    run.strategy.barrier()
    logging.info("%d questions, %d features to predict", len(examples), len(features))
    parse = lambda raw: records.parse_squad(raw, FLAGS.max_seq_length, False)  # noqa: E731
    results = [squad.RawResult(int(p["unique_ids"]), p["start_logits"], p["end_logits"])
               for p in run.predict(estimator, path, parse)]
    if not run.strategy.is_chief:
        return None
    out = {name: os.path.join(FLAGS.output_dir, name)
           for name in ("predictions.json", "nbest_predictions.json", "null_odds.json")}
    squad.write_predictions(examples, features, results, FLAGS.n_best_size, FLAGS.max_answer_length,
                            FLAGS.do_lower_case, out["predictions.json"], out["nbest_predictions.json"],
                            out["null_odds.json"], FLAGS.version_2_with_negative,
                            FLAGS.null_score_diff_threshold, FLAGS.verbose_logging)
    return out


def has_answers(path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    return any(qa.get("answers") or qa.get("is_impossible")
               for article in data.get("data", []) for p in article.get("paragraphs", [])
               for qa in p.get("qas", []))


def score(out):
    """EM/F1 of predictions.json: ours (the official scripts' arithmetic) or --eval_script."""
    na_probs = out["null_odds.json"] if FLAGS.version_2_with_negative else None
    if FLAGS.eval_script:
        try:
            with open(FLAGS.eval_script, "rb") as f:
                compile(f.read(), FLAGS.eval_script, "exec")
        except (SyntaxError, ValueError) as e:  # ValueError: NUL bytes (a binary file)
            where = f" (line {e.lineno}: {e.msg})" if isinstance(e, SyntaxError) and e.lineno else ""
            raise UserError(f"--eval_script={FLAGS.eval_script} is not a Python evaluation "
                            f"script{where}; give the official evaluate-v1.1.py or "
                            "evaluate-v2.0.py, or omit the flag to score with ours") from None
        cmd = [sys.executable, FLAGS.eval_script, FLAGS.predict_file, out["predictions.json"]]
        if na_probs:
            cmd += ["--na-prob-file", na_probs]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode:
            raise UserError(f"--eval_script={FLAGS.eval_script} failed: {result.stderr.strip()[-500:]}")
        try:
            return json.loads(result.stdout)
        except ValueError:
            raise UserError(f"--eval_script={FLAGS.eval_script} did not print a JSON object: "
                            f"{result.stdout.strip()[-500:]!r}") from None
    from bert_tf.metrics.squad import evaluate
    return dict(evaluate(FLAGS.predict_file, out["predictions.json"], na_probs))


def main(_):
    check_actions("do_train", "do_predict")
    for name, instead in (("do_eval", "--do_predict with a --predict_file that has answers"),
                          ("eval_batch_size", "--predict_batch_size")):
        if FLAGS[name].present:
            raise UserError(f"run_squad.py has no --{name}: use {instead}")
    if FLAGS.do_predict and not FLAGS.predict_file:
        raise UserError("--do_predict needs --predict_file")
    squad.check_feature_settings(FLAGS.max_seq_length, FLAGS.doc_stride, FLAGS.max_query_length)
    if FLAGS.do_train and not FLAGS.use_tfrecord and not FLAGS.train_file:
        raise UserError("--do_train needs --train_file")
    for name in ("train_file", "eval_script"):
        if getattr(FLAGS, name) and not os.path.isfile(getattr(FLAGS, name)):
            raise UserError(f"--{name}={getattr(FLAGS, name)}: no such file")
    # The predict file is read (and checked) before any training, not after it.
    predict_examples = (squad.read_squad_examples(FLAGS.predict_file, False, FLAGS.version_2_with_negative)
                        if FLAGS.do_predict else None)
    run = FineTuning()
    from bert_tf.tasks.squad import SquadTask
    steps = warmup = None
    if FLAGS.do_train:
        train_file, num_examples = training_records(run)
        steps, warmup = run.schedule(num_examples)
    estimator = run.estimator(SquadTask(run.config), steps, warmup)
    if FLAGS.do_train:
        run.train(estimator, train_file, lambda raw: records.parse_squad(raw, FLAGS.max_seq_length, True), steps)
        run.export(estimator)
    if FLAGS.do_predict:
        out = predict(run, estimator, predict_examples)
        if out and has_answers(FLAGS.predict_file):
            results = score(out)
            run.write_json("eval_results.json", results)
            print(json.dumps(results))


if __name__ == "__main__":
    cli.run_main(main)
