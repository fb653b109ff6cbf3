"""The training checkpoints of a model_dir: what a run resumes from, and what it writes.

A checkpoint holds the model (Google-named variables), the optimizer slots, the global step,
the loss-scale state, the dropout generators and the input position (one worker; with
several, each worker keeps its own under `input_state/rank_N`, saved first). Around that:

- on start, leftovers of a killed save (TensorFlow's `model.ckpt-N_temp/` folders, our stale
  `*.tmp<PID>` files) are removed, and the run resumes from the newest checkpoint that reads
  whole: a damaged one (a truncated data file, an index without its data, a `checkpoint` file
  naming a missing step) is skipped with a warning naming it;
- `run_settings.json` records what a resume depends on (the global batch, the sequence shape,
  the model config, the optimizer, the replicas, the input files, the schedule): a change
  that cannot be honoured is refused by name; a new input or schedule is taken deliberately,
  logged, and recorded (see `RunRecord`);
- a save that fails (a full disk) removes its partial files and names the intact checkpoint.
"""

import glob
import json
import os
import shutil

import tensorflow as tf
from absl import logging

from bert_tf import atomic
from bert_tf.errors import UserError

RECORD_NAME = "run_settings.json"
# What restoring a damaged checkpoint raises: an OpError (a corrupted data file, an index
# without its data, a `checkpoint` file naming a step that is gone) or the reader's IndexError
# "Read less bytes than requested" (a truncated data file). A checkpoint of another model
# raises ValueError (shapes) or AssertionError (variables) instead.
DAMAGE = (tf.errors.OpError, IndexError)
# Settings a resumed run cannot change: shapes of the saved state, or what a step means.
FIXED = ("train_batch_size", "max_seq_length", "max_predictions_per_seq", "num_accumulation_steps",
         "optimizer_type", "num_replicas", "bert_config", "bucket_by_length", "bucket_boundaries")


class CheckpointSaveError(UserError):
    """A checkpoint could not be written (a full disk); the last complete one is intact."""


class TrainingCheckpoints:
    def __init__(self, estimator, iterator):
        self.estimator = estimator
        cfg, strategy = estimator.config, estimator.strategy
        self.model_dir = cfg.model_dir
        self.is_chief = strategy.is_chief
        self.input_state = _InputState(cfg, strategy, iterator)
        state = {"optimizer": estimator._optimizer, "loss_scale": estimator.loss_scale,
                 "good_steps": estimator.good_steps}
        self.without_input = estimator._checkpoint(**state)
        if self.input_state.manager is None:
            state["iterator"] = iterator  # one worker: the input position is in the checkpoint
        self.checkpoint = estimator._checkpoint(**state)
        self.manager = tf.train.CheckpointManager(self.checkpoint, cfg.model_dir,
                                                  max_to_keep=cfg.keep_checkpoint_max,
                                                  checkpoint_name="model.ckpt")
        self.record = RunRecord(cfg.model_dir, cfg.run_settings)

    @property
    def latest(self):
        return self.manager.latest_checkpoint

    # ------------------------------------------------------------------ start
    def resume(self):
        """Restore the newest checkpoint that reads whole; its path, or None when there is none."""
        if self.is_chief:
            remove_leftovers(self.model_dir)
        candidates = self._listed()
        for path in candidates:
            try:
                self._restore(path)
                return path
            except DAMAGE as e:
                message = (getattr(e, "message", None) or str(e)).splitlines()[0][:200]
                logging.warning("skipping the damaged checkpoint %s (%s); trying an older one", path, message)
        if candidates:
            raise UserError(f"{self.model_dir}: no checkpoint in it reads whole ({', '.join(candidates)}); "
                            "start a new --output_dir (with --init_checkpoint= one of them if you want "
                            "its weights)")
        return None

    def _listed(self):
        """Every checkpoint the `checkpoint` file names (the manager drops those whose files
        are gone, silently), newest first."""
        state = tf.train.get_checkpoint_state(self.model_dir)
        named = list(state.all_model_checkpoint_paths) + [state.model_checkpoint_path] if state else []
        paths = {os.path.join(self.model_dir, os.path.basename(p)) for p in named}
        paths |= set(self.manager.checkpoints)
        return sorted(paths, key=lambda p: int(p.rsplit("-", 1)[1]) if p.rsplit("-", 1)[-1].isdigit() else -1,
                      reverse=True)

    def _restore(self, path):
        """Everything of the checkpoint at `path` (a damaged file raises an OpError); new input
        files (a deliberate change, see RunRecord) start from their beginning instead."""
        honoured = self.record.check()  # first: a changed --optimizer_type is named as such
        require_current_layout(path, self.estimator.rng_states, self.estimator._optimizer.checkpoint_marker)
        reader = self.without_input if "input_files" in honoured else self.checkpoint
        try:
            reader.restore(path).assert_existing_objects_matched()
        except (AssertionError, ValueError) as e:
            self._not_this_model(path, e)
        if "input_files" not in honoured:
            self.input_state.restore(self.estimator.step)

    @staticmethod
    def _not_this_model(path, error):
        message = (getattr(error, "message", None) or str(error)).splitlines()[0][:200]
        raise UserError(f"{path}: its variables are not this model's ({message}); check "
                        "--bert_config_file and the task, or use a new --output_dir") from error

    def rollback(self):
        """Back to the newest checkpoint's weights, optimizer and step, keeping the input where
        it is (past the batches read since): --nan_policy=rollback. Its path."""
        path = self.latest
        self.without_input.read(path).assert_existing_objects_matched()
        return path

    # ------------------------------------------------------------------ save
    def save(self, step):
        self.input_state.save(step)
        self.estimator.strategy.barrier()  # every worker's input position is on disk first
        if not self.is_chief:
            return
        last = self.latest
        try:
            self.manager.save(checkpoint_number=step)
        except (tf.errors.ResourceExhaustedError, tf.errors.OpError, OSError) as e:
            remove_leftovers(self.model_dir, stale_after=0)
            message = getattr(e, "message", None) or str(e)
            raise CheckpointSaveError(
                f"{self.model_dir}/model.ckpt-{step}: the checkpoint could not be written "
                f"({message.splitlines()[0][:200]}); its partial files were removed. The last complete "
                f"checkpoint is {last or 'none'}: free some space, then rerun the same command to "
                "resume from it") from e
        self.record.save()


