"""The fine-tuning procedure run_squad.py, run_classifier.py and run_ner.py share.

`FineTuning(settings).fine_tune(task)`: read and check every requested split, convert it
to feature records (cached), train, export, then predict each evaluation split and let the
task turn the predictions into its results. Nothing here knows a particular task: the task
(`bert_tf.tasks`) reads its data, converts it, parses its records, builds its model and
evaluates; this module only orders the steps, so every fine-tuning script behaves the same.

Every requested split is read and converted before the model is built, so bad input in any
split stops the run before training, not after it; TensorFlow is imported only then.
"""

import os
import time

from absl import logging

from bert_tf import atomic, bucketing, feature_cache
from bert_tf.errors import UserError
from bert_tf.run import Run
from bert_tf.settings import FineTuningSettings


class FineTuning(Run):
    """A fine-tuning run: the model config, the tokenizer, the strategy, the procedure."""

    def __init__(self, settings: FineTuningSettings):
        super().__init__(settings)
        self.config = self.bert_config(settings.max_seq_length)
        from bert_tf.tokenization import FullTokenizer
        self.tokenizer = FullTokenizer(settings.vocab_file, do_lower_case=settings.do_lower_case)
        largest = max(self.tokenizer.vocab.values())
        if largest >= self.config.vocab_size:
            raise UserError(f"--vocab_file={settings.vocab_file} has ids up to {largest}, but the model's "
                            f"vocab_size is {self.config.vocab_size} ({settings.bert_config_file}): is it "
                            "the model's vocab?")
        os.makedirs(settings.output_dir, exist_ok=True)

    def fine_tune(self, task):
        """Train, evaluate and predict `task` as the settings ask."""
        s = self.settings
        requested = [split for action, split in task.splits.items() if getattr(s, action)]
        if not requested:
            raise UserError("nothing to do: pass at least one of "
                            + ", ".join(f"--{action}" for action in task.splits))
        data = {split: task.read(self, split) for split in requested}
        task.prepare(self, data)
        steps = warmup = None
        records = {}
        for split in requested:
            records[split], num_examples = task.records(self, split, data[split])
            if split == "train":
                steps, warmup = self.schedule(num_examples)
        bucketed = s.bucketed(is_training=True)  # batch composition: fixed for a resume
        settings = self.run_settings(self.config, steps, [records["train"]] if "train" in records else [],
                                     max_seq_length=s.max_seq_length, bucket_by_length=bucketed,
                                     bucket_boundaries=list(s.bucket_boundaries) if bucketed else [])
        estimator = self.estimator(task, steps, warmup, settings)
        for split in requested:
            if split == "train":
                self.train(estimator, task, records[split], steps)
                self.export(estimator)
                continue
            predictions = self.predict(estimator, task, records[split], self.batch_size(split))
            if self.strategy.is_chief:
                task.finish(self, split, data[split], predictions, estimator.step)

    # ------------------------------------------------------------------ schedule, batches
    def schedule(self, num_examples):
        """(num_train_steps, num_warmup_steps) from --num_train_epochs and --warmup_proportion."""
        s = self.settings
        steps = s.num_train_steps or int(num_examples / s.train_batch_size * s.num_train_epochs)
        if steps < 1:
            raise UserError(f"{num_examples} training examples x --num_train_epochs="
                            f"{s.num_train_epochs} make less than one batch of "
                            f"--train_batch_size={s.train_batch_size}")
        if s.num_warmup_steps is not None:  # an explicit count wins over the proportion
            return steps, s.num_warmup_steps
        return steps, int(steps * s.warmup_proportion)

    def batch_size(self, split):
        """The batch of an inference split: the dev set's evaluation batch, else prediction's."""
        return self.settings.eval_batch_size if split == "dev" else self.settings.predict_batch_size

    # ------------------------------------------------------------------ records
    def cache_path(self, name, folder=None):
        return os.path.join(folder or self.settings.output_dir, f"{name}.tf_record")

    def cached_records(self, name, settings, serialized, source=None, folder=None, metadata=None,
                       keyed=False):
        """(path, sidecar) of the feature records `name` in `folder` (default output_dir),
        converted by `serialized()` (an iterable of serialized examples) unless an entry made
        with the same settings from the same source is there (see `bert_tf.feature_cache`;
        `metadata` as `feature_cache.write` takes it). `keyed`: the file name also carries a
        hash of the settings, so entries of other settings are kept beside it. Only the chief
        decides and writes; the others always wait for it at the barrier (a worker that saw a
        finished file and went on would leave the chief alone there) and read the sidecar.
        Records made of nothing are not kept: an error."""
        path = self.cache_path(f"{name}-{feature_cache.settings_key(settings)}" if keyed else name, folder)
        source_key = feature_cache.source_of(source) if source is not None else None
        if self.strategy.is_chief:  # every worker meets the barrier: none may decide alone
            info = feature_cache.reusable(path, settings, source_key)
            if info is not None:
                logging.info("reusing %d %s features in %s", info["num_features"], name, path)
            else:
                self._convert(path, serialized, metadata, settings, source_key, name)
        self.strategy.barrier()
        info = feature_cache.read_metadata(path)
        if info is None:
            raise UserError(f"{source or name}: no usable examples in it (nothing to convert into "
                            f"{name} features); check the file")
        return path, info

    @staticmethod
    def _convert(path, serialized, metadata, settings, source_key, name):
        meta = metadata if callable(metadata) else dict(metadata or {})
        info = feature_cache.write(path, serialized(), lambda: dict(
            meta() if callable(meta) else meta, settings=settings, source=source_key))
        if not info["num_features"]:
            feature_cache.remove(path)
        else:
            logging.info("wrote %d %s features to %s", info["num_features"], name, path)

    # ------------------------------------------------------------------ train, predict, export
    def input_fn(self, files, task, batch_size, is_training):
        from bert_tf import input_pipeline  # TensorFlow: only once the inputs have been checked
        return input_pipeline.input_fn(files, lambda raw: task.parse(raw, is_training), batch_size,
                                       is_training, seed=self.settings.seed, shard_by_record=True,
                                       buckets=self.buckets(task, is_training),
                                       whole_batches=not is_training)

    def train(self, estimator, task, files, num_train_steps):
        from bert_tf import input_pipeline
        from bert_tf.records import CorruptedInputError
        try:
            estimator.train(self.input_fn(files, task, self.worker_batch_size(), is_training=True),
                            num_train_steps)
        except CorruptedInputError as e:
            located = input_pipeline.locate_corruption([files] if isinstance(files, str) else files)
            raise CorruptedInputError(f"{located or e} (a feature file of ours: delete it and rerun to "
                                      "convert again)") from e

    def predict(self, estimator, task, files, batch_size):
        """All predictions (a list, in input order), with the inference throughput logged."""
        start = time.time()
        results = bucketing.in_input_order(
            estimator.predict(self.input_fn(files, task, batch_size, is_training=False)))
        seconds = time.time() - start
        if results:
            logging.info("inference: %d sequences in %.1f s (%.2f sentences/sec)", len(results),
                         seconds, len(results) / max(seconds, 1e-9))
        return results

    def export(self, estimator):
        """--export_dir: the trained model as a SavedModel (chief only)."""
        s = self.settings
        if s.export_dir and self.strategy.is_chief:
            from bert_tf.export import export_saved_model
            export_saved_model(estimator.task, estimator.model, s.export_dir, s.vocab_file, s.do_lower_case,
                               s.max_seq_length)
            logging.info("exported a SavedModel to %s", s.export_dir)

    # ------------------------------------------------------------------ results
    def output_path(self, name):
        return os.path.join(self.settings.output_dir, name)

    def write_eval_results(self, results, name="eval_results.txt"):
        """Google's eval_results.txt in output_dir (the chief calls it)."""
        from bert_tf.estimator import hooks
        hooks.write_eval_results(results, self.output_path(name))

    def write_json(self, name, value, step=None):
        """A results file in output_dir, atomically (the chief calls it); with `step`, its
        numbers also as evaluation summaries (`output_dir/eval`, for TensorBoard)."""
        atomic.write_json(self.output_path(name), value, indent=2)
        if step is not None:
            from bert_tf.estimator import hooks
            hooks.write_eval_summaries(value, self.settings.output_dir, step)
