"""What the host does between loops: the log line, log.jsonl, TensorBoard summaries (and
NVIDIA's DLLogger JSON lines with --dllog_path), throughput, the non-finite guard; and the
evaluation results, as Google's eval_results.txt and as summaries in `model_dir/eval`, where
TensorBoard shows them beside training (TF1 Estimator's layout). Only the chief writes."""

import datetime
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

    def __init__(self, model_dir, is_chief, global_batch_size, save_summary_steps, dllog_path=None):
        self.is_chief = is_chief
        self.global_batch_size = global_batch_size
        self.save_summary_steps = save_summary_steps
        self.path = os.path.join(model_dir, "log.jsonl")
        self.dllog_path = dllog_path
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
        if self.dllog_path:
            write_dllog(self.dllog_path, [step], {k: v for k, v in record.items() if k != "global_step"})
        if step // self.save_summary_steps != self._last_summary // self.save_summary_steps:
            if self._writer is None:
                self._writer = summary_writer(self._model_dir)
            write_summaries(self._writer, step, record)
            self._last_summary = step
        return record


def summary_writer(folder):
    import tensorflow as tf
    return tf.summary.create_file_writer(folder)


def write_summaries(writer, step, values):
    """Scalars at `step` (global_step and non-numbers left out). tf.summary.scalar lives in
    the tensorboard package; the core op with the scalars plugin's metadata writes the same
    event without that dependency."""
    import tensorflow as tf
    metadata = tf.compat.v1.SummaryMetadata(
        plugin_data=tf.compat.v1.SummaryMetadata.PluginData(plugin_name="scalars")).SerializeToString()
    with writer.as_default(step=step):
        for key, value in values.items():
            if key != "global_step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                tf.summary.write(key, tf.constant(value, tf.float32), metadata=metadata)
    writer.flush()


def write_dllog(path, step, data):
    """One line of NVIDIA's DLLogger JSON stream ("DLLL {...}", type LOG), appended."""
    now = datetime.datetime.now()
    line = {"timestamp": str(now.timestamp()), "datetime": str(now), "elapsedtime": str(time.process_time()),
            "type": "LOG", "step": step, "data": data}
    with open(path, "a", encoding="utf-8") as f:
        f.write("DLLL " + json.dumps(line) + "\n")


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


def write_eval_results(results, path, step=None):
    """Google's eval_results.txt (`key = value` lines, sorted; logged too), and the numbers
    as TensorBoard summaries in `eval/` beside it, at `step` (default results["global_step"])."""
    lines = [f"{key} = {value}" for key, value in sorted(results.items())]
    logging.info("***** Eval results *****\n  %s", "\n  ".join(lines))
    atomic.write_text(path, "\n".join(lines) + "\n")
    write_eval_summaries(results, os.path.dirname(os.path.abspath(path)), step)


def write_eval_summaries(results, model_dir, step=None):
    """Evaluation results as summaries in `model_dir/eval` (where TF1's Estimator put them)."""
    step = results.get("global_step", 0) if step is None else step
    writer = summary_writer(os.path.join(model_dir, "eval"))
    write_summaries(writer, int(step), results)
    writer.close()