def remove_leftovers(model_dir, stale_after=atomic.STALE_AFTER_SECONDS):
    """TensorFlow's `model.ckpt-N_temp/` folders (a save cut short) and our stale temporary
    files: what a killed save leaves, and what would keep a full disk full."""
    for folder in glob.glob(os.path.join(model_dir, "*_temp")):
        if os.path.isdir(folder):
            logging.info("removing %s (left by an interrupted checkpoint save)", folder)
            shutil.rmtree(folder, ignore_errors=True)
    atomic.remove_stale_temporaries(model_dir, min_age_seconds=stale_after)


def require_current_layout(path, rng_names, optimizer_marker="optimizer/packed_m/"):
    """Refuse to resume a checkpoint of an earlier layout: one Adam slot pair per variable
    (before the packed optimizer), dropout generators numbered rather than named (before
    `rng_states()`), or the state of another optimizer kind (`optimizer_marker`: a variable
    only this kind's checkpoints hold; AdamW/LAMB against THOR). TensorFlow would restore the
    first silently with the moments at zero and fail on the others with an assertion, so the
    resumed run would not be the interrupted one."""
    names = [name for name, _ in tf.train.list_variables(path)]
    packed = any(name.startswith(optimizer_marker) for name in names)
    rng_named = not rng_names or any(name.startswith("rng/bert.S") for name in names)
    if not (packed and rng_named):
        raise UserError(f"{path}: written by an earlier bert_tf or another --optimizer_type, whose "
                        "checkpoint layout (optimizer state, dropout generators) this run cannot resume "
                        "exactly. Finish that run with the version and optimizer that started it, or "
                        f"start a new --output_dir with --init_checkpoint={path} (weights only; the "
                        "optimizer starts afresh)")


class RunRecord:
    """`model_dir/run_settings.json`: the settings the checkpoints in model_dir were made with.

    On resume, a setting of `FIXED` that differs is refused with a line naming the flag and
    the way on; another one that differs (new input files, a later --num_train_steps, another
    learning rate) is taken deliberately and logged, and recorded at the next save so that
    resume stays exact from then on. New input files start from their beginning (the saved
    input position belongs to the old ones)."""

    def __init__(self, model_dir, settings):
        self.path = os.path.join(model_dir, RECORD_NAME)
        self.settings = json.loads(json.dumps(settings or {}, sort_keys=True))

    def check(self):
        """The names of the settings that changed and are honoured (refuses the others)."""
        try:
            with open(self.path, encoding="utf-8") as f:
                saved = json.load(f)
        except FileNotFoundError:
            return set()
        except (OSError, ValueError) as e:
            raise UserError(f"{self.path}: unreadable ({e}); it records the settings of the run "
                            "that wrote the checkpoints: restore it, or start a new --output_dir") from e
        changed = {k for k in set(saved) | set(self.settings)
                   if k in saved and k in self.settings and saved[k] != self.settings[k]}
        for name in sorted(changed & set(FIXED)):
            flag = "--bert_config_file" if name == "bert_config" else (
                "the number of workers/devices" if name == "num_replicas" else f"--{name}")
            raise UserError(
                f"{flag} differs from the run that wrote the checkpoints in {os.path.dirname(self.path)} "
                f"({_show(self.settings[name])} now, {_show(saved[name])} then; see {self.path}): a "
                "resumed run cannot change it. Use a new --output_dir, or start fresh from those "
                f"weights with --init_checkpoint={os.path.dirname(self.path)} in a new --output_dir")
        for name in sorted(changed):
            logging.warning("%s changed since the checkpoint (%s -> %s): %s", name, _show(saved[name]),
                            _show(self.settings[name]), "the new input starts from its beginning"
                            if name == "input_files" else "taken from now on")
        return changed

    def save(self):
        atomic.write_json(self.path, self.settings, indent=2, sort_keys=True)


def _show(value):
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 120 else text[:117] + "..."


class _InputState:
    """Each worker's input position when there are several: the chief's checkpoint cannot
    hold the others' iterators, so each worker keeps its own under
    `model_dir/input_state/rank_N`, saved before the chief's checkpoint of the same step."""

    def __init__(self, config, strategy, iterator):
        self.manager = None
        if strategy.num_workers > 1:
            self.rank = strategy.rank
            self.directory = os.path.join(config.model_dir, "input_state", f"rank_{strategy.rank}")
            self.manager = tf.train.CheckpointManager(
                tf.train.Checkpoint(iterator=iterator), self.directory,
                max_to_keep=config.keep_checkpoint_max + 1, checkpoint_name="input")

    def save(self, step):
        if self.manager is not None:
            self.manager.save(checkpoint_number=step)

    def restore(self, step):
        if self.manager is None:
            return
        path = os.path.join(self.directory, f"input-{step}")
        if not tf.io.gfile.exists(path + ".index"):
            raise UserError(f"resuming at global step {step}: worker {self.rank} has no saved input "
                            f"position ({path}); resume with the same number of workers as the run "
                            "that wrote the checkpoint")
        self.manager.checkpoint.read(path).assert_existing_objects_matched()
