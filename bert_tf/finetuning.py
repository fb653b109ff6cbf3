"""What the fine-tuning scripts (run_classifier.py, run_ner.py, run_squad.py) share: the
model config and tokenizer from flags, the schedule from epochs, cached feature records,
the Estimator, timed prediction, and the SavedModel export.

A script reads its data, converts it with its task's `bert_tf.data` module, and hands
records and a task to a `FineTuning`; nothing here knows about a particular task.
"""

import hashlib
import json
import os
import time

from absl import logging

from bert_tf import atomic
from bert_tf.config import BertConfig
from bert_tf.errors import UserError
from bert_tf.flags import (FLAGS, per_worker_batch_size, run_config_from_flags, strategy_from_flags,
                           train_params_from_flags)


def check_actions(*names):
    if not any(getattr(FLAGS, name) for name in names):
        raise UserError("nothing to do: pass at least one of " + ", ".join(f"--{n}" for n in names))


class FineTuning:
    """The flags of one fine-tuning run turned into its config, tokenizer and strategy."""

    def __init__(self):
        for name in ("vocab_file", "bert_config_file", "output_dir"):
            if not getattr(FLAGS, name):
                raise UserError(f"--{name} is required")
        if FLAGS["shard_by_record"].present:
            raise UserError("--shard_by_record: fine-tuning workers always share the feature file by "
                            "record; drop the flag")
        self.config = BertConfig.from_json_file(FLAGS.bert_config_file)
        self.config.check_seq_length(FLAGS.max_seq_length)
        from bert_tf.tokenization import FullTokenizer
        self.tokenizer = FullTokenizer(FLAGS.vocab_file, do_lower_case=FLAGS.do_lower_case)
        self.strategy = strategy_from_flags()
        os.makedirs(FLAGS.output_dir, exist_ok=True)

    # ------------------------------------------------------------------ schedule, estimator
    def schedule(self, num_examples):
        """(num_train_steps, num_warmup_steps) from --num_train_epochs and --warmup_proportion."""
        steps = FLAGS.num_train_steps or int(num_examples / FLAGS.train_batch_size * FLAGS.num_train_epochs)
        if steps < 1:
            raise UserError(f"{num_examples} training examples x --num_train_epochs="
                            f"{FLAGS.num_train_epochs} make less than one batch of "
                            f"--train_batch_size={FLAGS.train_batch_size}")
        if FLAGS["num_warmup_steps"].present:  # an explicit count wins over the proportion
            return steps, FLAGS.num_warmup_steps
        return steps, int(steps * FLAGS.warmup_proportion)

    def estimator(self, task, num_train_steps=None, num_warmup_steps=0):
        from bert_tf.estimator import Estimator
        params = {"global_batch_size": FLAGS.train_batch_size, "init_checkpoint": FLAGS.init_checkpoint}
        if num_train_steps:
            params["train"] = train_params_from_flags(num_train_steps, num_warmup_steps,
                                                      FLAGS.train_batch_size, self.strategy.num_replicas)
        return Estimator(task, run_config_from_flags(), params, self.strategy)

    # ------------------------------------------------------------------ records
    def cached_records(self, split, source, write, **settings):
        """Feature records for `split` of `source` in output_dir, converted once per settings.

        The name carries a hash of the source file (path, size, mtime), the vocab, casing,
        sequence length and `settings`, so a rerun with the same inputs skips conversion and
        a changed one converts again. Only the chief writes; the others wait for it.
        `write(path)` converts and writes (atomically) and returns the record count.
        """
        stat = os.stat(source)
        key = json.dumps([os.path.abspath(source), stat.st_size, stat.st_mtime_ns,
                          os.path.abspath(FLAGS.vocab_file), FLAGS.do_lower_case,
                          FLAGS.max_seq_length, settings], sort_keys=True)
        path = os.path.join(FLAGS.output_dir, f"{split}-{hashlib.sha1(key.encode()).hexdigest()[:10]}.tfrecord")
        if self.strategy.is_chief and not os.path.exists(path):
            count = write(path)
            logging.info("wrote %d %s features to %s", count, split, path)
        self.strategy.barrier()
        return path

    def input_fn(self, files, parse, batch_size, is_training):
        from bert_tf import input_pipeline  # TensorFlow: only once the inputs have been checked
        return input_pipeline.feature_input_fn(files, parse, batch_size, is_training, seed=FLAGS.seed)

    def train(self, estimator, files, parse, num_train_steps):
        batch = per_worker_batch_size(FLAGS.train_batch_size, self.strategy)
        estimator.train(self.input_fn(files, parse, batch, is_training=True), num_train_steps)

    def predict(self, estimator, files, parse, batch_size=None):
        """All predictions (a list), with the inference throughput logged."""
        start = time.time()
        results = list(estimator.predict(self.input_fn(files, parse, batch_size or FLAGS.predict_batch_size,
                                                       is_training=False)))
        seconds = time.time() - start
        if results:
            logging.info("inference: %d sequences in %.1f s (%.2f sentences/sec)", len(results), seconds,
                         len(results) / max(seconds, 1e-9))
        return results

    # ------------------------------------------------------------------ export
    def export(self, estimator):
        """--export_dir: the trained model as a SavedModel (chief only)."""
        if FLAGS.export_dir and self.strategy.is_chief:
            from bert_tf.export import export_saved_model
            export_saved_model(estimator.model, FLAGS.export_dir, FLAGS.vocab_file,
                               FLAGS.do_lower_case, FLAGS.max_seq_length)
            logging.info("exported a SavedModel to %s", FLAGS.export_dir)

    def write_json(self, name, value):
        """A results file in output_dir (chief only, atomically)."""
        if not self.strategy.is_chief:
            return
        atomic.write_json(os.path.join(FLAGS.output_dir, name), value, indent=2)
