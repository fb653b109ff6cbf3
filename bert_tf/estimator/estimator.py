"""The Estimator: train / evaluate / predict for every task, with one training loop.

A task supplies `create_model(params)` (a Keras model with `tf1_weights()` and
`rng_states()`) and
`model_fn(model, features, mode, params) -> EstimatorSpec`. TF1's Estimator rebuilt the
graph for each call; a Keras model lives on, so the model is created once and passed in.

One training loop is `iterations_per_loop` optimizer steps inside one `tf.function`. On one
replica without accumulation the steps run inside the compiled step function itself,
STEPS_PER_LAUNCH at a time on stacked batches (as TPUs and Ascend NPUs sink the loop onto
the device): one XLA launch per chunk instead of per step. Otherwise each step computes
gradients (XLA-compiled with `use_xla`), reduces them through the strategy outside XLA
(Horovod's allreduce has no XLA kernel), then clips and applies them. Between loops the
host logs, writes summaries, saves checkpoints and checks for non-finite losses. Loops end
at every `save_checkpoints_steps` boundary and exactly at `max_steps`.

A checkpoint holds the model, the optimizer slots, the global step, the loss-scale state,
the dropout generators and the input iterator's position, so a run killed at any moment and
restarted ends with exactly the weights of an uninterrupted run.
"""

import dataclasses
import os

import keras
import tensorflow as tf
from absl import logging

from bert_tf import capture, checkpoints, optimization
from bert_tf.distribute.local import LocalStrategy
from bert_tf.distribute.strategy import DeviceStrategy
from bert_tf.errors import UserError
from bert_tf.estimator import hooks
from bert_tf.estimator.run_config import RunConfig
from bert_tf.estimator.spec import EVAL, PREDICT, TRAIN
from bert_tf.records import RecordSchemaError

# Steps per compiled launch when the steps run inside it: launching the compiled step from
# the loop cost 0.4-0.75 ms per step on the 2-core CPU (bench/bench_loop_parts.py), a third
# to half of a micro model's step; ten steps per launch leave a tenth of that, and the
# stacked batches of a launch stay small.
STEPS_PER_LAUNCH = 10


@dataclasses.dataclass
class TrainParams:
    """The training settings a task's params carry for the runner, final: the device's wishes
    (`DeviceStrategy.configure_training`) are applied before they get here (`bert_tf.run`)."""

    optimizer: optimization.OptimizerConfig
    num_accumulation_steps: int = 1
    loss_scale: float = 0.0  # fp16 only: 0 dynamic, >= 1 static, -1 none
    init_loss_scale: float = 2.0 ** 15
    loss_scale_growth_steps: int = 2000


