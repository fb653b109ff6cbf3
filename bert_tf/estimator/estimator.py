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
from bert_tf.bucketing import EXAMPLE_INDEX
from bert_tf.distribute import gradients
from bert_tf.distribute.local import LocalStrategy
from bert_tf.distribute.strategy import DeviceStrategy
from bert_tf.errors import UserError
from bert_tf.estimator import hooks, preemption
from bert_tf.estimator.checkpointing import TrainingCheckpoints
from bert_tf.estimator.run_config import RunConfig
from bert_tf.estimator.spec import EVAL, PREDICT, TRAIN
from bert_tf.records import CorruptedInputError

# Steps per compiled launch when the steps run inside it: launching the compiled step from
# the loop cost 0.4-0.75 ms per step on the 2-core CPU (bench/bench_loop_parts.py), a third
# to half of a micro model's step; ten steps per launch leave a tenth of that, and the
# stacked batches of a launch stay small.
STEPS_PER_LAUNCH = 10
MAX_ROLLBACKS = 3  # --nan_policy=rollback: in a row, with no checkpoint saved in between


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
        self.strategy = strategy or LocalStrategy()
        keras.utils.set_random_seed(config.seed)
        keras.mixed_precision.set_dtype_policy(self.strategy.dtype_policy())
        try:
            with self.strategy.scope():
                self.model = task.create_model(params)
                self.global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        finally:
            keras.mixed_precision.set_dtype_policy("float32")
        self.named_variables = self.model.tf1_weights()
        self.rng_states = self.model.rng_states()
        self._optimizer = None
        self._initialized = False

    # ------------------------------------------------------------------ state
    @property
    def train_params(self) -> TrainParams:
        return self.params["train"]

    @property
    def step(self):
        """The global step as a Python int (also of a mirrored variable)."""
        return int(self.global_step.numpy())

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
            checkpoints.require_same_variables(self.model, path)
            self._checkpoint().read(path).expect_partial()
            logging.info("restored %s (global step %d)", path, self.step)
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
        """(loss, logs, packed gradients) of one replica's batch, divided by the loss scale.

        With accumulation the batch holds k micro-batches (k consecutive batches of the
        input, in order): their gradients are summed in a loop inside the compiled function
        and divided by k, so the step sees one batch and the reduction runs once. Where the
        strategy's reduction sums, the division by its replica count joins that one
        (`gradient_divisor`). Without accumulation, across replicas, an embedding's gradient
        may leave as slices (`bert_tf.distribute.gradients`).

        With a `capture.Probe` (only an optimizer's `gradient_fn` passes one) the layers also
        report their inputs and the same tape takes the gradients at their outputs; without
        one the graph is unchanged."""
        params, variables = self.params, list(self.named_variables.values())
        pack = self._optimizer.pack
        k = self.train_params.num_accumulation_steps
        divisor = float(k * self.strategy.gradient_divisor)
        sparse = (k == 1 and self.strategy.num_replicas > 1
                  and self.strategy.reduces_sparse_gradients)
        replicas = self.strategy.num_replicas if sparse else 0

        scaling = self._loss_scaling  # without, the scale is 1: no pass over the gradients for it

        def micro_batch(features, loss_scale, probe=None):
            with tf.GradientTape() as tape, capture.recording(probe):
                spec = self.task.model_fn(self.model, features, TRAIN, params)
                loss = tf.cast(spec.loss, tf.float32)
                scaled = loss * loss_scale if scaling else loss
            g = tape.gradient(scaled, variables + capture.outputs(probe))
            capture.take_output_gradients(probe, g[len(variables):], loss_scale if scaling else 1.0)
            packed = pack([gradients.for_reduction(x, v, replicas) for x, v in zip(g, variables)])
            unscaled = [gradients.divided(x, loss_scale) for x in packed] if scaling else packed
            return loss, dict(spec.logs, total_loss=loss), unscaled

        micro_batch = self._optimizer.gradient_fn(micro_batch, self.global_step)

        def grads(features, loss_scale):
            if k == 1:
                loss, logs, g = micro_batch(features, loss_scale)
                return loss, logs, [gradients.divided(x, divisor) for x in g] if divisor > 1 else g
            parts = tf.nest.map_structure(
                lambda t: tf.reshape(t, tf.concat([[k, -1], tf.shape(t)[1:]], 0)), features)
            loss, logs, total = micro_batch(tf.nest.map_structure(lambda t: t[0], parts), loss_scale)

            def add(i, loss, logs, total):
                more_loss, more_logs, more = micro_batch(tf.nest.map_structure(lambda t: t[i], parts),
                                                         loss_scale)
                return (i + 1, loss + more_loss, {n: logs[n] + more_logs[n] for n in logs},
                        [a + b for a, b in zip(total, more)])

            _, loss, logs, total = tf.while_loop(lambda i, *_: i < k, add, (1, loss, logs, total))
            return (loss / float(k), {n: v / float(k) for n, v in logs.items()},
                    [g / divisor for g in total])

        return tf.function(grads, jit_compile=self.strategy.jit_compile)

    def _build_training(self):
        tp = self.train_params
        with self.strategy.scope():
            self._optimizer = optimization.create_optimizer(self.named_variables, tp.optimizer)
            fp16 = self.strategy.precision == "fp16" and tp.loss_scale != -1
            initial = (tp.init_loss_scale if tp.loss_scale == 0 else tp.loss_scale) if fp16 else 1.0
            self.loss_scale = tf.Variable(float(initial), trainable=False, name="loss_scale")
            self.good_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="good_steps")
            self.nonfinite_streak = tf.Variable(0, dtype=tf.int64, trainable=False, name="nonfinite")
        self._dynamic_scale = fp16 and tp.loss_scale == 0
        self._loss_scaling = fp16
        self._grads = self._grad_fn()
        apply_or_skip = self._apply_fn()
        jit = self.strategy.jit_compile
        # Where a step spans devices, the update runs once per device (in its update context):
        # a plain function, traced per device, not one compiled function shared by all.
        self._apply = (tf.function(apply_or_skip, jit_compile=jit) if self.strategy.compiles_whole_steps
                       else apply_or_skip)
        grads_fn = self._grads.python_function

        def fused(features, loss_scale):
            _, logs, grads = grads_fn(features, loss_scale)
            self._optimizer.prepare_step(self.strategy, self.global_step)
            return apply_or_skip(grads, logs)

        self._fused_step = tf.function(fused, jit_compile=jit)
        self._launch = tf.function(self._launch_fn(), jit_compile=jit)
        self._loop = self._train_loop_fn()  # one trace for every train() call

    def _replica_gradients(self, batch, loss_scale):
        """In each replica's context: its gradients and logs, averaged over the replicas."""
        _, logs, grads = self._grads(batch, loss_scale)
        return self.strategy.replica_mean(logs), self._reduce_gradients(grads)

    def _reduce_gradients(self, grads):
        """One replica's gradients -> the replicas' mean, dense (bench_scaling.py times it)."""
        return gradients.dense(self.strategy.reduce_gradients(grads), self._optimizer.gradient_shapes)

    def _step(self, iterator):
        """One optimizer step on one batch (k micro-batches when accumulating); its logs.

        On one replica without accumulation the whole step is one compiled function (one
        XLA cluster with `use_xla`); otherwise the strategy runs the gradients on each
        replica, reduces them there (outside XLA: Horovod's allreduce has no XLA kernel, nor
        do tf.distribute's collectives) and applies them to the variables.
        """
        if self._whole_steps():
            return self._fused_step(next(iterator), self.loss_scale)
        batch = self.strategy.distribute_batch(next(iterator))
        logs, grads = self.strategy.run(self._replica_gradients, (batch, self.loss_scale))
        self._optimizer.prepare_step(self.strategy, self.global_step)  # outside XLA: may reduce
        return self.strategy.update(self.global_step, self._apply, (grads, logs))

    def _whole_steps(self):
        return (self.train_params.num_accumulation_steps == 1 and self.strategy.num_replicas == 1
                and self.strategy.compiles_whole_steps)

    def _apply_fn(self):
        """Non-finite check, clipping, schedule, update (or skip) and loss-scale bookkeeping."""
        tp = self.train_params
        # compiled by XLA where it runs: inside the whole-step function or as `_apply`
        compiled = self.strategy.jit_compile and self.strategy.compiles_whole_steps

        def apply_or_skip(grads, logs):
            # A non-finite gradient makes the global norm non-finite: one pass over them for both
            grads, norm = optimization.clip_by_global_norm(grads, tp.optimizer.clip_norm, compiled)
            finite = tf.math.is_finite(norm)
            state_finite = self._optimizer.state_finite()
            if state_finite is not None:
                finite = tf.logical_and(finite, state_finite)
            lr = optimization.learning_rate(self.global_step, tp.optimizer)

            # The update is gated by `finite` inside (not in the cond), so that XLA updates the
            # Adam slots in place instead of copying them every step (docs/benchmarks.md). Its
            # ops carry one name scope, so that a profile can tell them apart (bench_step_profile.py).
            with tf.name_scope("optimizer_update"):
                self._optimizer.apply(grads, lr, self.global_step, finite)

            def apply():
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
        """Whether the steps of a loop run inside the compiled step function: whole steps
        (one replica, no accumulation) on fixed-shape batches."""
        return self._whole_steps() and all(spec.shape.is_fully_defined()
                                           for spec in tf.nest.flatten(element_spec))

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
        """Train to global step `max_steps`, resuming from the newest intact checkpoint in
        model_dir. SIGTERM/SIGINT end the current loop, save and stop (`preemption`)."""
        cfg = self.config
        os.makedirs(cfg.model_dir, exist_ok=True)
        if self._optimizer is None:
            self._build_training()
        with self.strategy.device_scope():
            iterator = iter(input_fn(self.params, self.strategy.input_context()))
        saved = TrainingCheckpoints(self, iterator)
        resumed = saved.resume()
        if resumed:
            logging.info("resumed from %s at global step %d", resumed, self.step)
        elif cfg.init_checkpoint:
            self._init_from(cfg.init_checkpoint)
        self.strategy.broadcast(list(self.named_variables.values()) + self._optimizer.slots())
        self._initialized = True
        with preemption.StopRequests() as stop:
            return self._train_loops(iterator, max_steps, saved, stop)

    def _train_loops(self, iterator, max_steps, saved, stop):
        cfg = self.config
        logger = hooks.LoopLogger(cfg.model_dir, self.strategy.is_chief, self.params.get("global_batch_size", 0),
                                  cfg.save_summary_steps or cfg.iterations_per_loop, cfg.dllog_path)
        step = last_logged = self.step
        logger.start(step)
        rollbacks = 0
        while step < max_steps:
            to_save = cfg.save_checkpoints_steps - step % cfg.save_checkpoints_steps
            logs = self._run_loop(iterator, min(cfg.iterations_per_loop, max_steps - step, to_save))
            step = self.step
            try:
                hooks.check_finite(logs, int(self.nonfinite_streak.numpy()), cfg.max_nonfinite_steps, step,
                                   saved.latest)
            except hooks.NonFiniteLossError:
                if cfg.nan_policy != "rollback" or not saved.latest or rollbacks >= MAX_ROLLBACKS:
                    raise
                rollbacks += 1
                step = last_logged = self._rollback(saved, step)
                continue
            if step - last_logged >= cfg.log_every_n_steps or step >= max_steps:
                logger.log(step, logs)
                last_logged = step
            stopping = self.strategy.any_worker(stop.requested)
            if step % cfg.save_checkpoints_steps == 0 or step >= max_steps or stopping:
                saved.save(step)
                rollbacks = 0
            if stopping:
                raise stop.stopped(step, saved.latest if saved.is_chief else None)  # others write none
        return step

    def _run_loop(self, iterator, num_steps):
        """One compiled loop of `num_steps` steps; its last logs, reduced over the workers."""
        try:
            logs = self._loop(iterator, tf.constant(num_steps, tf.int64))
        except tf.errors.DataLossError as e:
            raise CorruptedInputError(f"corrupted input record: {e.message.splitlines()[0]}; "
                                      "re-create the data files") from e
        except tf.errors.OutOfRangeError as e:
            raise UserError("the training input ran out before max_steps; repeat the "
                            "dataset or lower --num_train_steps") from e
        return self.strategy.reduce_metrics({k: v.numpy() for k, v in logs.items()})

    def _rollback(self, saved, step):
        """--nan_policy=rollback: the last checkpoint's weights and optimizer again, the input
        going on past the batches that gave non-finite losses; the step it went back to."""
        path = saved.rollback()
        self.nonfinite_streak.assign(0)
        logging.warning("non-finite loss for %d steps in a row at global step %d: rolled back to %s "
                        "(global step %d); the batches read since it are skipped", self.config.max_nonfinite_steps,
                        step, path, self.step)
        return self.step

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
            steps = -(-steps // self.strategy.num_workers)
        with self.strategy.scope():
            dataset = input_fn(params, self.strategy.input_context())
            for i, features in enumerate(dataset):
                if steps is not None and i >= steps:
                    break
                for key, (total, count) in eval_step(features).items():
                    t, c = sums.get(key, (0.0, 0.0))
                    sums[key] = (t + float(total), c + float(count))
        sums = self.strategy.reduce_metrics(sums)
        results = {k: (t / c if c else float("nan")) for k, (t, c) in sums.items()}
        results["global_step"] = self.step
        return results

    def predict(self, input_fn, checkpoint_path=None):
        """Yield one {name: numpy value} per example, in the input's batch order. Length-bucketed
        input carries each example's input position as EXAMPLE_INDEX, passed through so the
        caller can restore input order (`bucketing.in_input_order`)."""
        self._restore_model_only(checkpoint_path)
        params = self.params

        @tf.function(jit_compile=self.strategy.jit_compile)
        def predict_step(features):
            return self.task.model_fn(self.model, features, PREDICT, params).predictions

        with self.strategy.scope():  # every worker predicts everything; the chief writes
            for features in input_fn(params, self.strategy.input_context(sharded=False)):
                index = features.pop(EXAMPLE_INDEX, None)
                out = {k: v.numpy() for k, v in predict_step(features).items()}
                if index is not None:
                    out[EXAMPLE_INDEX] = index.numpy()
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
