"""What the host does between loops: the log line, log.jsonl, TensorBoard summaries,
throughput, and the non-finite guard. Only the chief writes."""

import json
import math
import os
import time

from absl import logging

from bert_tf import atomic
from bert_tf.errors import UserError


class NonFiniteLossError(UserError):
    """Training produced non-finite losses; the last good checkpoint is kept."""


class LoopLogger:
    """One line per loop in the form users of Google's/NVIDIA's scripts know, plus JSON lines."""

    def __init__(self, model_dir, is_chief, global_batch_size, save_summary_steps):
        self.is_chief = is_chief
        self.global_batch_size = global_batch_size
        self.save_summary_steps = save_summary_steps
        self.path = os.path.join(model_dir, "log.jsonl")
        self._writer = None
        self._last_summary = -1
        self._model_dir = model_dir
        self._start = None

    def start(self, step):
        self._start = (time.time(), step)

    def log(self, step, logs):
        now = time.time()
        seconds, first = now - self._start[0], self._start[1]
        steps = max(step - first, 0)
        record = {"global_step": int(step), **{k: float(v) for k, v in logs.items()}}
        if seconds > 0 and steps > 0:
            record["global_step/sec"] = steps / seconds
            record["sentences/sec"] = steps * self.global_batch_size / seconds
        self._start = (now, step)
        if not self.is_chief:
            return record
        logging.info(", ".join(f"{k} = {_fmt(v)}" for k, v in record.items()))
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if step // self.save_summary_steps != self._last_summary // self.save_summary_steps:
            self._summaries(step, record)
            self._last_summary = step
        return record

    def _summaries(self, step, record):
        import tensorflow as tf
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self._model_dir)
        # tf.summary.scalar lives in the tensorboard package; the core op with the scalars
        # plugin's metadata writes the same event without that dependency.
        metadata = tf.compat.v1.SummaryMetadata(
            plugin_data=tf.compat.v1.SummaryMetadata.PluginData(plugin_name="scalars"))
        with self._writer.as_default(step=step):
            for key, value in record.items():
                if key != "global_step":
                    tf.summary.write(key, tf.constant(value, tf.float32), metadata=metadata.SerializeToString())
        self._writer.flush()


def _fmt(value):
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def check_finite(logs, streak, limit, step, last_checkpoint):
    """Raise when `limit` consecutive steps had non-finite fp32 losses."""
    if streak >= limit:
        raise NonFiniteLossError(
            f"the loss was not finite for {streak} consecutive steps (at global step {step}); "
            f"stopped without saving. The last good checkpoint is {last_checkpoint or 'none'}. "
            "Lower --learning_rate, check the data, or use --amp for loss scaling.")
    return all(math.isfinite(float(v)) for v in logs.values())


def write_eval_results(results, path):
    """Google's eval_results.txt: `key = value` lines, sorted; logged too."""
    lines = [f"{key} = {value}" for key, value in sorted(results.items())]
    logging.info("***** Eval results *****\n  %s", "\n  ".join(lines))
    atomic.write_text(path, "\n".join(lines) + "\n")