class Estimator:
    def __init__(self, task, config: RunConfig, params, strategy: DeviceStrategy = None):
        self.task = task
        self.config = config
        self.params = params
        self.strategy = strategy or LocalStrategy("cpu")
        keras.utils.set_random_seed(config.seed)
        keras.mixed_precision.set_dtype_policy(self.strategy.dtype_policy())
        try:
            with self.strategy.device_scope():
                self.model = task.create_model(params)
        finally:
            keras.mixed_precision.set_dtype_policy("float32")
        self.named_variables = self.model.tf1_weights()
        self.rng_states = self.model.rng_states()
        self.global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        self._optimizer = None
        self._initialized = False

    # ------------------------------------------------------------------ state
    @property
    def train_params(self) -> TrainParams:
        return self.params["train"]

    def _checkpoint(self, **extra):
        return tf.train.Checkpoint(variables=dict(self.named_variables), rng=dict(self.rng_states),
                                   global_step=self.global_step, **extra)

    def latest_checkpoint(self):
        return tf.train.latest_checkpoint(self.config.model_dir)

    def _restore_model_only(self, path=None):
        """For evaluate/predict: `path` when given (always read), else the latest checkpoint
        in model_dir, or init_checkpoint, unless the model already holds trained weights."""
        if self._initialized and path is None:
            return
        path = path or self.latest_checkpoint()
        if path:
            self._checkpoint().read(path).expect_partial()
            logging.info("restored %s (global step %d)", path, int(self.global_step))
        elif self.config.init_checkpoint:
            self._init_from(self.config.init_checkpoint)
        else:
            raise UserError(f"no checkpoint in {self.config.model_dir} and no --init_checkpoint: "
                            "nothing to evaluate or predict with")
        self._initialized = True

    def _init_from(self, path):
        """--init_checkpoint: Google's TF1 layout, or one of ours (object-based)."""
        logging.info(checkpoints.init_from_checkpoint(self.model, path).summary())

    # ------------------------------------------------------------------ training
    def _grad_fn(self):
        """Loss, logs and packed gradients of one (micro-)batch. With a `capture.Probe` (only
        an optimizer's `gradient_fn` passes one) the layers also report their inputs and the
        same tape takes the gradients at their outputs; without one the graph is unchanged."""
        params, variables = self.params, list(self.named_variables.values())
        pack = self._optimizer.pack

        def grads(features, loss_scale, probe=None):
            with tf.GradientTape() as tape, capture.recording(probe):
                spec = self.task.model_fn(self.model, features, TRAIN, params)
                loss = tf.cast(spec.loss, tf.float32)
                scaled = loss * loss_scale
            g = tape.gradient(scaled, variables + capture.outputs(probe))
            capture.take_output_gradients(probe, g[len(variables):], loss_scale)
            g = [tf.convert_to_tensor(x) if x is not None else tf.zeros_like(v)
                 for x, v in zip(g, variables)]
            return loss, dict(spec.logs, total_loss=loss), [x / loss_scale for x in pack(g)]

        grads = self._optimizer.gradient_fn(grads, self.global_step)
        return tf.function(grads, jit_compile=self.strategy.jit_compile)

    def _build_training(self):
        tp = self.train_params
        self._optimizer = optimization.create_optimizer(self.named_variables, tp.optimizer)
        fp16 = self.strategy.precision == "fp16" and tp.loss_scale != -1
        initial = (tp.init_loss_scale if tp.loss_scale == 0 else tp.loss_scale) if fp16 else 1.0
        self.loss_scale = tf.Variable(float(initial), trainable=False, name="loss_scale")
        self.good_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="good_steps")
        self.nonfinite_streak = tf.Variable(0, dtype=tf.int64, trainable=False, name="nonfinite")
        self._dynamic_scale = fp16 and tp.loss_scale == 0
        self._grads = self._grad_fn()
        apply_or_skip = self._apply_fn()
        jit = self.strategy.jit_compile
        self._apply = tf.function(apply_or_skip, jit_compile=jit)
        grads_fn = self._grads.python_function

        def fused(features, loss_scale):
            _, logs, grads = grads_fn(features, loss_scale)
            self._optimizer.prepare_step(self.strategy, self.global_step)
            return apply_or_skip(grads, logs)

        self._fused_step = tf.function(fused, jit_compile=jit)
        self._launch = tf.function(self._launch_fn(), jit_compile=jit)
        self._loop = self._train_loop_fn()  # one trace for every train() call
        if tp.num_accumulation_steps > 1:
            self._accumulators = [tf.Variable(tf.zeros(shape), trainable=False)
                                  for shape in self._optimizer.gradient_shapes]

    def _step(self, iterator):
        """One optimizer step (k micro-batches when accumulating); returns its logs.

        On one replica without accumulation the whole step is one compiled function (one
        XLA cluster with `use_xla`); otherwise gradients, their reduction through the
        strategy (outside XLA: Horovod's allreduce has no XLA kernel) and the update are
        three pieces.
        """
        k = self.train_params.num_accumulation_steps
        if k == 1 and self.strategy.num_replicas == 1:
            return self._fused_step(next(iterator), self.loss_scale)
        loss, logs, grads = self._grads(next(iterator), self.loss_scale)
        if k > 1:
            for acc, g in zip(self._accumulators, grads):
                acc.assign(g)
            for _ in tf.range(k - 1):
                _, more_logs, more = self._grads(next(iterator), self.loss_scale)
                for acc, g in zip(self._accumulators, more):
                    acc.assign_add(g)
                logs = {key: logs[key] + more_logs[key] for key in logs}
            grads = [acc / float(k) for acc in self._accumulators]
            logs = {key: value / float(k) for key, value in logs.items()}
        grads = self.strategy.reduce_gradients(grads)
        self._optimizer.prepare_step(self.strategy, self.global_step)
        return self._apply(grads, logs)

    def _apply_fn(self):
        """Non-finite check, clipping, schedule, update (or skip) and loss-scale bookkeeping."""
        tp = self.train_params

        def apply_or_skip(grads, logs):
            finite = self._optimizer.all_finite(grads)
            grads, _ = optimization.clip_by_global_norm(grads, tp.optimizer.clip_norm)
            lr = optimization.learning_rate(self.global_step, tp.optimizer)

            def apply():
                self._optimizer.apply(grads, lr, self.global_step)
                self.global_step.assign_add(1)
                self.nonfinite_streak.assign(0)
                if self._dynamic_scale:
                    self.good_steps.assign_add(1)
                    grow = self.good_steps >= tp.loss_scale_growth_steps
                    self.loss_scale.assign(tf.where(grow, self.loss_scale * 2.0, self.loss_scale))
                    self.good_steps.assign(tf.where(grow, tf.constant(0, tf.int64), self.good_steps))
                return tf.constant(True)

            def skip():
                if self._dynamic_scale:  # overflow: skip the step, halve the scale
                    self.loss_scale.assign(tf.maximum(self.loss_scale / 2.0, 1.0))
                    self.good_steps.assign(0)
                else:
                    self.nonfinite_streak.assign_add(1)
                return tf.constant(False)

            tf.cond(finite, apply, skip)
            return dict(logs, learning_rate=lr, loss_scale=tf.identity(self.loss_scale))

        return apply_or_skip

    def _steps_sink(self, element_spec):
        """Whether the steps of a loop run inside the compiled step function: one replica
        (Horovod's allreduce cannot be compiled), no accumulation, fixed-shape batches."""
        return (self.train_params.num_accumulation_steps == 1 and self.strategy.num_replicas == 1
                and all(spec.shape.is_fully_defined() for spec in tf.nest.flatten(element_spec)))

    def _launch_fn(self):
        """`count` fused steps on `batches[:count]` (batches stacked on a new first axis) in
        one compiled call; stops early once `max_nonfinite_steps` steps in a row were not
        finite. `logs`: returned as they are when no step runs."""
        limit = self.config.max_nonfinite_steps

        def launch(batches, count, logs):
            def more(i, logs):
                return tf.logical_and(i < count, self.nonfinite_streak < limit)

            def body(i, logs):
                batch = tf.nest.map_structure(lambda stacked: stacked[i], batches)
                return i + 1, self._fused_step(batch, self.loss_scale)

            return tf.while_loop(more, body, (tf.zeros_like(count), logs))[1]
        return launch

    def _train_loop_fn(self):
        limit = self.config.max_nonfinite_steps

        def loop(iterator, num_steps):
            if self._steps_sink(iterator.element_spec):
                return self._sunk_loop(iterator, num_steps)
            # The non-finite check sits in the while condition: an autograph `break` in the
            # body cost ~15% of the steps/s on a micro model (interleaved A/B, one process).
            logs = self._step(iterator)

            def more(i, logs):
                return tf.logical_and(i < num_steps, self.nonfinite_streak < limit)

            def body(i, logs):
                return i + 1, self._step(iterator)

            _, logs = tf.while_loop(more, body, (tf.constant(1, tf.int64), logs))
            return logs
        return self.strategy.compile_loop(loop)

    def _zero_logs(self, element_spec):
        """Zeros shaped as a step's logs (a launch's loop carry before its first step)."""
        outputs = self._fused_step.get_concrete_function(element_spec, self.loss_scale).structured_outputs
        return tf.nest.map_structure(lambda t: tf.zeros(t.shape, t.dtype), outputs)

    def _sunk_loop(self, iterator, num_steps):
        """The loop in launches of up to STEPS_PER_LAUNCH steps: the host side reads each
        chunk's batches, the compiled side runs its steps. Every chunk has one shape (the
        unused rows are zeros), so one compiled program serves every loop length."""
        limit = self.config.max_nonfinite_steps
        logs = self._zero_logs(iterator.element_spec)

        def more(done, logs):
            return tf.logical_and(done < num_steps, self.nonfinite_streak < limit)

        def body(done, logs):
            count = tf.minimum(num_steps - done, STEPS_PER_LAUNCH)
            batches = _next_batches(iterator, count, STEPS_PER_LAUNCH)
            return done + count, self._launch(batches, count, logs)

        return tf.while_loop(more, body, (tf.zeros_like(num_steps), logs))[1]

    def train(self, input_fn, max_steps):
        """Train to global step `max_steps`, resuming from the latest checkpoint in model_dir."""
        cfg = self.config
        os.makedirs(cfg.model_dir, exist_ok=True)
        if self._optimizer is None:
            self._build_training()
        with self.strategy.device_scope():
            dataset = input_fn(self.params, self.strategy.input_context())
            iterator = iter(dataset)
        state = {"optimizer": self._optimizer, "loss_scale": self.loss_scale, "good_steps": self.good_steps}
        input_state = _InputState(cfg, self.strategy, iterator)
        if input_state.manager is None:
            state["iterator"] = iterator  # one worker: the input position is in the checkpoint
        ckpt = self._checkpoint(**state)
        manager = tf.train.CheckpointManager(ckpt, cfg.model_dir, max_to_keep=cfg.keep_checkpoint_max,
                                             checkpoint_name="model.ckpt")
        if manager.latest_checkpoint:
            _require_current_layout(manager.latest_checkpoint, self.rng_states, self._optimizer)
            ckpt.restore(manager.latest_checkpoint).assert_existing_objects_matched()
            input_state.restore(int(self.global_step))
            logging.info("resumed from %s at global step %d", manager.latest_checkpoint,
                         int(self.global_step))
        elif cfg.init_checkpoint:
            self._init_from(cfg.init_checkpoint)
        self.strategy.broadcast(list(self.named_variables.values()) + self._optimizer.slots())
        self._initialized = True
        loop = self._loop
        batch = self.params.get("global_batch_size", 0)
        logger = hooks.LoopLogger(cfg.model_dir, self.strategy.is_chief, batch, cfg.save_summary_steps)
        step = int(self.global_step)
        logger.start(step)
        last_logged = step
        while step < max_steps:
            to_save = cfg.save_checkpoints_steps - step % cfg.save_checkpoints_steps
            n = min(cfg.iterations_per_loop, max_steps - step, to_save)
            try:
                logs = loop(iterator, tf.constant(n, tf.int64))
            except tf.errors.DataLossError as e:
                raise RecordSchemaError(f"corrupted input record: {e.message.splitlines()[0]}; "
                                        "re-create the data files") from e
            except tf.errors.OutOfRangeError as e:
                raise UserError("the training input ran out before max_steps; repeat the "
                                "dataset or lower --num_train_steps") from e
            logs = self.strategy.reduce_metrics({k: v.numpy() for k, v in logs.items()})
            step = int(self.global_step)
            hooks.check_finite(logs, int(self.nonfinite_streak), cfg.max_nonfinite_steps, step,
                               manager.latest_checkpoint)
            if step - last_logged >= cfg.log_every_n_steps or step >= max_steps:
                logger.log(step, logs)
                last_logged = step
            if step % cfg.save_checkpoints_steps == 0 or step >= max_steps:
                input_state.save(step)
                self.strategy.barrier()  # every worker's input position is on disk first
                if self.strategy.is_chief:
                    manager.save(checkpoint_number=step)
        return step

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, input_fn, steps=None, checkpoint_path=None):
        """Metrics summed over `steps` batches (or the whole input) -> {name: total / count}."""
        self._restore_model_only(checkpoint_path)
        params = self.params

        @tf.function(jit_compile=self.strategy.jit_compile)
        def eval_step(features):
            spec = self.task.model_fn(self.model, features, EVAL, params)
            return {k: (tf.cast(t, tf.float64), tf.cast(c, tf.float64)) for k, (t, c) in spec.metrics.items()}

        sums = {}
        if steps is not None:  # `steps` batches in all, shared by the workers
            steps = -(-steps // self.strategy.num_replicas)
        with self.strategy.device_scope():
            dataset = input_fn(params, self.strategy.input_context())
            for i, features in enumerate(dataset):
                if steps is not None and i >= steps:
                    break
                for key, (total, count) in eval_step(features).items():
                    t, c = sums.get(key, (0.0, 0.0))
                    sums[key] = (t + float(total), c + float(count))
        sums = self.strategy.reduce_metrics(sums)
        results = {k: (t / c if c else float("nan")) for k, (t, c) in sums.items()}
        results["global_step"] = int(self.global_step)
        return results

    def predict(self, input_fn, checkpoint_path=None):
        """Yield one {name: numpy value} per example."""
        self._restore_model_only(checkpoint_path)
        params = self.params

        @tf.function(jit_compile=self.strategy.jit_compile)
        def predict_step(features):
            return self.task.model_fn(self.model, features, PREDICT, params).predictions

        with self.strategy.device_scope():  # every worker predicts everything; the chief writes
            for features in input_fn(params, self.strategy.input_context(sharded=False)):
                out = {k: v.numpy() for k, v in predict_step(features).items()}
                for i in range(len(next(iter(out.values())))):
                    yield {k: v[i] for k, v in out.items()}


def _next_batches(iterator, count, size):
    """`count` (<= size) batches from `iterator`, each component stacked on a new first axis
    of `size` rows, the rows past `count` zeros: the iterator advances by exactly `count`."""
    arrays = tf.nest.map_structure(
        lambda spec: tf.TensorArray(spec.dtype, size=size, element_shape=spec.shape), iterator.element_spec)

    def fill(i, arrays):
        return i + 1, tf.nest.map_structure(lambda array, t: array.write(i, t), arrays, iterator.get_next())

    count = tf.cast(count, tf.int32)  # a TensorArray's index type
    _, arrays = tf.while_loop(lambda i, _: i < count, fill, (tf.constant(0), arrays))
    return tf.nest.map_structure(lambda array: array.stack(), arrays)


def _require_current_layout(path, rng_names, optimizer):
    """Refuse to resume a checkpoint of an earlier layout: one Adam slot pair per variable
    (before the packed optimizer) or dropout generators numbered rather than named (before
    `rng_states()`), or the state of another optimizer kind (AdamW/LAMB against THOR: each
    kind names a variable only its checkpoints hold). TensorFlow would restore the first
    silently with the moments at zero and fail on the others with an assertion, so the
    resumed run would not be the interrupted one."""
    names = [name for name, _ in tf.train.list_variables(path)]
    packed = any(name.startswith(optimizer.checkpoint_marker) for name in names)
    rng_named = not rng_names or any(name.startswith("rng/bert.S") for name in names)
    if not (packed and rng_named):
        raise UserError(f"{path}: written by an earlier bert_tf or another --optimizer_type, whose "
                        "checkpoint layout (optimizer state, dropout generators) this run cannot resume "
                        "exactly. Finish that run with the version and optimizer that started it, or "
                        f"start a new --output_dir with --init_checkpoint={path} (weights only; the "
                        "optimizer starts afresh)")


class _InputState:
    """Each worker's input position when there are several: the chief's checkpoint cannot
    hold the others' iterators, so each worker keeps its own under
    `model_dir/input_state/rank_N`, saved before the chief's checkpoint of the same step."""

    def __init__(self, config, strategy, iterator):
        self.manager = None
        if strategy.num_replicas > 1:
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
