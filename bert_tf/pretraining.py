"""The pretraining procedure of run_pretraining.py: train on the records, then evaluate.

`pretrain(settings)` checks the input files' schema against the settings before anything is
built, trains to `--num_train_steps` (or pauses at `--stop_at_step`) resuming from the latest
checkpoint in `--output_dir` (where it also keeps `bert_config.json`, for the converter),
optionally writes the final weights in Google's release layout (`--export_tf1_dir`), and
evaluates masked-LM and next-sentence accuracy into eval_results.txt; with
`--eval_all_checkpoints`, every kept checkpoint's masked-LM accuracy into
eval_all_checkpoints.txt as well. The task (`bert_tf.tasks.pretraining`) owns the records
and the model; this module only orders the steps.
"""

import os

from absl import logging

from bert_tf import atomic, files
from bert_tf.errors import UserError
from bert_tf.records import CorruptedInputError
from bert_tf.run import Run
from bert_tf.settings import PretrainingSettings
from bert_tf.tasks.pretraining import PretrainingTask


def pretrain(settings: PretrainingSettings):
    s = settings
    _check_requests(s)
    run = Run(s)
    task = PretrainingTask(run.bert_config(s.max_seq_length), s.max_seq_length,
                           s.max_predictions_per_seq, s.use_v2_feature_names)
    train_files = _train_files(run, task) if s.input_file or s.input_files_dir else None
    if run.strategy.is_chief:  # beside the checkpoints, so convert_checkpoint.py finds it
        os.makedirs(s.output_dir, exist_ok=True)
        task.bert_config.to_json_file(os.path.join(s.output_dir, "bert_config.json"))
    num_train_steps = s.num_train_steps if s.do_train else None
    settings = run.run_settings(task.bert_config, s.num_train_steps, train_files or [],
                                max_seq_length=s.max_seq_length, max_predictions_per_seq=s.max_predictions_per_seq)
    estimator = run.estimator(task, num_train_steps, s.num_warmup_steps, settings)
    if s.do_train:
        train(run, task, estimator, train_files)
    if s.do_eval:
        evaluate(run, task, estimator, train_files)


def _check_requests(s):
    """Flags that ask for something the run would not do: refused before anything is built."""
    if not s.do_train and not s.do_eval:
        raise UserError("nothing to do: pass --do_train and/or --do_eval")
    if s.bucket_by_length and not s.do_eval:
        raise UserError("--bucket_by_length: run_pretraining.py batches its evaluation by length "
                        "only (pretraining records are packed to --max_seq_length); it does "
                        "nothing without --do_eval, so drop it")
    if s.eval_all_checkpoints and not s.do_eval:
        raise UserError("--eval_all_checkpoints evaluates: pass --do_eval with it")
    if s.export_tf1_dir and not s.do_train:
        raise UserError("--export_tf1_dir writes the weights a training run ends with: it needs --do_train")
    if s.vocab_file and not s.export_tf1_dir:
        raise UserError("--vocab_file is copied beside --export_tf1_dir's weights: give --export_tf1_dir "
                        "too, or drop --vocab_file")


def _train_files(run, task):
    """--input_file / --input_files_dir expanded (a killed writer's leftovers removed first),
    their schema checked against the settings."""
    s = run.settings
    if s.input_files_dir and run.strategy.is_chief:
        for path in atomic.remove_stale_temporaries(s.input_files_dir):
            logging.info("removed %s (an unfinished file of a killed writer)", path)
    train_files = files.expand(s.input_file, s.input_files_dir)
    logging.info("training on %d file(s): %s", len(train_files), _listed(train_files))
    task.check_files(train_files)
    return train_files


def train(run, task, estimator, train_files):
    """To --num_train_steps (or --stop_at_step); then --export_tf1_dir, when asked."""
    s = run.settings
    if not train_files:
        raise UserError("--do_train needs --input_file or --input_files_dir")
    try:
        estimator.train(task.input_fn(train_files, run.worker_batch_size(), is_training=True, seed=s.seed,
                                      shard_by_record=s.shard_by_record),
                        min(s.stop_at_step or s.num_train_steps, s.num_train_steps))
    except CorruptedInputError as e:
        from bert_tf import input_pipeline
        raise CorruptedInputError(input_pipeline.locate_corruption(train_files) or str(e)) from e
    if s.export_tf1_dir and run.strategy.is_chief:
        from bert_tf.checkpoints import export_google_layout
        prefix = export_google_layout(estimator.named_variables, s.export_tf1_dir, task.bert_config,
                                      s.vocab_file)
        logging.info("wrote the final weights in Google's layout: %s", prefix)


def evaluate(run, task, estimator, train_files):
    """Masked-LM and next-sentence accuracy and loss over `--max_eval_steps` batches."""
    s = run.settings
    eval_files = (files.expand(s.eval_file, s.eval_files_dir, "--eval_files_dir")
                  if s.eval_file or s.eval_files_dir else train_files)
    if not eval_files:
        raise UserError("--do_eval needs --eval_files_dir, --eval_file or training input")
    task.check_files(eval_files)
    input_fn = task.input_fn(eval_files, s.eval_batch_size, is_training=False,
                             buckets=run.buckets(task, is_training=False), max_batches=s.max_eval_steps)
    if s.eval_all_checkpoints:
        results = evaluate_all_checkpoints(run, estimator, input_fn)
    else:
        results = estimator.evaluate(input_fn)
    if run.strategy.is_chief:
        from bert_tf.estimator import hooks
        hooks.write_eval_results(results, os.path.join(s.output_dir, "eval_results.txt"))
    return results


def evaluate_all_checkpoints(run, estimator, input_fn):
    """MindSpore's pretrain_eval habit: the masked-LM accuracy of every checkpoint kept in
    `--output_dir`, oldest first, one `step: N accuracy: x` line each in
    eval_all_checkpoints.txt (rewritten whole after each checkpoint, so it is never half a
    line). Returns the last checkpoint's results."""
    import tensorflow as tf
    s = run.settings
    state = tf.train.get_checkpoint_state(s.output_dir)
    paths = list(state.all_model_checkpoint_paths) if state else []
    if not paths:
        raise UserError(f"--eval_all_checkpoints: no checkpoint in {s.output_dir}")
    lines, results = [], None
    for path in sorted(paths, key=lambda p: int(p.rsplit("-", 1)[1])):
        results = estimator.evaluate(input_fn, checkpoint_path=path)
        lines.append(f"step: {results['global_step']} accuracy: {results['masked_lm_accuracy']:.8f}")
        logging.info(lines[-1])
        if run.strategy.is_chief:
            atomic.write_text(os.path.join(s.output_dir, "eval_all_checkpoints.txt"), "\n".join(lines) + "\n")
    return results


def _listed(paths, shown=8):
    names = ", ".join(paths[:shown])
    return names + (f" and {len(paths) - shown} more" if len(paths) > shown else "")
